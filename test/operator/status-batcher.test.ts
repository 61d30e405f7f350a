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
});
