/**
 * ArmadaHook: the operator's and trigger's way to Armada. One cached client
 * per channel (so many tasks share one connection), status checks batched
 * per channel, and submission that never creates a second job.
 */
import { randomUUID } from "node:crypto";
import { type Clock, systemClock } from "../common/clock.js";
import { ArmadaClient } from "../client/armada-client.js";
import { isAmbiguousSubmitFailure } from "../client/armada-error.js";
import { GrpcChannelArgs } from "../client/channel-args.js";
import type { JobSubmitRequestItem, JobSubmitResponse } from "../gen/armada/submit.js";
import { JobState, isTerminalJobState, jobStateName } from "./job-states.js";
import { RunningJobContext } from "./running-job-context.js";
import { StatusBatcher } from "./status-batcher.js";
import type { LogSink } from "./task-log.js";

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
}

/**
 * The operations the operator and trigger use. {@link ArmadaHook} implements
 * it against a server; tests may implement it directly.
 */
export interface ArmadaHookApi {
  submitJob(request: SubmitJobRequest): Promise<string>;
  getJobState(jobId: string): Promise<JobState>;
  getJobInfo(jobId: string): Promise<JobInfo>;
  getJobTerminationReason(jobId: string): Promise<string>;
  cancelJob(context: RunningJobContext, log?: LogSink): Promise<RunningJobContext>;
  jobByExternalJobUri(queue: string, jobSetId: string, externalJobUri: string): Promise<ExistingJob | undefined>;
  /** Every job of the job set carrying `externalJobUri` (all tries of a task instance); optional. */
  jobsByExternalJobUri?(queue: string, jobSetId: string, externalJobUri: string): Promise<ExistingJob[]>;
  /**
   * The job of the job set with this URI and client id, waiting up to the
   * submit lookup grace for the query API to ingest it; undefined if none.
   */
  findSubmittedJob(queue: string, jobSetId: string, externalJobUri: string, clientId: string): Promise<string | undefined>;
  /** Stops batching status checks for a job that reached a final state. */
  forgetJob(jobId: string): void;
  /** Includes a job in batched status checks from now on (optional). */
  trackJob?(jobId: string): void;
}

/** Options of {@link ArmadaHook}. */
export interface ArmadaHookOptions {
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
}

interface SharedChannel {
  client: ArmadaClient;
  batcher: StatusBatcher;
}

const CHANNELS_KEY = Symbol.for("armada-airflow.operator.channels");
// One client per channel per process, shared by every task and trigger.
const channels: Map<string, SharedChannel[]> = ((globalThis as Record<symbol, unknown>)[CHANNELS_KEY] ??= new Map<
  string,
  SharedChannel[]
>()) as Map<string, SharedChannel[]>;

function channelFor(args: GrpcChannelArgs, clock: Clock, deadlineMs: number): SharedChannel {
  const key = JSON.stringify(args.serialize());
  const list = channels.get(key) ?? [];
  // Equal serializations can still differ in secrets; only share equal args.
  const found = list.find((c) => c.client.channelArgs === args || c.client.channelArgs.equals(args));
  if (found) return found;
  const client = new ArmadaClient(args, { defaultDeadlineMs: deadlineMs });
  const batcher = new StatusBatcher(async (jobIds) => {
    const res = await client.getJobStatus({ jobIds });
    return new Map(Object.entries(res.jobStates).map(([id, s]) => [id, s as JobState]));
  }, { clock });
  const shared = { client, batcher };
  list.push(shared);
  channels.set(key, list);
  return shared;
}

/** Closes every cached client (for tests and clean shutdown). */
export function closeArmadaHookClients(): void {
  for (const list of channels.values()) for (const c of list) c.client.close();
  channels.clear();
}

function latest<T extends { submittedAt: Date | undefined }>(items: T[]): T | undefined {
  return [...items].sort((a, b) => (b.submittedAt?.getTime() ?? 0) - (a.submittedAt?.getTime() ?? 0))[0];
}

/** See the module comment. */
export class ArmadaHook implements ArmadaHookApi {
  readonly channelArgs: GrpcChannelArgs;
  private readonly clock: Clock;
  private readonly options: Required<Omit<ArmadaHookOptions, "clock">>;
  private shared: SharedChannel | undefined;

  constructor(channelArgs: GrpcChannelArgs, options: ArmadaHookOptions = {}) {
    if (!(channelArgs instanceof GrpcChannelArgs)) {
      throw new TypeError(
        'channelArgs must be a GrpcChannelArgs, e.g. new GrpcChannelArgs({ target: "armada.example.com:50051" })',
      );
    }
    this.channelArgs = channelArgs;
    this.clock = options.clock ?? systemClock;
    this.options = {
      deadlineMs: options.deadlineMs ?? 30_000,
      submitLookupGraceMs: options.submitLookupGraceMs ?? 30_000,
      submitLookupIntervalMs: options.submitLookupIntervalMs ?? 1000,
      maxSubmitAttempts: options.maxSubmitAttempts ?? 3,
    };
  }

  /** The shared client of this channel. */
  get client(): ArmadaClient {
    return this.channel().client;
  }

  /** The shared status batcher of this channel. */
  get statusBatcher(): StatusBatcher {
    return this.channel().batcher;
  }

  private channel(): SharedChannel {
    return (this.shared ??= channelFor(this.channelArgs, this.clock, this.options.deadlineMs));
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
    let lastError: unknown;
    for (let attempt = 1; attempt <= this.options.maxSubmitAttempts; attempt++) {
      let res: JobSubmitResponse;
      try {
        res = await this.client.submitJobs({ queue: request.queue, jobSetId: request.jobSetId, jobRequestItems: [item] });
      } catch (err) {
        if (!isAmbiguousSubmitFailure(err)) throw err;
        lastError = err;
        request.log?.warn(
          `SubmitJobs outcome unknown (${err instanceof Error ? err.message : String(err)}); ` +
            `looking the job up by its external job URI ${request.externalJobUri} before submitting again`,
        );
        const found = await this.findSubmittedJob(request.queue, request.jobSetId, request.externalJobUri, item.clientId);
        if (found) {
          request.log?.info(`Found job ${found} created by the submission whose outcome was unknown; not submitting again.`);
          return found;
        }
        continue;
      }
      // An answer is definite: Armada created the job, or said why not.
      if (res.jobResponseItems.length !== 1) {
        throw new Error(`Armada answered SubmitJobs with ${res.jobResponseItems.length} items; expected exactly 1`);
      }
      const [one] = res.jobResponseItems;
      if (one!.error) throw new Error(`Error submitting job to Armada: ${one!.error}`);
      return one!.jobId;
    }
    throw lastError;
  }

  /** See {@link ArmadaHookApi.findSubmittedJob}. */
  async findSubmittedJob(queue: string, jobSetId: string, uri: string, clientId: string): Promise<string | undefined> {
    const deadline = this.clock.nowMs() + this.options.submitLookupGraceMs;
    for (;;) {
      try {
        const res = await this.client.getJobStatusUsingExternalJobUri({ queue, jobset: jobSetId, externalJobUri: uri });
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
  async getJobState(jobId: string): Promise<JobState> {
    const state = await this.statusBatcher.getState(jobId);
    if (isTerminalJobState(state)) this.statusBatcher.untrack(jobId);
    return state;
  }

  /** State, latest run's cluster, namespace and submission time. */
  async getJobInfo(jobId: string): Promise<JobInfo> {
    const res = await this.client.getJobDetails({ jobIds: [jobId], expandJobRun: true });
    const d = res.jobDetails[jobId];
    if (!d) return { state: JobState.UNKNOWN, cluster: undefined, namespace: undefined, submittedAt: undefined };
    const run = d.jobRuns.find((r) => r.runId === d.latestRunId) ?? d.jobRuns.at(-1);
    return {
      state: d.state,
      cluster: run?.cluster || undefined,
      namespace: d.namespace || undefined,
      submittedAt: d.submittedTs,
    };
  }

  /** Armada's reason for a failed, preempted or rejected job ("" when none). */
  async getJobTerminationReason(jobId: string): Promise<string> {
    const res = await this.client.getJobErrors({ jobIds: [jobId] });
    return res.jobErrors[jobId] ?? "";
  }

  /** Cancels the job; returns the context marked CANCELLED. A failure is logged, not thrown. */
  async cancelJob(context: RunningJobContext, log?: LogSink): Promise<RunningJobContext> {
    try {
      const res = await this.client.cancelJobs({
        queue: context.armadaQueue,
        jobSetId: context.jobSetId,
        jobId: context.jobId,
      });
      if (res.cancelledIds.length > 0) log?.info(`Cancelled Armada job(s) ${res.cancelledIds.join(", ")}`);
      else log?.warn(`Armada cancelled nothing for job ${context.jobId} (already finished?)`);
    } catch (err) {
      log?.warn(`Failed to cancel Armada job ${context.jobId}: ${err instanceof Error ? err.message : String(err)}`);
    }
    this.statusBatcher.untrack(context.jobId);
    return context.with({ jobState: jobStateName(JobState.CANCELLED) });
  }

  /** The most recently submitted job of the job set carrying `externalJobUri`, if any. */
  async jobByExternalJobUri(queue: string, jobSetId: string, externalJobUri: string): Promise<ExistingJob | undefined> {
    return latest(await this.jobsByExternalJobUri(queue, jobSetId, externalJobUri));
  }

  /** Every job of the job set carrying `externalJobUri`, with its state. */
  async jobsByExternalJobUri(queue: string, jobSetId: string, externalJobUri: string): Promise<ExistingJob[]> {
    const res = await this.client.getJobStatusUsingExternalJobUri({ queue, jobset: jobSetId, externalJobUri });
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
}
