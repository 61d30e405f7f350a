/**
 * ArmadaConnectionPool: the Armada connections of one runner, and what
 * its tasks and triggers share on each: one client (one gRPC channel), one
 * status batcher, one submit batcher, one failure reader and one set of
 * job-set event streams per channel, call deadline and clock. Many tasks
 * thus share one connection, and a task and its trigger share the batched
 * status calls and the event streams.
 *
 * A pool is owned by whoever made it and closed by it: a runner's (see
 * {@link ArmadaConnectionPool.of}) is made on first use and closed when the
 * runner stops, so two runners in one process never share a client and
 * none outlives its runner. Hooks made outside any runner (a script, a test)
 * use the process default pool, which {@link closeDefaultArmadaConnectionPool}
 * closes.
 */
import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import type { Clock } from "../common/clock.js";
import { crashPoint } from "../common/crash-point.js";
import { ErrorCode } from "../common/error-code.js";
import { ArmadaClient } from "../client/armada-client.js";
import type { GrpcChannelArgs } from "../client/channel-args.js";
import type { JobState } from "../client/job-states.js";
import { currentRunnerResources, type RunnerResources } from "../runtime/runner-resources.js";
import { stderrLogger } from "../runtime/task-logger.js";
import { JobFailureReader } from "./job-failure-reader.js";
import { JobSetWatches } from "./job-set-watch.js";
import { StatusBatcher } from "./status-batcher.js";
import { SubmitBatcher } from "./submit-batcher.js";
import type { LogSink } from "./task-log.js";
import { maxEventStreams } from "./tracking.js";

/**
 * Settings of a channel's shared pieces, taken from the first hook that
 * asks for the channel (later hooks share what it made).
 */
export interface ArmadaChannelOptions {
  /**
   * Where channel-wide notices go (an event stream given up, the stream cap
   * reached). The channel is shared: the first hook of a channel sets it.
   * @default stderr
   */
  log?: LogSink;
  /** Event streams (tracking `events`): consecutive failures before a stream is given up. @default 5 */
  eventStreamRetryBudget?: number;
  /** Event streams: first pause before re-opening a broken stream (doubles up to 8 s). @default 500 */
  eventStreamBackoffMs?: number;
  /** Event streams: how long a stream nobody waits on stays open for a task that defers again. @default 5000 */
  eventStreamLingerMs?: number;
}

/** One channel of a pool: its client and what is shared on it. */
export interface ArmadaChannel {
  /** What the pieces were made with: only hooks asking for the same share them. */
  readonly clock: Clock;
  /** Deadline of each call of the client, in ms. */
  readonly deadlineMs: number;
  readonly client: ArmadaClient;
  /** `GetJobStatus` checks of every job on the channel, batched. */
  readonly batcher: StatusBatcher;
  /** `SubmitJobs` calls shared by the tasks submitting at once. */
  readonly submitter: SubmitBatcher;
  readonly failures: JobFailureReader;
  /** The job-set event streams (tracking `events`). */
  readonly watches: JobSetWatches;
}

/** The key a runner holds its pool under (`Symbol.for`: every copy of this module finds the same pool). */
const RUNNER_POOL_KEY = Symbol.for("armada-airflow.operator.connection-pool");
/** Where the process default pool lives (on globalThis, for the same reason). */
const DEFAULT_POOL_KEY = Symbol.for("armada-airflow.operator.default-connection-pool");

/** See the module comment. */
export class ArmadaConnectionPool {
  /** Channels by serialized channel args (equal serializations may still differ in secrets: a list). */
  readonly #channels = new Map<string, ArmadaChannel[]>();
  #closed = false;

  /**
   * The pool of `runner` (anything holding {@link RunnerResources}, a
   * `Runner`): made on first use, closed when the runner stops.
   */
  static of(runner: { readonly resources: RunnerResources }): ArmadaConnectionPool {
    return runner.resources.get(RUNNER_POOL_KEY, () => new ArmadaConnectionPool());
  }

  /** The pool of the runner running the calling code (its tasks, triggers, shutdown); undefined outside one. */
  static ofCurrentRunner(): ArmadaConnectionPool | undefined {
    const resources = currentRunnerResources();
    return resources ? ArmadaConnectionPool.of({ resources }) : undefined;
  }

  /** The pool hooks made now use: the current runner's, else the process default pool. */
  static current(): ArmadaConnectionPool {
    return ArmadaConnectionPool.ofCurrentRunner() ?? defaultArmadaConnectionPool();
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The channels open now. */
  channels(): ArmadaChannel[] {
    return [...this.#channels.values()].flat();
  }

  /**
   * The channel for these arguments, clock and call deadline, made on first
   * use. Only equal requests share one: a hook with another clock or
   * deadline gets its own client and batchers, never silently the first
   * hook's. `options` are read when the channel is made.
   * Throws a `failed_precondition` error once the pool is closed: a hook
   * kept past its runner's stop must not open connections nobody closes.
   */
  channelFor(
    args: GrpcChannelArgs,
    clock: Clock,
    deadlineMs: number,
    options: ArmadaChannelOptions = {},
  ): ArmadaChannel {
    if (this.#closed) {
      throw new ArmadaAirflowError(
        ErrorCode.FailedPrecondition,
        `the Armada connection pool for ${args.target} is closed (its runner stopped); ` +
          "make the ArmadaHook where a runner is running (in a task or trigger), or without a pool to use the process default",
      );
    }
    const key = JSON.stringify(args.serialize());
    const list = this.#channels.get(key) ?? [];
    const found = list.find(
      (c) =>
        c.clock === clock &&
        c.deadlineMs === deadlineMs &&
        (c.client.channelArgs === args || c.client.channelArgs.equals(args)),
    );
    if (found) return found;
    const channel = makeChannel(args, clock, deadlineMs, options);
    list.push(channel);
    this.#channels.set(key, list);
    return channel;
  }

  /**
   * Closes every event stream and client of the pool. Idempotent; after it,
   * {@link channelFor} (and so every hook of this pool) throws.
   */
  close(): void {
    this.#closed = true;
    for (const c of this.channels()) {
      c.watches.closeAll();
      c.client.close();
    }
    this.#channels.clear();
  }
}

function makeChannel(
  args: GrpcChannelArgs,
  clock: Clock,
  deadlineMs: number,
  options: ArmadaChannelOptions,
): ArmadaChannel {
  const client = new ArmadaClient(args, { defaultDeadlineMs: deadlineMs });
  const batcher = new StatusBatcher(
    async (jobIds) => {
      const res = await client.getJobStatus({ jobIds });
      return new Map(Object.entries(res.jobStates).map(([id, s]) => [id, s as JobState]));
    },
    { clock },
  );
  const submitter = new SubmitBatcher(async (queue, jobSetId, jobRequestItems) => {
    const res = await client.submitJobs({ queue, jobSetId, jobRequestItems });
    // Test-only (fault matrix): Armada created the jobs, no task has read its answer yet.
    crashPoint("armada.mid-submit");
    return res;
  });
  const watches = new JobSetWatches(
    (queue, id, fromMessageId, signal) =>
      client.getJobSetEvents({ queue, id, watch: true, fromMessageId }, { resume: false, signal }),
    {
      clock,
      log: options.log ?? stderrLogger,
      target: args.target,
      // Asked when a stream would open, so the config of the process (its CLI's) at that moment counts.
      maxStreams: () => maxEventStreams(),
      ...(options.eventStreamRetryBudget !== undefined
        ? { retryBudget: options.eventStreamRetryBudget }
        : {}),
      ...(options.eventStreamBackoffMs !== undefined ? { backoffMs: options.eventStreamBackoffMs } : {}),
      ...(options.eventStreamLingerMs !== undefined ? { lingerMs: options.eventStreamLingerMs } : {}),
    },
  );
  return {
    clock,
    deadlineMs,
    client,
    batcher,
    submitter,
    failures: new JobFailureReader(() => client),
    watches,
  };
}

/** The process default pool: of hooks made outside any runner. */
export function defaultArmadaConnectionPool(): ArmadaConnectionPool {
  const slot = globalThis as Record<symbol, unknown>;
  return (slot[DEFAULT_POOL_KEY] ??= new ArmadaConnectionPool()) as ArmadaConnectionPool;
}

/**
 * Closes the process default pool and puts a fresh one in its place, so
 * hooks made afterwards (or a hook without a pool of its own, at its next
 * call) open new connections.
 */
export function closeDefaultArmadaConnectionPool(): void {
  const slot = globalThis as Record<symbol, unknown>;
  const pool = slot[DEFAULT_POOL_KEY] as ArmadaConnectionPool | undefined;
  slot[DEFAULT_POOL_KEY] = new ArmadaConnectionPool();
  pool?.close();
}
