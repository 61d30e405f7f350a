import { afterEach, describe, expect, it, vi } from "vitest";
import { ManualClock, systemClock } from "./clock.js";

describe("systemClock.sleep", () => {
  afterEach(() => vi.useRealTimers());

  it("waits the whole time for sleeps beyond Node's 2^31-1 ms timer limit", async () => {
    vi.useFakeTimers();
    let done = false;
    const ms = 30 * 24 * 3600 * 1000; // 30 days: past the ~24.8-day timer limit
    void systemClock.sleep(ms).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(2 ** 31);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(ms - 2 ** 31 - 1);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(done).toBe(true);
  });

  it("rejects with the abort reason when aborted", async () => {
    const ac = new AbortController();
    const p = systemClock.sleep(60_000, ac.signal);
    ac.abort(new Error("stop"));
    await expect(p).rejects.toThrow("stop");
  });
});

describe("ManualClock", () => {
  it("wakes sleepers in time order only when advanced past them", async () => {
    const clock = new ManualClock(0);
    const woke: string[] = [];
    void clock.sleep(20).then(() => woke.push("b"));
    void clock.sleep(10).then(() => woke.push("a"));
    clock.advance(9);
    await Promise.resolve();
    expect(woke).toEqual([]);
    clock.advance(11);
    await new Promise((r) => setImmediate(r));
    expect(woke).toEqual(["a", "b"]);
    expect(clock.pendingSleepers).toBe(0);
  });
});
