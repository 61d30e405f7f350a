/**
 * Coalesces job status checks on one Armada channel into as few
 * `GetJobStatus` calls as possible. Many tasks waiting on jobs through the
 * same server (deferred tasks resuming at the same poll moment, or
 * concurrent pollers) cost one call per poll round, not one call per job.
 *
 * How: every job a task is waiting for is tracked; a status check asks for
 * all tracked jobs at once and keeps the answers briefly, so the other tasks
 * of the same round read them instead of calling again. Checks made while a
 * call is being prepared join it.
 *
 * Poll rounds are spread over the interval once a call cannot hold them all:
 * polling triggers ask for their job's {@link StatusBatcher.pollPhase}, and
 * jobs are put in groups of at most one call's worth (`maxBatchSize`), the
 * first group at phase 0, the next ones at tenths of the interval after it.
 * A round still costs one call per group, but at 10,000 jobs the ten calls
 * come half a second apart instead of together, so the jobs one call finds
 * ended resume as a trickle, not as a burst that queues for the task slots
 * (a burst's last resume came seconds after its job's end was seen).
 */
import type { Clock } from "../common/clock.js";
import { JobState } from "../client/job-states.js";
import { settleInSlices } from "../common/settle-in-slices.js";

/** Fetches the states of many jobs in one call. */
export type FetchJobStates = (jobIds: string[]) => Promise<Map<string, JobState>>;

/** Options of {@link StatusBatcher}. */
export interface StatusBatcherOptions {
  /** Time source for freshness. */
  clock: Clock;
  /**
   * How old (by `clock`) a fetched state may be and still answer a check.
   * Keep it well under the poll interval.
   * @default 2000
   */
  maxStalenessMs?: number;
  /**
   * A tracked job not checked for this long (a task killed while deferred,
   * say) is no longer asked for.
   * @default 600000
   */
  forgetAfterMs?: number;
  /** Upper bound on job ids per call (the rest go in further calls). @default 1000 */
  maxBatchSize?: number;
  /**
   * How long (real time) a call made of `alone` checks only waits for more
   * of them: the events of many jobs arrive over several reads of a stream,
   * and their confirmations should still share a call. @default 10
   */
  confirmWindowMs?: number;
}

interface Known {
  state: JobState;
  fetchedAt: number;
}

/** How one check is made. */
export interface StatusCheckOptions {
  /**
   * Ask only for the jobs checked now, not for every tracked job: a check
   * woken by a job's event (event-stream tracking) confirms that job alone,
   * where a poll round asks for everything that waits. Never answered from
   * the kept answers: an event may be newer than they are. @default false
   */
  alone?: boolean;
}

interface Waiter {
  jobId: string;
  alone: boolean;
  resolve: (s: JobState) => void;
  reject: (e: unknown) => void;
}

/** A poll-round call on its way: the jobs it asks for, and the checks of them that joined it meanwhile. */
interface InFlightCall {
  ids: ReadonlySet<string>;
  joined: Waiter[];
}

/** Phases a poll interval is divided into for the groups of polled jobs (see the module comment). */
export const POLL_PHASES = 10;

/** See the module comment. One instance per channel. */
export class StatusBatcher {
  private readonly clock: Clock;
  private readonly maxStalenessMs: number;
  private readonly forgetAfterMs: number;
  private readonly maxBatchSize: number;
  private readonly confirmWindowMs: number;
  /** Job id -> last time a task asked about it (by `clock`). */
  private readonly tracked = new Map<string, number>();
  private readonly known = new Map<string, Known>();
  /**
   * Polled jobs by group ({@link pollPhase}); group `g` polls at phase
   * `g % POLL_PHASES` and holds at most `maxBatchSize` jobs. A job leaves its
   * group when it is no longer tracked.
   */
  private readonly groupOfJob = new Map<string, number>();
  /** Jobs in each group. */
  private readonly groupSizes: number[] = [];
  private waiters: Waiter[] = [];
  private scheduled = false;
  /**
   * The poll-round call being made, if any: the jobs it asks for and its
   * answer. A poll-round check of one of those jobs that comes while the
   * call is out takes its answer instead of making another call (triggers
   * whose timers fire a few milliseconds apart still share one call).
   */
  private inFlight: InFlightCall | undefined;
  /** Number of fetch calls made; for tests and diagnostics. */
  calls = 0;

  constructor(
    private readonly fetch: FetchJobStates,
    options: StatusBatcherOptions,
  ) {
    this.clock = options.clock;
    this.maxStalenessMs = options.maxStalenessMs ?? 2000;
    this.forgetAfterMs = options.forgetAfterMs ?? 600_000;
    this.maxBatchSize = options.maxBatchSize ?? 1000;
    this.confirmWindowMs = options.confirmWindowMs ?? 10;
  }

  /** Starts including `jobId` in every batched call (until it is seen in a final state). */
  track(jobId: string): void {
    this.tracked.set(jobId, this.clock.nowMs());
  }

  /** Stops including `jobId` in batched calls. */
  untrack(jobId: string): void {
    this.drop(jobId);
    this.known.delete(jobId);
  }

  /**
   * When, within each poll interval of `intervalMs`, a poll of `jobId`
   * should check (ms after each multiple of the interval), and tracks the
   * job. Every job of a group shares the phase, so its group's poll is one
   * call; until one call's worth of jobs is polled, every job is in the
   * first group and the phase is 0 (one call per round, at the aligned
   * moment, as before groups). A job keeps its group while it is tracked.
   */
  pollPhase(jobId: string, intervalMs: number): number {
    if (!this.tracked.has(jobId)) this.track(jobId);
    const group = this.groupOfJob.get(jobId) ?? this.join(jobId);
    return Math.floor(((group % POLL_PHASES) * intervalMs) / POLL_PHASES);
  }

  /** Puts `jobId` in the first group with room, so groups stay full and the phases few. */
  private join(jobId: string): number {
    let g = this.groupSizes.findIndex((size) => size < this.maxBatchSize);
    if (g < 0) g = this.groupSizes.push(0) - 1;
    this.groupSizes[g]!++;
    this.groupOfJob.set(jobId, g);
    return g;
  }

  /** No longer tracked: out of batched calls and out of its group. */
  private drop(jobId: string): void {
    this.tracked.delete(jobId);
    const g = this.groupOfJob.get(jobId);
    if (g === undefined) return;
    this.groupOfJob.delete(jobId);
    this.groupSizes[g]!--;
  }

  /**
   * Stops including `jobId` (seen in a final state) in batched calls, but
   * keeps its last answer for a check made at once (the trigger saw the end;
   * its task's own check follows).
   */
  finished(jobId: string): void {
    this.drop(jobId);
  }

  /** The job's state, fetched together with every other tracked job's (with `alone`, with the others checked now). */
  getState(jobId: string, options: StatusCheckOptions = {}): Promise<JobState> {
    const now = this.clock.nowMs();
    this.tracked.set(jobId, now);
    const hit = this.known.get(jobId);
    if (hit && !options.alone && now - hit.fetchedAt <= this.maxStalenessMs) {
      // Served once from the cache: the next check of this job (a later
      // poll round) must see a newer answer.
      this.known.delete(jobId);
      return Promise.resolve(hit.state);
    }
    const call = this.inFlight;
    if (call && !options.alone && call.ids.has(jobId)) {
      // Answered with the call's own waiters (and in slices, as theirs are); kept for the check that follows.
      return new Promise<JobState>((resolve, reject) =>
        call.joined.push({ jobId, alone: false, resolve, reject }),
      );
    }
    return new Promise<JobState>((resolve, reject) => {
      this.waiters.push({ jobId, alone: options.alone ?? false, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // Wait one macrotask so checks made in the same turn (tasks resumed
        // together) join this call; confirmations of events wait a little longer.
        if (options.alone) setTimeout(() => void this.flush(), this.confirmWindowMs);
        else setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    const waiters = this.waiters;
    this.waiters = [];
    if (waiters.length === 0) return;
    const now = this.clock.nowMs();
    for (const [id, lastAsked] of this.tracked) {
      if (now - lastAsked > this.forgetAfterMs) this.drop(id);
    }
    for (const [id, k] of this.known) {
      if (now - k.fetchedAt > this.maxStalenessMs) this.known.delete(id);
    }
    const wanted = new Set(waiters.map((w) => w.jobId));
    // Confirmations alone ask only for their own jobs; a poll-round check fills the call with the rest of
    // its round: the other jobs of its group, or (a job in no group) every tracked job in no group.
    const fill = waiters.some((w) => !w.alone);
    const ids = fill ? [...wanted, ...this.roundMates(waiters, wanted)] : [...wanted];
    // Chunks beyond the first only matter if a waiter is in them.
    const chunks: string[][] = [];
    for (let i = 0; i < ids.length; i += this.maxBatchSize) {
      const chunk = ids.slice(i, i + this.maxBatchSize);
      if (i === 0 || chunk.some((id) => wanted.has(id))) chunks.push(chunk);
    }
    const answer = this.fetchChunks(chunks);
    const call: InFlightCall | undefined = fill ? { ids: new Set(chunks.flat()), joined: [] } : undefined;
    if (call) this.inFlight = call;
    let results: Map<string, JobState>;
    try {
      results = await answer;
    } catch (err) {
      for (const w of waiters) w.reject(err);
      for (const w of call?.joined ?? []) w.reject(err);
      return;
    } finally {
      if (this.inFlight === call) this.inFlight = undefined;
    }
    const fetchedAt = this.clock.nowMs();
    // Kept for the next check too, even of the jobs asked for: a watching trigger that fires is
    // followed at once by its task's own check, which this answer serves without a second call.
    for (const [id, state] of results) {
      if (this.tracked.has(id)) this.known.set(id, { state, fetchedAt });
    }
    const answered = call && call.joined.length > 0 ? [...waiters, ...call.joined] : waiters;
    settleInSlices(answered, (w) => w.resolve(results.get(w.jobId) ?? JobState.UNKNOWN));
  }

  /** The tracked jobs not in `wanted` that share a poll round with one of the poll-round `waiters`. */
  private roundMates(waiters: Waiter[], wanted: ReadonlySet<string>): string[] {
    const groups = new Set<number>();
    let ungrouped = false;
    for (const w of waiters) {
      if (w.alone) continue;
      const g = this.groupOfJob.get(w.jobId);
      if (g === undefined) ungrouped = true;
      else groups.add(g);
    }
    const mates: string[] = [];
    if (groups.size > 0) {
      for (const [id, g] of this.groupOfJob) if (groups.has(g) && !wanted.has(id)) mates.push(id);
    }
    if (ungrouped) {
      for (const id of this.tracked.keys()) if (!wanted.has(id) && !this.groupOfJob.has(id)) mates.push(id);
    }
    return mates;
  }

  /** Every chunk's states, one call each, in order; jobs a call does not name are UNKNOWN. */
  private async fetchChunks(chunks: string[][]): Promise<Map<string, JobState>> {
    const results = new Map<string, JobState>();
    for (const chunk of chunks) {
      this.calls++;
      const states = await this.fetch(chunk);
      for (const id of chunk) results.set(id, states.get(id) ?? JobState.UNKNOWN);
    }
    return results;
  }
}
