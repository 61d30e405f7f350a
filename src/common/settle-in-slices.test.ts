import { describe, expect, it } from "vitest";
import { settleInSlices } from "./settle-in-slices.js";

const turn = () => new Promise<void>((r) => setImmediate(r));

describe("settleInSlices", () => {
  it("settles a slice per turn of the event loop, each slice's continuations running before the next slice", async () => {
    const order: string[] = [];
    const waiters = Array.from({ length: 120 }, (_, i) => {
      let resolve!: (v: number) => void;
      const p = new Promise<number>((r) => (resolve = r));
      void p.then(() => order.push(`ran ${i}`));
      return { i, resolve };
    });
    settleInSlices(waiters, (w, index) => {
      expect(index).toBe(w.i);
      order.push(`settled ${w.i}`);
      w.resolve(w.i);
    });
    expect(order.filter((o) => o.startsWith("settled"))).toHaveLength(50);
    await turn();
    // The first slice's continuations ran before the second slice was settled.
    expect(order.indexOf("ran 49")).toBeLessThan(order.indexOf("settled 50"));
    await turn();
    await turn();
    expect(order.filter((o) => o.startsWith("ran"))).toHaveLength(120);
  });
});
