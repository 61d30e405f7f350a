import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import type { SweptJob } from "../../src/operator/orphan-sweep.js";
import { OrphanSweeper } from "../../src/scheduler/orphan-sweeper.js";

const INTERVAL = 300_000;

function row(jobId: string, action: SweptJob["action"], reason: string): SweptJob {
  return {
    jobId,
    queue: "default",
    jobSetId: "r1",
    state: "RUNNING",
    taskInstance: `d/r1/t[-1]`,
    taskState: "success",
    action,
    reason,
  };
}

/** A sweeper on a ManualClock whose sweeps the test answers. */
function harness() {
  const clock = new ManualClock(Date.UTC(2024, 0, 1));
  const start = clock.nowMs();
  const calls: { atMs: number; endedSinceMs: number; answer: (rows: SweptJob[] | Error) => void }[] = [];
  const lines: string[] = [];
  const sweeper = new OrphanSweeper({
    intervalMs: INTERVAL,
    clock,
    log: (l) => lines.push(l),
    sweep: ({ endedSinceMs }) =>
      new Promise<SweptJob[]>((resolve, reject) =>
        calls.push({
          atMs: clock.nowMs(),
          endedSinceMs,
          answer: (r) => (r instanceof Error ? reject(r) : resolve(r)),
        }),
      ),
  });
  return { clock, start, calls, lines, sweeper };
}

describe("the scheduler's periodic orphan sweep", () => {
  it("sweeps once per interval of the scheduler's clock, over the runs that ended since the sweep before", async () => {
    const { clock, start, calls, sweeper } = harness();
    expect(sweeper.tick()).toBe(start + INTERVAL);
    clock.advance(INTERVAL - 1);
    expect(sweeper.tick()).toBe(start + INTERVAL);
    expect(calls).toHaveLength(0);

    clock.advance(1);
    expect(sweeper.tick()).toBe(start + 2 * INTERVAL);
    expect(sweeper.tick()).toBe(start + 2 * INTERVAL);
    expect(calls.map((c) => [c.atMs, c.endedSinceMs])).toEqual([[start + INTERVAL, start - INTERVAL]]);
    calls[0]!.answer([]);
    await sweeper.idle();

    // Late (the scheduler was busy): one sweep, and the next one interval after it.
    clock.advance(INTERVAL + 5_000);
    expect(sweeper.tick()).toBe(start + 3 * INTERVAL + 5_000);
    expect(calls.map((c) => c.endedSinceMs)).toEqual([start - INTERVAL, start]);
  });

  it("logs what it cancelled or could not cancel, not what it kept", async () => {
    const { clock, calls, lines, sweeper } = harness();
    clock.advance(INTERVAL);
    sweeper.tick();
    calls[0]!.answer([
      row("job-a", "cancelled", "its task instance is success"),
      row("job-b", "kept", "its task instance is running and may follow it"),
      row("job-c", "cancel failed", "its task instance is failed; UNAVAILABLE"),
    ]);
    await sweeper.idle();
    expect(lines).toEqual([
      "orphan sweep: cancelled Armada job job-a (RUNNING, queue default, job set r1) of d/r1/t[-1]: its task instance is success",
      "orphan sweep: could not cancel Armada job job-c (RUNNING, queue default, job set r1) of d/r1/t[-1]: its task instance is failed; UNAVAILABLE",
    ]);
  });

  it("skips a sweep that falls due while the one before still runs; a failed sweep is logged and the next one runs", async () => {
    const { clock, start, calls, lines, sweeper } = harness();
    clock.advance(INTERVAL);
    sweeper.tick();
    clock.advance(INTERVAL);
    expect(sweeper.tick()).toBe(start + 3 * INTERVAL);
    expect(calls).toHaveLength(1);
    calls[0]!.answer(new Error("GetJobSetEvents: UNAVAILABLE"));
    await sweeper.idle();
    expect(lines).toEqual(["orphan sweep failed (next in 300s): GetJobSetEvents: UNAVAILABLE"]);

    clock.advance(INTERVAL);
    sweeper.tick();
    // From the last sweep that succeeded: none yet (the skipped one never started, the other failed).
    expect(calls.map((c) => c.endedSinceMs)).toEqual([start - INTERVAL, start - INTERVAL]);
  });

  it("refuses an interval that is not > 0 (0 means no sweeper at all)", () => {
    expect(
      () =>
        new OrphanSweeper({ intervalMs: 0, clock: new ManualClock(), log: () => {}, sweep: async () => [] }),
    ).toThrow("intervalMs must be > 0, got 0");
  });
});
