import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { ErrorCode } from "../common/error-code.js";
import { type Client, type ClientReadableStream, Metadata, status as GrpcStatus } from "@grpc/grpc-js";
import { type Clock, systemClock } from "../common/clock.js";
import { type EventStreamMessage, EventService, JobSetRequest } from "../gen/armada/event.js";
import type { HealthCheckResponse } from "../gen/armada/health.js";
import {
  type GetActiveQueuesResponse,
  type JobDetailsResponse,
  type JobErrorsResponse,
  type JobRunDetailsResponse,
  type JobStatusResponse,
  GetActiveQueuesRequest,
  JobDetailsRequest,
  JobErrorsRequest,
  JobRunDetailsRequest,
  JobStatusRequest,
  JobStatusUsingExternalJobUriRequest,
  JobsService,
} from "../gen/armada/job.js";
import {
  type BatchQueueCreateResponse,
  type BatchQueueUpdateResponse,
  type CancellationResult,
  type DeepPartial,
  type JobReprioritizeResponse,
  type JobSubmitResponse,
  type PreemptionResult,
  type StreamingQueueMessage,
  JobCancelRequest,
  JobPreemptRequest,
  JobReprioritizeRequest,
  JobSetCancelRequest,
  JobSubmitRequest,
  Queue,
  QueueDeleteRequest,
  QueueGetRequest,
  QueueList,
  QueueServiceService,
  RetryPolicy as ArmadaRetryPolicy,
  RetryPolicyDeleteRequest,
  RetryPolicyGetRequest,
  RetryPolicyListRequest,
  RetryPolicyServiceService,
  type RetryPolicyList,
  StreamingQueueGetRequest,
  SubmitService,
} from "../gen/armada/submit.js";
import type { Empty } from "../gen/google/protobuf/empty.js";
import { ArmadaError } from "./armada-error.js";
import type { GrpcChannelArgs } from "./channel-args.js";
import { type ArmadaChannel, openArmadaChannel } from "./grpc-channel.js";
import { type JobRequestItemInput, toJobSubmitRequestItem } from "./job-request-item-input.js";
import { type RetryPolicy, backoffMs, resolveRetryPolicy } from "./retry-policy.js";

/** Per-call options. */
export interface CallOptions {
  /** Time allowed for the whole call, retries included, in ms. @default the client's defaultDeadlineMs for unary calls, none for streams */
  deadlineMs?: number;
  /** Aborts the call: unary calls reject with CANCELLED; the job-set event stream ends cleanly. */
  signal?: AbortSignal;
}

/** Options of {@link ArmadaClient}. */
export interface ArmadaClientOptions {
  /** Clock for retry backoff. @default systemClock */
  clock?: Clock;
  /** Retry policy of read calls. @default {@link defaultRetryPolicy} */
  retry?: Partial<RetryPolicy>;
  /** Deadline of unary calls without their own. @default 30_000 */
  defaultDeadlineMs?: number;
  /** Told before each retry or stream resumption wait (for logging; the error holds no secret). @default none */
  onRetry?: (info: RetryInfo) => void;
}

/** What {@link ArmadaClientOptions.onRetry} is told. */
export interface RetryInfo {
  /** RPC name. */
  method: string;
  /** Consecutive failures so far. */
  failures: number;
  /** Wait before the next attempt, in ms. */
  delayMs: number;
  /** The failure being retried. */
  error: ArmadaError;
}

/** A `JobSubmitRequest` whose items may also be written as Kubernetes-native objects or YAML/JSON strings. */
export type JobSubmitRequestInput = Omit<DeepPartial<JobSubmitRequest>, "jobRequestItems"> & {
  jobRequestItems?: JobRequestItemInput[];
};

/** A generated grpc-js method definition (path plus codecs). */
interface MethodDef<Req, Res> {
  path: string;
  requestSerialize: (value: Req) => Buffer;
  responseDeserialize: (value: Buffer) => Res;
}

const METHOD_NAME = (path: string) => path.slice(path.lastIndexOf("/") + 1);

/**
 * Client of the Armada gRPC API (Submit, QueueService, RetryPolicyService, Jobs, Event): one
 * channel, promise methods with per-call deadline and AbortSignal, async
 * iterators for streams. Reads retry transient failures with backoff; writes
 * never retry (see {@link isAmbiguousSubmitFailure}). Every failure is an
 * {@link ArmadaError}.
 */
export class ArmadaClient {
  /** The channel arguments this client was built from. */
  readonly channelArgs: GrpcChannelArgs;
  readonly #channel: ArmadaChannel;
  readonly #grpc: Client;
  readonly #clock: Clock;
  readonly #retry: Readonly<RetryPolicy>;
  readonly #defaultDeadlineMs: number;
  readonly #onRetry: ((info: RetryInfo) => void) | undefined;
  #closed = false;

  constructor(channelArgs: GrpcChannelArgs, opts: ArmadaClientOptions = {}) {
    if (typeof channelArgs !== "object" || channelArgs === null || typeof channelArgs.target !== "string") {
      throw new ArmadaAirflowError(
        ErrorCode.InvalidArgument,
        'ArmadaClient needs GrpcChannelArgs: new ArmadaClient(new GrpcChannelArgs({ target: "host:50051" }))',
      );
    }
    this.channelArgs = channelArgs;
    this.#clock = opts.clock ?? systemClock;
    this.#retry = resolveRetryPolicy(opts.retry);
    const d = opts.defaultDeadlineMs ?? 30_000;
    if (!Number.isFinite(d) || d <= 0)
      throw new ArmadaAirflowError(
        ErrorCode.InvalidArgument,
        `ArmadaClient defaultDeadlineMs must be a positive number of ms, got ${d}`,
      );
    this.#defaultDeadlineMs = d;
    this.#onRetry = opts.onRetry;
    this.#channel = openArmadaChannel(channelArgs);
    this.#grpc = this.#channel.client;
  }

  /** Closes the channel; later calls fail with FAILED_PRECONDITION. */
  close(): void {
    this.#closed = true;
    this.#grpc.close();
  }

  // ---- Submit ----

  /**
   * Submits jobs. Never retried: on failure check {@link isAmbiguousSubmitFailure}
   * and look the job up by its external job URI before submitting again.
   * Items may be proto-form partials, Kubernetes-native objects or YAML/JSON strings.
   */
  async submitJobs(request: JobSubmitRequestInput, opts?: CallOptions): Promise<JobSubmitResponse> {
    const { jobRequestItems, ...rest } = request;
    const msg = JobSubmitRequest.fromPartial(rest as DeepPartial<JobSubmitRequest>);
    msg.jobRequestItems = (jobRequestItems ?? []).map((item, i) =>
      toJobSubmitRequestItem(item, `jobRequestItems[${i}]`),
    );
    return this.#unary(SubmitService.submitJobs, msg, opts, false);
  }

  /** Cancels jobs by id, or a whole job set when only `jobSetId` is given. */
  async cancelJobs(request: DeepPartial<JobCancelRequest>, opts?: CallOptions): Promise<CancellationResult> {
    return this.#unary(SubmitService.cancelJobs, JobCancelRequest.fromPartial(request), opts, false);
  }

  /** Cancels the jobs of a job set, optionally only those in some states. */
  async cancelJobSet(request: DeepPartial<JobSetCancelRequest>, opts?: CallOptions): Promise<Empty> {
    return this.#unary(SubmitService.cancelJobSet, JobSetCancelRequest.fromPartial(request), opts, false);
  }

  /** Changes the priority of jobs. */
  async reprioritizeJobs(
    request: DeepPartial<JobReprioritizeRequest>,
    opts?: CallOptions,
  ): Promise<JobReprioritizeResponse> {
    return this.#unary(
      SubmitService.reprioritizeJobs,
      JobReprioritizeRequest.fromPartial(request),
      opts,
      false,
    );
  }

  /** Preempts running jobs. */
  async preemptJobs(request: DeepPartial<JobPreemptRequest>, opts?: CallOptions): Promise<PreemptionResult> {
    return this.#unary(SubmitService.preemptJobs, JobPreemptRequest.fromPartial(request), opts, false);
  }

  /** Health of the submit API. */
  async health(opts?: CallOptions): Promise<HealthCheckResponse> {
    return this.#unary(SubmitService.health, {}, opts, false);
  }

  // ---- QueueService ----

  /** Creates a queue. */
  async createQueue(queue: DeepPartial<Queue>, opts?: CallOptions): Promise<Empty> {
    return this.#unary(QueueServiceService.createQueue, Queue.fromPartial(queue), opts, false);
  }

  /** Creates several queues; per-queue failures are in the response. */
  async createQueues(request: DeepPartial<QueueList>, opts?: CallOptions): Promise<BatchQueueCreateResponse> {
    return this.#unary(QueueServiceService.createQueues, QueueList.fromPartial(request), opts, false);
  }

  /** Replaces a queue's settings. */
  async updateQueue(queue: DeepPartial<Queue>, opts?: CallOptions): Promise<Empty> {
    return this.#unary(QueueServiceService.updateQueue, Queue.fromPartial(queue), opts, false);
  }

  /** Updates several queues; per-queue failures are in the response. */
  async updateQueues(request: DeepPartial<QueueList>, opts?: CallOptions): Promise<BatchQueueUpdateResponse> {
    return this.#unary(QueueServiceService.updateQueues, QueueList.fromPartial(request), opts, false);
  }

  /** Deletes a queue. */
  async deleteQueue(request: DeepPartial<QueueDeleteRequest>, opts?: CallOptions): Promise<Empty> {
    return this.#unary(QueueServiceService.deleteQueue, QueueDeleteRequest.fromPartial(request), opts, false);
  }

  /** One queue by name. */
  async getQueue(request: DeepPartial<QueueGetRequest>, opts?: CallOptions): Promise<Queue> {
    return this.#unary(QueueServiceService.getQueue, QueueGetRequest.fromPartial(request), opts, true);
  }

  /**
   * All queues, streamed until the server's end marker. Retried only before
   * the first queue arrives (a retry later could repeat queues). Abort rejects
   * with CANCELLED.
   */
  async *getQueues(
    request: DeepPartial<StreamingQueueGetRequest> = {},
    opts: CallOptions = {},
  ): AsyncGenerator<Queue, void, undefined> {
    const def = QueueServiceService.getQueues;
    const method = METHOD_NAME(def.path);
    const req = StreamingQueueGetRequest.fromPartial(request);
    const start = this.#clock.nowMs();
    for (let failures = 0; ;) {
      const call = this.#openStream(def, req, this.#remainingDeadline(opts.deadlineMs, start, method));
      const onAbort = () => call.cancel();
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      let received = 0;
      try {
        if (opts.signal?.aborted) call.cancel();
        for await (const m of call as AsyncIterable<StreamingQueueMessage>) {
          if (m.event?.$case === "end") return;
          if (m.event?.$case === "queue") {
            received++;
            yield m.event.value;
          }
        }
        return;
      } catch (e) {
        const err = this.#toError(e, method, opts);
        failures++;
        if (received > 0 || !this.#shouldRetry(err, failures, opts)) throw err;
        await this.#backoff(failures, method, opts, err);
      } finally {
        opts.signal?.removeEventListener("abort", onAbort);
        call.cancel();
      }
    }
  }

  // ---- RetryPolicyService ----

  /**
   * Creates a retry policy (Armada's retry engine; attach it to a queue through
   * the queue's `retryPolicies`). ALREADY_EXISTS when the name is taken. Not retried.
   */
  async createRetryPolicy(policy: DeepPartial<ArmadaRetryPolicy>, opts?: CallOptions): Promise<Empty> {
    return this.#unary(
      RetryPolicyServiceService.createRetryPolicy,
      ArmadaRetryPolicy.fromPartial(policy),
      opts,
      false,
    );
  }

  /** Replaces a retry policy; NOT_FOUND when there is none of that name. Not retried. */
  async updateRetryPolicy(policy: DeepPartial<ArmadaRetryPolicy>, opts?: CallOptions): Promise<Empty> {
    return this.#unary(
      RetryPolicyServiceService.updateRetryPolicy,
      ArmadaRetryPolicy.fromPartial(policy),
      opts,
      false,
    );
  }

  /** Deletes a retry policy; refused while a queue still names it. Not retried. */
  async deleteRetryPolicy(
    request: DeepPartial<RetryPolicyDeleteRequest>,
    opts?: CallOptions,
  ): Promise<Empty> {
    return this.#unary(
      RetryPolicyServiceService.deleteRetryPolicy,
      RetryPolicyDeleteRequest.fromPartial(request),
      opts,
      false,
    );
  }

  /** One retry policy by name. Retried. */
  async getRetryPolicy(
    request: DeepPartial<RetryPolicyGetRequest>,
    opts?: CallOptions,
  ): Promise<ArmadaRetryPolicy> {
    return this.#unary(
      RetryPolicyServiceService.getRetryPolicy,
      RetryPolicyGetRequest.fromPartial(request),
      opts,
      true,
    );
  }

  /** Every retry policy. Retried. */
  async getRetryPolicies(opts?: CallOptions): Promise<RetryPolicyList> {
    return this.#unary(
      RetryPolicyServiceService.getRetryPolicies,
      RetryPolicyListRequest.fromPartial({}),
      opts,
      true,
    );
  }

  // ---- Jobs (query API) ----

  /** States of jobs by id (UNKNOWN for a job the query API has not ingested yet). Retried. */
  async getJobStatus(request: DeepPartial<JobStatusRequest>, opts?: CallOptions): Promise<JobStatusResponse> {
    return this.#unary(JobsService.getJobStatus, JobStatusRequest.fromPartial(request), opts, true);
  }

  /** States of the jobs of a job set with a given external job URI. Retried. */
  async getJobStatusUsingExternalJobUri(
    request: DeepPartial<JobStatusUsingExternalJobUriRequest>,
    opts?: CallOptions,
  ): Promise<JobStatusResponse> {
    return this.#unary(
      JobsService.getJobStatusUsingExternalJobUri,
      JobStatusUsingExternalJobUriRequest.fromPartial(request),
      opts,
      true,
    );
  }

  /** Details of jobs by id, optionally with job spec and runs. Retried. */
  async getJobDetails(
    request: DeepPartial<JobDetailsRequest>,
    opts?: CallOptions,
  ): Promise<JobDetailsResponse> {
    return this.#unary(JobsService.getJobDetails, JobDetailsRequest.fromPartial(request), opts, true);
  }

  /** Details of job runs by run id. Retried. */
  async getJobRunDetails(
    request: DeepPartial<JobRunDetailsRequest>,
    opts?: CallOptions,
  ): Promise<JobRunDetailsResponse> {
    return this.#unary(JobsService.getJobRunDetails, JobRunDetailsRequest.fromPartial(request), opts, true);
  }

  /** Error messages of failed jobs by id. Retried. */
  async getJobErrors(request: DeepPartial<JobErrorsRequest>, opts?: CallOptions): Promise<JobErrorsResponse> {
    return this.#unary(JobsService.getJobErrors, JobErrorsRequest.fromPartial(request), opts, true);
  }

  /** Queues with active jobs, by pool. Retried. */
  async getActiveQueues(
    request: DeepPartial<GetActiveQueuesRequest> = {},
    opts?: CallOptions,
  ): Promise<GetActiveQueuesResponse> {
    return this.#unary(JobsService.getActiveQueues, GetActiveQueuesRequest.fromPartial(request), opts, true);
  }

  // ---- Event ----

  /** Health of the event API. */
  async eventHealth(opts?: CallOptions): Promise<HealthCheckResponse> {
    return this.#unary(EventService.health, {}, opts, false);
  }

  /**
   * The events of a job set. With `resume` (default true), a stream broken
   * by a lost connection or UNAVAILABLE is re-opened from the last message id
   * seen, so no event is lost or repeated. With `watch` the stream stays open
   * for new events. Aborting `signal` ends the iteration cleanly.
   */
  async *getJobSetEvents(
    request: DeepPartial<JobSetRequest>,
    opts: CallOptions & { resume?: boolean } = {},
  ): AsyncGenerator<EventStreamMessage, void, undefined> {
    const def = EventService.getJobSetEvents;
    const method = METHOD_NAME(def.path);
    const base = JobSetRequest.fromPartial(request);
    const resume = opts.resume ?? true;
    let fromMessageId = base.fromMessageId;
    const start = this.#clock.nowMs();
    for (let failures = 0; ;) {
      if (opts.signal?.aborted) return;
      const call = this.#openStream(
        def,
        { ...base, fromMessageId },
        this.#remainingDeadline(opts.deadlineMs, start, method),
      );
      const onAbort = () => call.cancel();
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      try {
        for await (const m of call as AsyncIterable<EventStreamMessage>) {
          if (m.id) fromMessageId = m.id;
          failures = 0;
          yield m;
        }
        return;
      } catch (e) {
        if (opts.signal?.aborted) return;
        const err = this.#toError(e, method, opts);
        failures++;
        if (!resume || !this.#shouldRetry(err, failures, opts, RESUMABLE_STREAM_CODES)) throw err;
        try {
          await this.#backoff(failures, method, opts, err);
        } catch (abort) {
          if (opts.signal?.aborted) return;
          throw abort;
        }
      } finally {
        opts.signal?.removeEventListener("abort", onAbort);
        call.cancel();
      }
    }
  }

  // ---- transport edge ----

  #assertOpen(method: string): void {
    if (this.#closed) {
      throw new ArmadaError({
        code: GrpcStatus.FAILED_PRECONDITION,
        method,
        target: this.channelArgs.target,
        details: "the ArmadaClient was closed; create a new one",
      });
    }
  }

  #toError(e: unknown, method: string, opts: CallOptions | undefined, deadlineMs?: number): ArmadaError {
    if (opts?.signal?.aborted && !(e instanceof ArmadaError)) {
      return new ArmadaError({
        code: GrpcStatus.CANCELLED,
        method,
        target: this.channelArgs.target,
        details: "aborted by the caller",
        cause: opts.signal.reason,
      });
    }
    return ArmadaError.from(e, {
      method,
      target: this.channelArgs.target,
      deadlineMs: deadlineMs ?? opts?.deadlineMs,
      secrets: this.#channel.secrets.list(),
    });
  }

  #shouldRetry(
    err: ArmadaError,
    failures: number,
    opts: CallOptions | undefined,
    codes: readonly number[] = this.#retry.retryableCodes,
  ): boolean {
    // A message over the size limit stays over it: RESOURCE_EXHAUSTED is transient only as rate limiting.
    if (err.code === GrpcStatus.RESOURCE_EXHAUSTED && /larger than max/i.test(err.details)) return false;
    return !opts?.signal?.aborted && failures < this.#retry.maxAttempts && codes.includes(err.code);
  }

  async #backoff(
    failures: number,
    method: string,
    opts: CallOptions | undefined,
    error: ArmadaError,
    delayMs = backoffMs(this.#retry, failures),
  ): Promise<void> {
    try {
      this.#onRetry?.({ method, failures, delayMs, error });
    } catch {
      // A logging hook must not change the call's outcome.
    }
    try {
      await this.#clock.sleep(delayMs, opts?.signal);
    } catch (e) {
      throw this.#toError(e, method, opts);
    }
  }

  /** Deadline of the next attempt, from the call's total budget; throws DEADLINE_EXCEEDED when it is spent. */
  #remainingDeadline(deadlineMs: number | undefined, startMs: number, method: string): Date | undefined {
    if (deadlineMs === undefined) return undefined;
    const remaining = deadlineMs - (this.#clock.nowMs() - startMs);
    if (remaining <= 0) {
      throw new ArmadaError({
        code: GrpcStatus.DEADLINE_EXCEEDED,
        method,
        target: this.channelArgs.target,
        deadlineMs,
        details: "the deadline passed while retrying",
      });
    }
    return new Date(Date.now() + remaining);
  }

  #openStream<Req, Res>(
    def: MethodDef<Req, Res>,
    req: Req,
    deadline: Date | undefined,
  ): ClientReadableStream<Res> {
    this.#assertOpen(METHOD_NAME(def.path));
    return this.#grpc.makeServerStreamRequest(
      def.path,
      def.requestSerialize,
      def.responseDeserialize,
      req,
      new Metadata(),
      deadline ? { deadline } : {},
    );
  }

  async #unary<Req, Res>(
    def: MethodDef<Req, Res>,
    req: Req,
    opts: CallOptions = {},
    retry: boolean,
  ): Promise<Res> {
    const method = METHOD_NAME(def.path);
    const deadlineMs = opts.deadlineMs ?? this.#defaultDeadlineMs;
    if (!Number.isFinite(deadlineMs) || deadlineMs <= 0) {
      throw new ArmadaAirflowError(
        ErrorCode.InvalidArgument,
        `${method}: deadlineMs must be a positive number of ms, got ${deadlineMs}`,
      );
    }
    const start = this.#clock.nowMs();
    for (let failures = 0; ;) {
      if (opts.signal?.aborted) throw this.#toError(opts.signal.reason, method, opts);
      try {
        const deadline = this.#remainingDeadline(deadlineMs, start, method)!;
        return await this.#unaryAttempt(def, req, deadline, opts.signal);
      } catch (e) {
        const err = this.#toError(e, method, opts, deadlineMs);
        failures++;
        if (!retry || !this.#shouldRetry(err, failures, opts)) throw err;
        const wait = backoffMs(this.#retry, failures);
        // Waiting past the deadline cannot help; report the real failure instead.
        if (this.#clock.nowMs() - start + wait >= deadlineMs) throw err;
        await this.#backoff(failures, method, opts, err, wait);
      }
    }
  }

  #unaryAttempt<Req, Res>(
    def: MethodDef<Req, Res>,
    req: Req,
    deadline: Date,
    signal: AbortSignal | undefined,
  ): Promise<Res> {
    this.#assertOpen(METHOD_NAME(def.path));
    return new Promise<Res>((resolve, reject) => {
      const onAbort = () => call.cancel();
      const call = this.#grpc.makeUnaryRequest(
        def.path,
        def.requestSerialize,
        def.responseDeserialize,
        req,
        new Metadata(),
        { deadline },
        (err, res) => {
          signal?.removeEventListener("abort", onAbort);
          if (err) reject(err);
          else resolve(res as Res);
        },
      );
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
}

/** Codes after which a job-set event stream is re-opened from the last message id. */
const RESUMABLE_STREAM_CODES: readonly number[] = [
  GrpcStatus.UNAVAILABLE,
  GrpcStatus.RESOURCE_EXHAUSTED,
  GrpcStatus.INTERNAL,
];
