/**
 * ArmadaHook: the operator's and trigger's way to Armada. Its client and
 * batchers come from a connection pool (its runner's, see
 * {@link ArmadaConnectionPool}): one client per channel, so many tasks share
 * one connection, status checks batched per channel, and submission that
 * never creates a second job.
 */
import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { ErrorCode } from "../common/error-code.js";
import { randomUUID } from "node:crypto";
import { type Clock, systemClock } from "../common/clock.js";
import type { ArmadaClient } from "../client/armada-client.js";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { ArmadaError, isAmbiguousSubmitFailure } from "../client/armada-error.js";
import { GrpcChannelArgs } from "../client/channel-args.js";
import { JobRunState } from "../gen/armada/job.js";
import type { JobSubmitRequestItem, JobSubmitResponseItem } from "../gen/armada/submit.js";
import {
  ArmadaOperatorCancelError,
  ArmadaOperatorQueueNotFoundError,
  ArmadaOperatorSubmitError,
} from "./errors.js";
import type { JobFailure } from "./job-failure-reader.js";
import { JobState, isTerminalJobState, jobStateName } from "../client/job-states.js";
import { RunningJobContext } from "./running-job-context.js";
import type { StatusBatcher, StatusCheckOptions } from "./status-batcher.js";
import type { SubmitBatcher } from "./submit-batcher.js";
import type { JobSetWatches, JobEventSubscription } from "./job-set-watch.js";
import type { LogSink } from "./task-log.js";
import type { ArmadaOperatorConfig } from "../runtime/runtime-config.js";
import {
  ArmadaConnectionPool,
  closeDefaultArmadaConnectionPool,
  defaultArmadaConnectionPool,
  type ArmadaChannel,
  type ArmadaChannelOptions,
} from "./connection-pool.js";

/** A job found by its external job URI. */
export interface ExistingJob {
  jobId: string;
  state: JobState;
  submittedAt: Date | undefined;
  namespace: string;
}

/** What the operator needs to know about a job beyond its state. */
export interface JobInfo {
  state: JobState;
  /** Cluster of the latest run, once the job has one. */
  cluster: string | undefined;
  /** Id of the latest run (Armada's retry engine may run a job again), once there is one. */
  runId?: string | undefined;
  /** Number of the latest run among the job's runs, 1 for the first. */
  runNumber?: number | undefined;
  /** True while the latest run is only leased: its pod does not exist yet. */
  runLeasedOnly?: boolean;
  namespace: string | undefined;
  submittedAt: Date | undefined;
}

/** Where and how to submit one job. */
export interface SubmitJobRequest {
  queue: string;
  jobSetId: string;
  item: JobSubmitRequestItem;
  /** The URI the job carries; used to find it after an ambiguous failure. */
  externalJobUri: string;
  log?: LogSink;
  /**
   * The submitter holds no task slot while it waits (a trigger): its item
   * waits longer for others to share its `SubmitJobs` call (see
   * {@link SubmitBatcher.submit}).
   */
  patient?: boolean;
}

/**
 * The operations the operator and trigger use. {@link ArmadaHook} implements
 * it against a server; tests may implement it directly.
 */
export interface ArmadaHookApi {
  submitJob(request: SubmitJobRequest): Promise<string>;
  /** The job's state, batched with other checks on the channel (`alone`: only with the checks made now). */
  getJobState(jobId: string, options?: StatusCheckOptions): Promise<JobState>;
  getJobInfo(jobId: string): Promise<JobInfo>;
  getJobTerminationReason(jobId: string): Promise<string>;
  /** The latest failed event of a job (its failure category, and whether Armada will retry it); optional. */
  getJobFailure?(queue: string, jobSetId: string, jobId: string): Promise<JobFailure | undefined>;
  cancelJob(context: RunningJobContext, log?: LogSink): Promise<RunningJobContext>;
  jobByExternalJobUri(
    queue: string,
    jobSetId: string,
    externalJobUri: string,
  ): Promise<ExistingJob | undefined>;
  /** Every job of the job set carrying `externalJobUri` (all tries of a task instance); optional. */
  jobsByExternalJobUri?(queue: string, jobSetId: string, externalJobUri: string): Promise<ExistingJob[]>;
  /**
   * The job of the job set with this URI and client id, waiting up to the
   * submit lookup grace for the query API to ingest it; undefined if none.
   */
  findSubmittedJob(
    queue: string,
    jobSetId: string,
    externalJobUri: string,
    clientId: string,
  ): Promise<string | undefined>;
  /** Stops batching status checks for a job that reached a final state. */
  forgetJob(jobId: string): void;
  /** Includes a job in batched status checks from now on (optional). */
  trackJob?(jobId: string): void;
  /**
   * When, within each poll interval, a poll of the job should check: ms
   * after each multiple of `intervalMs` (see {@link StatusBatcher.pollPhase});
   * tracks the job. Optional: without it polls check at the multiples.
   */
  pollPhaseMs?(jobId: string, intervalMs: number): number;
  /**
   * Joins the shared event stream of the job's job set (event-stream
   * tracking); undefined when the job must be polled instead (optional: a
   * hook without it always polls).
   */
  watchJobEvents?(queue: string, jobSetId: string, jobId: string): JobEventSubscription | undefined;
}

/** Options of {@link ArmadaHook}. */
export interface ArmadaHookOptions extends ArmadaChannelOptions {
  /**
   * The connections this hook shares with others (one client and batchers per
   * channel, deadline and clock).
   * @default the pool of the runner running the code that makes the hook (a task, a trigger), else the
   * process default pool (see {@link ArmadaConnectionPool})
   */
  pool?: ArmadaConnectionPool;
  /** Time source for waits and batching. @default systemClock */
  clock?: Clock;
  /** Deadline of each RPC in ms. @default 30000 */
  deadlineMs?: number;
  /**
   * After an ambiguous submit failure, how long to look for the job (the
   * query API may not have ingested it yet) before submitting again.
   * @default 30000
   */
  submitLookupGraceMs?: number;
  /** Pause between such lookups. @default 1000 */
  submitLookupIntervalMs?: number;
  /** Submissions in all, the first included, while failures stay ambiguous. @default 3 */
  maxSubmitAttempts?: number;
  /** Cancel calls in all, the first included, while they fail transiently. @default 4 */
  maxCancelAttempts?: number;
  /**
   * Pause before the second cancel call; each later pause doubles. The first
   * retry is immediate, the rest back off. @default 1000
   */
  cancelBackoffMs?: number;
}

/**
 * The hook options that come from the `[armada_operator]` settings
 * (`rpc_deadline_s`, `submit_lookup_grace_s`). The operator and its trigger
 * both take theirs from here, so a task and its trigger ask for the same
 * channel and share its client, batched status calls and event streams.
 */
export function configuredHookOptions(
  settings: Pick<ArmadaOperatorConfig, "rpc_deadline_s" | "submit_lookup_grace_s">,
): Pick<ArmadaHookOptions, "deadlineMs" | "submitLookupGraceMs"> {
  return {
    deadlineMs: settings.rpc_deadline_s * 1000,
    submitLookupGraceMs: settings.submit_lookup_grace_s * 1000,
  };
}

/** Options read once per channel, by its first hook (the channel and its streams are shared). */
type ChannelWideOption = keyof ArmadaChannelOptions;

/** Armada's answer to SubmitJobs for a queue that does not exist (PERMISSION_DENIED). */
const QUEUE_NOT_FOUND = /could not find queue "([^"]*)"/;

/**
 * Whether a failed cancel is worth sending again. Cancelling is idempotent,
 * so besides the transient failures an unknown outcome (UNKNOWN, INTERNAL)
 * is safe to retry too; a refusal (permission, bad argument) is not.
 */
function isRetryableCancelFailure(err: ArmadaError): boolean {
  return err.isTransient || err.code === GrpcStatus.UNKNOWN || err.code === GrpcStatus.INTERNAL;
}

function positiveOption(name: string, value: number): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new ArmadaAirflowError(
      ErrorCode.InvalidArgument,
      `ArmadaHook option ${name} must be a number > 0, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/**
 * Closes the clients and event streams of the process default pool: those
 * of hooks made outside any runner (for tests and clean shutdown). A
 * runner's pool is closed by the runner, when it stops.
 */
export function closeArmadaHookClients(): void {
  closeDefaultArmadaConnectionPool();
}

function latest<T extends { submittedAt: Date | undefined }>(items: T[]): T | undefined {
  return [...items].sort((a, b) => (b.submittedAt?.getTime() ?? 0) - (a.submittedAt?.getTime() ?? 0))[0];
}

/** See the module comment. */
export class ArmadaHook implements ArmadaHookApi {
  readonly channelArgs: GrpcChannelArgs;
  private readonly clock: Clock;
  private readonly options: Required<Omit<ArmadaHookOptions, "clock" | "pool" | ChannelWideOption>>;
  private readonly channelOptions: ArmadaHookOptions;
  /** The pool given, or the runner's found when the hook was made; undefined: the process default. */
  private readonly ownPool: ArmadaConnectionPool | undefined;
  private shared: { pool: ArmadaConnectionPool; channel: ArmadaChannel } | undefined;

  constructor(channelArgs: GrpcChannelArgs, options: ArmadaHookOptions = {}) {
    if (!(channelArgs instanceof GrpcChannelArgs)) {
      throw new ArmadaAirflowError(
        ErrorCode.InvalidArgument,
        'channelArgs must be a GrpcChannelArgs, e.g. new GrpcChannelArgs({ target: "armada.example.com:50051" })',
      );
    }
    this.channelArgs = channelArgs;
    this.clock = options.clock ?? systemClock;
    // Checked here, before any call: a deadline of 0 would make every call
    // time out at once, and a submit whose outcome is unknown loops on look-ups.
    this.options = {
      deadlineMs: positiveOption("deadlineMs", options.deadlineMs ?? 30_000),
      submitLookupGraceMs: options.submitLookupGraceMs ?? 30_000,
      submitLookupIntervalMs: options.submitLookupIntervalMs ?? 1000,
      maxSubmitAttempts: options.maxSubmitAttempts ?? 3,
      maxCancelAttempts: Math.floor(positiveOption("maxCancelAttempts", options.maxCancelAttempts ?? 4)),
      cancelBackoffMs: options.cancelBackoffMs ?? 1000,
    };
    this.channelOptions = options;
    // Found now: a hook is made where it is used (a task's execute, a trigger's run), in its runner's scope.
    this.ownPool = options.pool ?? ArmadaConnectionPool.ofCurrentRunner();
  }

  /**
   * The pool this hook's channel is in: the one given, else that of the
   * runner it was made in, else the process default pool (looked up at each
   * use, so one closed by {@link closeArmadaHookClients} is replaced). Once
   * the pool is closed, calls through the hook throw a `failed_precondition`
   * error.
   */
  get pool(): ArmadaConnectionPool {
    return this.ownPool ?? defaultArmadaConnectionPool();
  }

  /** The shared client of this channel. */
  get client(): ArmadaClient {
    return this.channel().client;
  }

  /** The shared submit batcher of this channel (`SubmitJobs` calls shared by the tasks submitting at once). */
  get submitter(): SubmitBatcher {
    return this.channel().submitter;
  }

  /** The shared job-set event streams of this channel (tracking `events`). */
  get eventStreams(): JobSetWatches {
    return this.channel().watches;
  }

  /** The shared status batcher of this channel. */
  get statusBatcher(): StatusBatcher {
    return this.channel().batcher;
  }

  private channel(): ArmadaChannel {
    const pool = this.pool;
    if (this.shared?.pool === pool && !pool.closed) return this.shared.channel;
    const channel = pool.channelFor(
      this.channelArgs,
      this.clock,
      this.options.deadlineMs,
      this.channelOptions,
    );
    this.shared = { pool, channel };
    return channel;
  }

  /**
   * Submits one job and returns its id. When the outcome of a submission is
   * unknown (deadline passed, connection lost after sending), looks the job
   * up by its external job URI and client id before submitting again, so a
   * job is never created twice.
   */
  async submitJob(request: SubmitJobRequest): Promise<string> {
    // The client id identifies this submission among jobs with the same URI
    // (an earlier try's job, say); Armada also de-duplicates on it.
    const item: JobSubmitRequestItem = { ...request.item, clientId: request.item.clientId || randomUUID() };
    // Outside the try: a channel that cannot be built (an unreadable TLS
    // file, say) sent nothing, so it is an error, never an unknown outcome.
    const submitter = this.submitter;
    let lastError: unknown;
    for (let attempt = 1; attempt <= this.options.maxSubmitAttempts; attempt++) {
      let one: JobSubmitResponseItem;
      try {
        // Shared with the other tasks submitting to this queue and job set now: one call for many.
        one = await submitter.submit(request.queue, request.jobSetId, item, request.patient === true);
      } catch (err) {
        const missing =
          err instanceof ArmadaError &&
          err.code === GrpcStatus.PERMISSION_DENIED &&
          QUEUE_NOT_FOUND.exec(err.details);
        if (missing)
          throw new ArmadaOperatorQueueNotFoundError(missing[1] || request.queue, request.jobSetId, {
            cause: err,
          });
        if (!isAmbiguousSubmitFailure(err)) throw err;
        lastError = err;
        request.log?.warn(
          `SubmitJobs outcome unknown (${err instanceof Error ? err.message : String(err)}); ` +
            `looking the job up by its external job URI ${request.externalJobUri} before submitting again`,
        );
        const found = await this.findSubmittedJob(
          request.queue,
          request.jobSetId,
          request.externalJobUri,
          item.clientId,
        );
        if (found) {
          request.log?.info(
            `Found job ${found} created by the submission whose outcome was unknown; not submitting again.`,
          );
          return found;
        }
        continue;
      }
      // An answer is definite: Armada created the job, or said why not.
      if (one.error) throw new ArmadaOperatorSubmitError(request.queue, request.jobSetId, 0, one.error);
      return one.jobId;
    }
    throw lastError;
  }

  /** See {@link ArmadaHookApi.findSubmittedJob}. */
  async findSubmittedJob(
    queue: string,
    jobSetId: string,
    uri: string,
    clientId: string,
  ): Promise<string | undefined> {
    const deadline = this.clock.nowMs() + this.options.submitLookupGraceMs;
    for (;;) {
      try {
        const res = await this.client.getJobStatusUsingExternalJobUri({
          queue,
          jobset: jobSetId,
          externalJobUri: uri,
        });
        const ids = Object.keys(res.jobStates);
        if (ids.length > 0) {
          const details = await this.client.getJobDetails({ jobIds: ids, expandJobSpec: true });
          const match = Object.values(details.jobDetails).find((d) => d.jobSpec?.clientId === clientId);
          if (match) return match.jobId;
        }
      } catch {
        // The lookup itself failed (server still unreachable): keep looking until the grace ends.
      }
      if (this.clock.nowMs() >= deadline) return undefined;
      await this.clock.sleep(Math.min(this.options.submitLookupIntervalMs, deadline - this.clock.nowMs()));
    }
  }

  /** The job's state; checks of all jobs on this channel are batched into one GetJobStatus call. */
  async getJobState(jobId: string, options?: StatusCheckOptions): Promise<JobState> {
    const state = await this.statusBatcher.getState(jobId, options);
    if (isTerminalJobState(state)) this.statusBatcher.finished(jobId);
    return state;
  }

  /** State, latest run's cluster, namespace and submission time. */
  async getJobInfo(jobId: string): Promise<JobInfo> {
    const res = await this.client.getJobDetails({ jobIds: [jobId], expandJobRun: true });
    const d = res.jobDetails[jobId];
    if (!d) {
      return {
        state: JobState.UNKNOWN,
        cluster: undefined,
        runId: undefined,
        runNumber: undefined,
        namespace: undefined,
        submittedAt: undefined,
      };
    }
    const index = d.jobRuns.findIndex((r) => r.runId === d.latestRunId);
    const at = index >= 0 ? index : d.jobRuns.length - 1;
    const run = d.jobRuns[at];
    return {
      state: d.state,
      cluster: run?.cluster || undefined,
      runId: run?.runId || undefined,
      runNumber: run ? at + 1 : undefined,
      runLeasedOnly: run?.state === JobRunState.RUN_STATE_LEASED,
      namespace: d.namespace || undefined,
      submittedAt: d.submittedTs,
    };
  }

  /** See {@link ArmadaHookApi.getJobFailure}: read from the job set's events, each event once per process. */
  async getJobFailure(queue: string, jobSetId: string, jobId: string): Promise<JobFailure | undefined> {
    return this.channel().failures.latestFailure(queue, jobSetId, jobId);
  }

  /** Armada's reason for a failed, preempted or rejected job ("" when none). */
  async getJobTerminationReason(jobId: string): Promise<string> {
    const res = await this.client.getJobErrors({ jobIds: [jobId] });
    return res.jobErrors[jobId] ?? "";
  }

  /**
   * Cancels the job and returns its context with the state that is true
   * afterwards: CANCELLED once Armada accepted the cancel; the job's own
   * state when Armada cancelled nothing (it had already ended). A failing
   * cancel call is retried while the failure is transient (cancelling is
   * idempotent), up to `maxCancelAttempts`; then, or when Armada refuses it,
   * {@link ArmadaOperatorCancelError} is thrown: the job may still be running.
   */
  async cancelJob(context: RunningJobContext, log?: LogSink): Promise<RunningJobContext> {
    const max = this.options.maxCancelAttempts;
    for (let attempt = 1; ; attempt++) {
      let cancelled: string[];
      try {
        const res = await this.client.cancelJobs({
          queue: context.armadaQueue,
          jobSetId: context.jobSetId,
          jobId: context.jobId,
        });
        cancelled = res.cancelledIds;
      } catch (raw) {
        const err = ArmadaError.from(raw);
        const retry = attempt < max && isRetryableCancelFailure(err);
        // The first retry is immediate; later ones back off (1x, 2x, 4x ...).
        const waitMs = attempt === 1 ? 0 : this.options.cancelBackoffMs * 2 ** (attempt - 2);
        log?.warn(
          `Failed to cancel Armada job ${context.jobId} (attempt ${attempt} of ${max}): ${err.message.replace(/\.$/, "")}` +
            (retry ? `; trying again${waitMs > 0 ? ` in ${waitMs / 1000}s` : ""}` : ""),
        );
        if (!retry) {
          throw new ArmadaOperatorCancelError(context.armadaQueue, context.jobId, context.jobState, attempt, {
            cause: err,
          });
        }
        if (waitMs > 0) await this.clock.sleep(waitMs);
        continue;
      }
      if (cancelled.includes(context.jobId)) {
        log?.info(`Cancelled Armada job(s) ${cancelled.join(", ")}`);
        this.statusBatcher.untrack(context.jobId);
        return context.with({ jobState: JobState.CANCELLED });
      }
      return this.afterNothingCancelled(context, log);
    }
  }

  /** Armada cancelled nothing: the job has ended (or is unknown); report the state it is in. */
  private async afterNothingCancelled(context: RunningJobContext, log?: LogSink): Promise<RunningJobContext> {
    let state: JobState;
    try {
      const res = await this.client.getJobStatus({ jobIds: [context.jobId] });
      state = (res.jobStates[context.jobId] ?? JobState.UNKNOWN) as JobState;
    } catch (err) {
      log?.warn(
        `Armada cancelled nothing for job ${context.jobId}, and its state could not be read ` +
          `(${err instanceof Error ? err.message : String(err)}); keeping the last known state ${context.jobState}`,
      );
      return context;
    }
    log?.warn(`Armada cancelled nothing for job ${context.jobId}: it is in state ${jobStateName(state)}`);
    if (isTerminalJobState(state)) this.statusBatcher.untrack(context.jobId);
    return context.with({ jobState: state });
  }

  /** The most recently submitted job of the job set carrying `externalJobUri`, if any. */
  async jobByExternalJobUri(
    queue: string,
    jobSetId: string,
    externalJobUri: string,
  ): Promise<ExistingJob | undefined> {
    return latest(await this.jobsByExternalJobUri(queue, jobSetId, externalJobUri));
  }

  /** Every job of the job set carrying `externalJobUri`, with its state. */
  async jobsByExternalJobUri(
    queue: string,
    jobSetId: string,
    externalJobUri: string,
  ): Promise<ExistingJob[]> {
    const res = await this.client.getJobStatusUsingExternalJobUri({
      queue,
      jobset: jobSetId,
      externalJobUri,
    });
    const ids = Object.keys(res.jobStates);
    if (ids.length === 0) return [];
    const details = await this.client.getJobDetails({ jobIds: ids });
    return ids.map((id) => {
      const d = details.jobDetails[id];
      return {
        jobId: id,
        state: (d?.state ?? res.jobStates[id]) as JobState,
        submittedAt: d?.submittedTs,
        namespace: d?.namespace ?? "",
      };
    });
  }

  /** Starts batching this job's status with the others on the channel. */
  trackJob(jobId: string): void {
    this.statusBatcher.track(jobId);
  }

  forgetJob(jobId: string): void {
    this.statusBatcher.untrack(jobId);
  }

  /** See {@link ArmadaHookApi.pollPhaseMs}: the job's group's phase in this channel's poll rounds. */
  pollPhaseMs(jobId: string, intervalMs: number): number {
    return this.statusBatcher.pollPhase(jobId, intervalMs);
  }

  /** See {@link ArmadaHookApi.watchJobEvents}: the channel's shared stream of the job set. */
  watchJobEvents(queue: string, jobSetId: string, jobId: string): JobEventSubscription | undefined {
    return this.channel().watches.subscribe(queue, jobSetId, jobId);
  }
}

/**
 * The jobs carrying `externalJobUri` in the job set that have not ended:
 * every one when the hook can list them all, else the latest.
 */
export async function liveJobsByExternalJobUri(
  hook: ArmadaHookApi,
  queue: string,
  jobSetId: string,
  externalJobUri: string,
): Promise<ExistingJob[]> {
  const jobs = hook.jobsByExternalJobUri
    ? await hook.jobsByExternalJobUri(queue, jobSetId, externalJobUri)
    : [await hook.jobByExternalJobUri(queue, jobSetId, externalJobUri)].filter((j) => j !== undefined);
  return jobs.filter((j) => !isTerminalJobState(j.state));
}
