import { describe, expect, it } from "vitest";
import { SetMultimap } from "../../src/common/set-multimap.js";

describe("SetMultimap", () => {
  it("keeps each key's values as a set, a lone value and several alike", () => {
    const m = new SetMultimap<string, string>();
    expect(m.get("a")).toEqual([]);
    m.add("a", "1");
    m.add("a", "1");
    expect(m.get("a")).toEqual(["1"]);
    m.add("a", "2");
    m.add("a", "3");
    m.add("a", "2");
    m.add("b", "9");
    expect(m.get("a")).toEqual(["1", "2", "3"]);
    expect(m.size).toBe(2);
    expect([...m.values()]).toEqual(["1", "2", "3", "9"]);
    expect(m.delete("a", "2")).toBe(true);
    expect(m.delete("a", "2")).toBe(false);
    expect(m.delete("a", "1")).toBe(true);
    // Back to one value: still found, and removed as a lone one.
    expect(m.get("a")).toEqual(["3"]);
    expect(m.delete("a", "x")).toBe(false);
    expect(m.delete("a", "3")).toBe(true);
    expect(m.has("a")).toBe(false);
    expect(m.delete("zz", "3")).toBe(false);
    expect(m.size).toBe(1);
  });

  it("hands out a copy: values may be removed while going through them", () => {
    const m = new SetMultimap<string, object>();
    const subs = [{}, {}, {}];
    for (const s of subs) m.add("job", s);
    for (const s of m.get("job")) m.delete("job", s);
    expect(m.has("job")).toBe(false);
  });
});
