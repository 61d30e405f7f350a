import { describe, expect, it } from "vitest";
import { ScopedValue } from "../../src/runtime/async-scope.js";

describe("ScopedValue", () => {
  it("is undefined outside a run and current inside it, across awaits and timers", async () => {
    const v = new ScopedValue<string>("test.a");
    expect(v.get()).toBeUndefined();
    const seen = await v.run("x", async () => {
      await new Promise((r) => setTimeout(r, 1));
      return v.get();
    });
    expect(seen).toBe("x");
    expect(v.get()).toBeUndefined();
  });

  it("keeps the other slots' values when one slot is entered, and restores the outer value after", async () => {
    const a = new ScopedValue<string>("test.b");
    const b = new ScopedValue<number>("test.c");
    const inner = await a.run("outer", () =>
      b.run(1, async () => {
        const nested = await a.run("inner", async () => [a.get(), b.get()]);
        return [...nested, a.get(), b.get()];
      }),
    );
    expect(inner).toEqual(["inner", 1, "outer", 1]);
  });

  it("shares a slot between two instances of the same name (two copies of a module)", () => {
    const one = new ScopedValue<string>("test.d");
    const other = new ScopedValue<string>("test.d");
    expect(one.run("shared", () => other.get())).toBe("shared");
  });

  it("keeps concurrent call trees apart", async () => {
    const v = new ScopedValue<number>("test.e");
    const read = (n: number) =>
      v.run(n, async () => {
        await new Promise((r) => setImmediate(r));
        return v.get();
      });
    expect(await Promise.all([read(1), read(2), read(3)])).toEqual([1, 2, 3]);
  });
});
