/** The CLI's text table, at the size of a large mapped run. */
import { describe, expect, it } from "vitest";
import { table } from "../../src/cli/format.js";

describe("table()", () => {
  it("aligns columns to their widest cell", () => {
    expect(
      table(
        ["a", "bb"],
        [
          ["xyz", 1],
          [null, "long value"],
        ],
      ),
    ).toBe("a    bb\nxyz  1\n     long value\n");
  });

  it("prints 200,000 rows (a run mapped 200,000 ways) without overflowing the stack", () => {
    const rows = Array.from({ length: 200_000 }, (_, i) => ["t", i, "success"]);
    const text = table(["task_id", "map_index", "state"], rows);
    expect(text.split("\n")).toHaveLength(200_002);
    expect(text.split("\n")[200_000]).toBe("t        199999     success");
  });
});
