import { describe, expect, it } from "vitest";
import { limitHeapGrowth } from "../../src/cli/heap-growth.js";

// What the bound does to a runner's memory is measured by `npm run bench:runtime` (peak RSS at 100,000 tasks),
// not here: a garbage collector's timing is no test's to assert.
describe("limitHeapGrowth ([core] heap_growing_percent)", () => {
  it("leaves V8's own choice at 0 or a bad value, and a flag the process was started with", () => {
    expect(limitHeapGrowth(0)).toBe(false);
    expect(limitHeapGrowth(Number.NaN)).toBe(false);
    expect(limitHeapGrowth(50, { NODE_OPTIONS: "--max-old-space-size=900 --heap-growing-percent=20" })).toBe(
      false,
    );
    expect(limitHeapGrowth(50, { NODE_OPTIONS: "--heap_growing_percent=20" })).toBe(false);
  });

  it("sets the bound otherwise", () => {
    expect(limitHeapGrowth(50, {})).toBe(true);
  });
});
