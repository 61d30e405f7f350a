/**
 * Event-stream tracking: one `GetJobSetEvents` watch stream per (channel,
 * queue, job set) in the process, shared by every task and trigger waiting
 * on a job of that job set, so a job's end wakes its waiter at once instead
 * of at the next poll moment.
 *
 * The stream is only a hint of when to look. A waiter woken by an event
 * confirms the state through the channel's batched status call before it
 * acts (see `poll-job-trigger.ts`), so a lost, repeated or wrong event can
 * delay a task (until a check finds the truth) but never end it wrongly.
 *
 * A stream broken by a transient failure is re-opened from the last message
 * id it read, after a backoff that doubles; one that cannot be kept (a
 * server without watch, a refusal, more consecutive failures than the retry
 * budget) is given up: its waiters are told to poll instead, and the log
 * says so once. At most `[armada_operator] max_event_streams` (default 100)
 * streams are open per process; waiters beyond that poll. A stream is
 * closed when no waiter is left on its job set (after a short linger when
 * the last one is coming back, a task that resumes and defers again, so it
 * keeps the stream; at once when its job ended, so a finished process
 * exits), when the client is closed, and at process exit.
 */
import { status as GrpcStatus } from "@grpc/grpc-js";
import type { Clock } from "../common/clock.js";
import { SetMultimap } from "../common/set-multimap.js";
import { ArmadaError } from "../client/armada-error.js";
import type { EventStreamMessage } from "../gen/armada/event.js";
import { jobEventState } from "./job-event-state.js";
import type { JobState } from "../client/job-states.js";
import type { LogSink } from "./task-log.js";

/** A waiter's view of its job on a shared job-set stream. */
export interface JobEventSubscription {
  /**
   * True once the stream was given up (or closed): the waiter must poll.
   * Also true from the start when the stream could not be opened at all.
   */
  readonly fallenBack: boolean;
  /** The job's state by the latest event read for it; undefined before any. */
  readonly eventState: JobState | undefined;
  /**
   * False when the stream began at a resume point (the job set was watched
   * before in this process, and that stream closed): events read before it
   * are not known here, so a waiter must check its job once rather than
   * trust `eventState` being undefined.
   */
  readonly sawEveryEvent: boolean;
  /**
   * Resolves at the next event of the job after the last resolution (events
   * read in one turn count as one), or when the stream falls back. Never
   * rejects; calls while one is pending return the same promise.
   */
  next(): Promise<void>;
  /**
   * Calls `wake` once, as `next()` would resolve (at once, a microtask
   * later, when an event came since the last wake-up): a callback, not a
   * promise, for a waiter kept per deferred task. A later call replaces an
   * earlier `wake` not yet called; use one of `next` and `onNext` per
   * subscription.
   */
  onNext(wake: () => void): void;
  /**
   * Leaves the stream; the last one to leave closes it, at once or, with
   * `linger` (this waiter will likely be back: its task defers again), after
   * the linger, so the stream is kept. Idempotent.
   */
  close(options?: { linger?: boolean }): void;
}

/** Opens one watch stream of a job set from `fromMessageId` ("" = from the start); ends cleanly on abort. */
export type OpenJobSetStream = (
  queue: string,
  jobSetId: string,
  fromMessageId: string,
  signal: AbortSignal,
) => AsyncIterable<EventStreamMessage>;

/** Options of {@link JobSetWatches}. */
export interface JobSetWatchesOptions {
  /** Time source for backoff and linger. */
  clock: Clock;
  /** Where fallbacks are said (once each). */
  log: LogSink;
  /** The server's address, for log lines. */
  target: string;
  /** Most streams open at once in the process (all channels); read at each open. */
  maxStreams: () => number;
  /** Consecutive failures (without an event in between) before a stream is given up. @default 5 */
  retryBudget?: number;
  /** First pause before re-opening a broken stream; doubles per consecutive failure. @default 500 */
  backoffMs?: number;
  /** Longest such pause. @default 8000 */
  maxBackoffMs?: number;
  /** How long a stream with no waiter left stays open for a waiter that comes back. @default 5000 */
  lingerMs?: number;
}

/** Streams open in the process, across channels and module copies. */
interface ProcessStreams {
  open: number;
  capLogged: boolean;
  registries: Set<JobSetWatches>;
  exitHooked: boolean;
}

const PROCESS_KEY = Symbol.for("armada-airflow.operator.job-set-watches");
const processStreams: ProcessStreams = ((globalThis as Record<symbol, unknown>)[PROCESS_KEY] ??= {
  open: 0,
  capLogged: false,
  registries: new Set(),
  exitHooked: false,
}) as ProcessStreams;

/** Resume points of closed streams kept at most (oldest dropped), so a job set watched again reads only what is new. */
const MAX_RESUME_POINTS = 10_000;

/** Refusals that another try will not change: give the stream up at once. */
const FINAL_STREAM_CODES: ReadonlySet<number> = new Set([
  GrpcStatus.UNIMPLEMENTED,
  GrpcStatus.PERMISSION_DENIED,
  GrpcStatus.UNAUTHENTICATED,
  GrpcStatus.FAILED_PRECONDITION,
  GrpcStatus.NOT_FOUND,
]);

/** The shared job-set streams of one channel. See the module comment. */
export class JobSetWatches {
  private readonly watches = new Map<string, JobSetWatch>();
  private readonly resumePoints = new Map<string, string>();
  /** Set when the server answered UNIMPLEMENTED: no stream is tried on this channel again. */
  private unsupported = false;
  private closedAll = false;
  /** Stream breaks seen on this channel (each failed or ended read); for diagnostics and tests. */
  streamFailures = 0;
  readonly options: Required<JobSetWatchesOptions>;

  constructor(
    readonly open: OpenJobSetStream,
    options: JobSetWatchesOptions,
  ) {
    this.options = { retryBudget: 5, backoffMs: 500, maxBackoffMs: 8000, lingerMs: 5000, ...options };
    processStreams.registries.add(this);
    if (!processStreams.exitHooked) {
      processStreams.exitHooked = true;
      // The process is going: end every stream so the server sees the watchers leave.
      process.once("exit", () => {
        for (const r of processStreams.registries) r.closeAll();
      });
    }
  }

  /** Subscriptions open on this channel's streams; for diagnostics and tests. */
  get subscribers(): number {
    let n = 0;
    for (const w of this.watches.values()) n += w.subscribers;
    return n;
  }

  /** Streams of this channel being read now (not given up, not closed). */
  get openStreams(): number {
    let n = 0;
    for (const w of this.watches.values()) if (w.reading) n++;
    return n;
  }

  /**
   * Joins the job set's shared stream (opening it if needed) to hear of
   * `jobId`'s events. Undefined when this job must be polled instead: the
   * server has no watch, the process is at its stream cap, or the job set's
   * stream was given up and still has waiters.
   */
  subscribe(queue: string, jobSetId: string, jobId: string): JobEventSubscription | undefined {
    if (this.unsupported || this.closedAll) return undefined;
    const key = `${queue}\u0000${jobSetId}`;
    let watch = this.watches.get(key);
    if (watch?.fallenBack) return undefined;
    if (!watch) {
      const max = this.options.maxStreams();
      if (processStreams.open >= max) {
        if (!processStreams.capLogged) {
          processStreams.capLogged = true;
          this.options.log.warn(
            `[armada_operator] max_event_streams (${max}) streams are open in this process; job set ${jobSetId} ` +
              `(queue ${queue}) and any further one are tracked by batched polling until a stream closes`,
          );
        }
        return undefined;
      }
      const from = this.resumePoints.get(key) ?? "";
      this.resumePoints.delete(key);
      watch = new JobSetWatch(this, key, queue, jobSetId, from);
      this.watches.set(key, watch);
      watch.start();
    }
    return watch.join(jobId);
  }

  /** Closes every stream of this channel (client closed, process exit); their waiters fall back to polling. */
  closeAll(): void {
    this.closedAll = true;
    for (const w of [...this.watches.values()]) w.close();
    processStreams.registries.delete(this);
  }

  /** @internal A stream said it cannot be kept because the server has no watch. */
  markUnsupported(): boolean {
    const first = !this.unsupported;
    this.unsupported = true;
    return first;
  }

  /** @internal A stream closed: forget it, keep where it was. */
  closed(watch: JobSetWatch): void {
    if (this.watches.get(watch.key) !== watch) return;
    this.watches.delete(watch.key);
    if (!watch.fallenBack && watch.lastMessageId) {
      this.resumePoints.set(watch.key, watch.lastMessageId);
      if (this.resumePoints.size > MAX_RESUME_POINTS) {
        this.resumePoints.delete(this.resumePoints.keys().next().value!);
      }
    }
  }
}

/** One job set's stream and its waiters. */
class JobSetWatch {
  lastMessageId: string;
  fallenBack = false;
  isClosed = false;
  /** True while the read loop holds (or is re-opening) a stream. */
  reading = false;
  /** Latest event-implied state of every job of the job set read so far. */
  private readonly states = new Map<string, JobState>();
  private readonly waiters = new SetMultimap<string, Subscription>();
  private refs = 0;
  private readonly abort = new AbortController();
  private linger: AbortController | undefined;
  /** Until when (by the clock) the stream is kept after its last waiter leaves, set by waiters that will be back. */
  private keepUntil = 0;
  private readonly dirty = new Set<string>();
  private flushScheduled = false;

  constructor(
    private readonly owner: JobSetWatches,
    readonly key: string,
    readonly queue: string,
    readonly jobSetId: string,
    fromMessageId: string,
  ) {
    this.lastMessageId = fromMessageId;
    this.sawEveryEvent = fromMessageId === "";
  }

  /** Whether the stream read the job set from its start (see {@link JobEventSubscription.sawEveryEvent}). */
  readonly sawEveryEvent: boolean;

  get subscribers(): number {
    return this.refs;
  }

  stateOf(jobId: string): JobState | undefined {
    return this.states.get(jobId);
  }

  join(jobId: string): Subscription {
    this.refs++;
    this.linger?.abort();
    this.linger = undefined;
    const sub = new Subscription(this, jobId);
    this.waiters.add(jobId, sub);
    return sub;
  }

  leave(sub: Subscription, keep: boolean): void {
    if (!this.waiters.delete(sub.jobId, sub)) return;
    const { lingerMs, clock } = this.owner.options;
    // A waiter that will be back keeps the stream for it even when others leave after it for good
    // (their jobs ended): a stream re-opened later starts at its resume point, past the events it read.
    if (keep) this.keepUntil = Math.max(this.keepUntil, clock.nowMs() + lingerMs);
    if (--this.refs > 0 || this.isClosed) return;
    if (lingerMs <= 0 || clock.nowMs() >= this.keepUntil) return this.close();
    const linger = (this.linger = new AbortController());
    clock.sleep(lingerMs, linger.signal).then(
      () => {
        if (this.refs === 0 && this.linger === linger) this.close();
      },
      () => {}, // a waiter came back
    );
  }

  start(): void {
    processStreams.open++;
    this.reading = true;
    void this.read().finally(() => {
      this.reading = false;
      processStreams.open--;
    });
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.linger?.abort();
    this.abort.abort();
    this.owner.closed(this);
    this.notifyAll();
  }

  private async read(): Promise<void> {
    const { clock, retryBudget, backoffMs, maxBackoffMs } = this.owner.options;
    for (let failures = 0; ;) {
      let error: ArmadaError | undefined;
      try {
        const stream = this.owner.open(this.queue, this.jobSetId, this.lastMessageId, this.abort.signal);
        for await (const m of stream) {
          if (m.id) this.lastMessageId = m.id;
          failures = 0;
          this.onMessage(m);
        }
      } catch (e) {
        error = ArmadaError.from(e);
      }
      if (this.isClosed) return;
      failures++;
      this.owner.streamFailures++;
      if (error && FINAL_STREAM_CODES.has(error.code)) return this.giveUp(error, failures);
      if (error?.code === GrpcStatus.INVALID_ARGUMENT && this.lastMessageId) {
        // The server no longer knows where we were (restarted without its events, or trimmed them):
        // read the job set again from its start; the events only hint, so a repeat does no harm.
        this.lastMessageId = "";
      }
      if (failures > retryBudget) return this.giveUp(error, failures);
      try {
        await clock.sleep(Math.min(maxBackoffMs, backoffMs * 2 ** (failures - 1)), this.abort.signal);
      } catch {
        return; // closed while waiting
      }
    }
  }

  private giveUp(error: ArmadaError | undefined, failures: number): void {
    this.fallenBack = true;
    const { log, target } = this.owner.options;
    const where = `job set ${this.jobSetId} (queue ${this.queue})`;
    if (error?.code === GrpcStatus.UNIMPLEMENTED) {
      // Every stream of this channel would be refused the same way: said once for the channel.
      if (this.owner.markUnsupported()) {
        log.warn(
          `Armada at ${target} does not serve job-set event watches (GetJobSetEvents: UNIMPLEMENTED); ` +
            `tracking its jobs by batched polling instead`,
        );
      }
    } else {
      const why = error ? error.message : "the server kept ending the stream";
      log.warn(
        `Gave up the event stream of ${where} after ${failures} failure(s) in a row (${why}); ` +
          `tracking its jobs by batched polling instead`,
      );
    }
    this.notifyAll();
  }

  private onMessage(m: EventStreamMessage): void {
    const ev = jobEventState(m.message);
    if (!ev) return;
    this.states.set(ev.jobId, ev.state);
    if (!this.waiters.has(ev.jobId)) return;
    this.dirty.add(ev.jobId);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Events read in one turn (a backlog, a burst) wake each waiter once.
    setImmediate(() => {
      this.flushScheduled = false;
      for (const id of this.dirty) for (const s of this.waiters.get(id)) s.notify();
      this.dirty.clear();
    });
  }

  private notifyAll(): void {
    for (const s of [...this.waiters.values()]) s.notify();
  }
}

class Subscription implements JobEventSubscription {
  private version = 0;
  private seen = 0;
  private pending: Promise<void> | undefined;
  /** The waiter to wake at the next event: `next()`'s resolve, or `onNext`'s callback. */
  private wake: (() => void) | undefined;
  private left = false;

  constructor(
    private readonly watch: JobSetWatch,
    readonly jobId: string,
  ) {}

  get fallenBack(): boolean {
    return this.watch.fallenBack || this.watch.isClosed;
  }

  get eventState(): JobState | undefined {
    return this.watch.stateOf(this.jobId);
  }

  get sawEveryEvent(): boolean {
    return this.watch.sawEveryEvent;
  }

  notify(): void {
    this.version++;
    const wake = this.wake;
    if (!wake) return;
    this.wake = undefined;
    this.pending = undefined;
    this.seen = this.version;
    wake();
  }

  next(): Promise<void> {
    if (this.version > this.seen || this.fallenBack) {
      this.seen = this.version;
      return Promise.resolve();
    }
    return (this.pending ??= new Promise<void>((resolve) => (this.wake = resolve)));
  }

  onNext(wake: () => void): void {
    this.pending = undefined;
    if (this.version > this.seen || this.fallenBack) {
      this.seen = this.version;
      this.wake = undefined;
      queueMicrotask(wake);
      return;
    }
    this.wake = wake;
  }

  close(options: { linger?: boolean } = {}): void {
    if (this.left) return;
    this.left = true;
    this.watch.leave(this, options.linger ?? false);
  }
}
