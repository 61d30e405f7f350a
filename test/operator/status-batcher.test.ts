import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import { JobState } from "../../src/client/job-states.js";
import { StatusBatcher } from "../../src/operator/status-batcher.js";

function setup(states: Record<string, JobState>) {
  const calls: string[][] = [];
  const clock = new ManualClock();
  const batcher = new StatusBatcher(
    async (ids) => {
      calls.push([...ids]);
      return new Map(ids.filter((id) => id in states).map((id) => [id, states[id]!]));
    },
    { clock, maxStalenessMs: 1000 },
  );
  return { calls, clock, batcher };
}

describe("StatusBatcher", () => {
  it("coalesces checks made in the same turn into one call", async () => {
    const { calls, batcher } = setup({ a: JobState.RUNNING, b: JobState.QUEUED, c: JobState.SUCCEEDED });
    const got = await Promise.all(["a", "b", "c"].map((id) => batcher.getState(id)));
    expect(got).toEqual([JobState.RUNNING, JobState.QUEUED, JobState.SUCCEEDED]);
    expect(calls).toEqual([["a", "b", "c"]]);
  });

  it("answers the rest of a poll round from one call even when checks come one after another", async () => {
    const ids = Array.from({ length: 20 }, (_, i) => `j${i}`);
    const { calls, clock, batcher } = setup(Object.fromEntries(ids.map((id) => [id, JobState.RUNNING])));
    ids.forEach((id) => batcher.track(id));
    for (const id of ids) expect(await batcher.getState(id)).toBe(JobState.RUNNING);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toHaveLength(20);
    // The next round (a poll interval later) costs one more call, not twenty.
    clock.advance(30_000);
    for (const id of ids) await batcher.getState(id);
    expect(calls).toHaveLength(2);
  });

  it("never serves a cached state twice to the same job, nor a stale one", async () => {
    const { calls, clock, batcher } = setup({ a: JobState.RUNNING, b: JobState.RUNNING });
    batcher.track("b");
    await batcher.getState("a");
    clock.advance(1500);
    await batcher.getState("b"); // cached answer is too old: a new call
    expect(calls).toHaveLength(2);
    await batcher.getState("a"); // served from the second call's answer
    await batcher.getState("a"); // already served once: a new call
    expect(calls).toHaveLength(3);
  });

  it("stops asking for untracked jobs and reports unknown jobs as UNKNOWN", async () => {
    const { calls, batcher } = setup({ a: JobState.RUNNING });
    batcher.track("gone");
    batcher.untrack("gone");
    expect(await batcher.getState("missing")).toBe(JobState.UNKNOWN);
    expect(calls).toEqual([["missing"]]);
  });

  it("lets a poll-round check that comes while a call is out take that call's answer", async () => {
    const calls: string[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const batcher = new StatusBatcher(
      async (ids) => {
        calls.push([...ids]);
        await gate;
        return new Map(ids.map((id) => [id, id === "b" ? JobState.QUEUED : JobState.RUNNING]));
      },
      { clock: new ManualClock() },
    );
    ["a", "b"].forEach((id) => batcher.track(id));
    const first = batcher.getState("a");
    await new Promise((r) => setImmediate(r)); // the call has gone out, and waits at the gate
    expect(calls).toEqual([["a", "b"]]);
    const joined = batcher.getState("b"); // in the call that is out: joins it
    const alone = batcher.getState("b", { alone: true }); // a confirmation never does
    release();
    expect(await Promise.all([first, joined, alone])).toEqual([
      JobState.RUNNING,
      JobState.QUEUED,
      JobState.QUEUED,
    ]);
    expect(calls).toEqual([["a", "b"], ["b"]]);
  });

  it("passes a failed call to every waiter", async () => {
    const batcher = new StatusBatcher(
      async () => {
        throw new Error("UNAVAILABLE");
      },
      { clock: new ManualClock() },
    );
    const results = await Promise.allSettled([batcher.getState("a"), batcher.getState("b")]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
  });

  describe("poll phases", () => {
    it("puts polled jobs in groups of one call's worth, the first at phase 0, the next at tenths of the interval", () => {
      const batcher = new StatusBatcher(async () => new Map(), { clock: new ManualClock(), maxBatchSize: 3 });
      const phases = Array.from({ length: 7 }, (_, i) => batcher.pollPhase(`j${i}`, 5000));
      expect(phases).toEqual([0, 0, 0, 500, 500, 500, 1000]);
      // A job keeps its phase; one that ends frees its place for the next job polled.
      expect(batcher.pollPhase("j4", 5000)).toBe(500);
      batcher.finished("j1");
      expect(batcher.pollPhase("new", 5000)).toBe(0);
      batcher.untrack("j5");
      expect(batcher.pollPhase("newer", 5000)).toBe(500);
      // Group 10 comes round to phase 0 again: a round never has more than ten moments.
      const many = new StatusBatcher(async () => new Map(), { clock: new ManualClock(), maxBatchSize: 1 });
      expect(Array.from({ length: 12 }, (_, i) => many.pollPhase(`k${i}`, 10_000))).toEqual([
        0, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 0, 1000,
      ]);
    });

    it("fills a poll round's call with its own group only; a job in no group with the others in none", async () => {
      const ids = Array.from({ length: 7 }, (_, i) => `j${i}`);
      const calls: string[][] = [];
      const batcher = new StatusBatcher(
        async (asked) => {
          calls.push([...asked].sort());
          return new Map(asked.map((id) => [id, JobState.RUNNING]));
        },
        { clock: new ManualClock(), maxBatchSize: 3 },
      );
      for (const id of ids) batcher.pollPhase(id, 5000);
      batcher.track("plain-1");
      batcher.track("plain-2");
      await batcher.getState("j4");
      expect(calls).toEqual([["j3", "j4", "j5"]]);
      await batcher.getState("plain-1");
      expect(calls[1]).toEqual(["plain-1", "plain-2"]);
      // The rest of j4's round is served from that call, without another.
      expect(await batcher.getState("j3")).toBe(JobState.RUNNING);
      expect(calls).toHaveLength(2);
    });
  });
});
