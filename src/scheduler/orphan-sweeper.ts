/**
 * The scheduler's periodic orphan sweep: every `intervalMs` of the
 * scheduler's clock it runs the orphan sweep (src/operator/orphan-sweep.ts)
 * in the background, one sweep at a time, and logs every job it cancelled or
 * failed to cancel. So what a crash could still leave (a job submitted by a
 * runner that died before writing it down) does not run on until someone
 * thinks of `armada-airflow armada sweep`.
 *
 * Each sweep looks at the runs that are not finished and at those that ended
 * since the last sweep that succeeded (one interval of margin), not at the
 * whole history:
 * its cost follows the recent work, not the age of the database.
 * `armada-airflow armada sweep` looks at everything.
 */
import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { ErrorCode } from "../common/error-code.js";
import type { Clock } from "../common/clock.js";
import type { SweptJob } from "../operator/orphan-sweep.js";
import { redactSecrets } from "../runtime/secrets-masker.js";

/** Runs one sweep over the runs unfinished or ended at or after `endedSinceMs`; returns what it looked at. */
export type OrphanSweepFunction = (o: { endedSinceMs: number }) => Promise<SweptJob[]>;

/** Options of an {@link OrphanSweeper}. */
export interface OrphanSweeperOptions {
  /** Time between sweeps on `clock`, > 0. */
  intervalMs: number;
  /** The scheduler's clock. */
  clock: Clock;
  sweep: OrphanSweepFunction;
  /** Scheduler log lines. */
  log: (line: string) => void;
}

/** See the module comment. */
export class OrphanSweeper {
  private nextAtMs: number;
  /** When the last sweep that succeeded started (at first, the start). */
  private lastDoneAtMs: number;
  private running: Promise<void> | undefined;

  constructor(private readonly options: OrphanSweeperOptions) {
    if (!(options.intervalMs > 0)) {
      throw new ArmadaAirflowError(
        ErrorCode.InvalidArgument,
        `OrphanSweeper intervalMs must be > 0, got ${options.intervalMs}`,
      );
    }
    const now = options.clock.nowMs();
    // The first sweep one interval after the start: `armada sweep` is there for one at once.
    this.lastDoneAtMs = now;
    this.nextAtMs = now + options.intervalMs;
  }

  /**
   * Starts a sweep when one is due (in the background; a sweep still running
   * then makes this one skipped); returns when the next one falls due.
   */
  tick(): number {
    const { clock, intervalMs } = this.options;
    const now = clock.nowMs();
    if (now < this.nextAtMs) return this.nextAtMs;
    this.nextAtMs = now + intervalMs;
    if (this.running) return this.nextAtMs;
    // From the last sweep that succeeded: runs that ended while the server was away are not skipped.
    const since = this.lastDoneAtMs - intervalMs;
    this.running = this.sweepOnce(since, now).finally(() => (this.running = undefined));
    return this.nextAtMs;
  }

  /** Resolves once the sweep in progress, if any, has ended. */
  async idle(): Promise<void> {
    await this.running;
  }

  private async sweepOnce(endedSinceMs: number, startedAtMs: number): Promise<void> {
    const { log } = this.options;
    let jobs: SweptJob[];
    try {
      jobs = await this.options.sweep({ endedSinceMs });
    } catch (err) {
      log(
        `orphan sweep failed (next in ${this.options.intervalMs / 1000}s): ${redactSecrets(err instanceof Error ? err.message : String(err))}`,
      );
      return;
    }
    this.lastDoneAtMs = startedAtMs;
    for (const j of jobs) {
      if (j.action !== "cancelled" && j.action !== "cancel failed") continue;
      const of = j.taskInstance ? `of ${j.taskInstance}` : "naming no task instance";
      const what = j.action === "cancelled" ? "cancelled" : "could not cancel";
      log(
        `orphan sweep: ${what} Armada job ${j.jobId} (${j.state}, queue ${j.queue}, job set ${j.jobSetId}) ${of}: ${j.reason}`,
      );
    }
  }
}
