/**
 * The dev server's brain: queues, jobs, runs and their events, moved through
 * the lifecycle a real Armada uses (SUBMITTED -> QUEUED -> LEASED -> PENDING ->
 * RUNNING -> SUCCEEDED | FAILED, or CANCELLED, PREEMPTED, REJECTED) on the
 * injected clock. Transport-free: the gRPC layer and web pages call into it.
 */
import type { Clock } from "../common/clock.js";
import { Cause, type EventMessage } from "../gen/armada/event.js";
import {
  ServiceType,
  type Job,
  type JobSubmitRequestItem,
  type Queue,
  type RetryPolicy,
  type RetryRule,
} from "../gen/armada/submit.js";
import { EventLog } from "./event-log.js";
import {
  ACTIVE_RUN_JOB_STATES,
  type JobRecord,
  type JobStateName,
  type RunRecord,
  type RunStateName,
} from "./job-record.js";
import { TERMINAL_JOB_STATE_NAMES } from "../client/job-states.js";
import { invalidItemsMessage } from "../client/submit-validation.js";
import { validateJob } from "./job-validation.js";
import { DevRequestError } from "./request-error.js";
import { DEFAULT_PRIORITY_CLASSES, refuseSubmitRequest } from "./submit-refusals.js";
import { containersOf, type Executor, type RunResult, type RunningPod } from "./executor.js";
import { invalidImageReason } from "./image-reference.js";
import { gangOf } from "./gangs.js";
import {
  DEFAULT_NAMESPACES,
  ImagePolicy,
  invalidPodReason,
  missingNamespaceReason,
} from "./cluster-objects.js";
import {
  FailureCategorizer,
  INTERNAL_FAILURE_CATEGORY,
  type Categorized,
  type FailureCategory,
} from "./failure-categories.js";
import { JobIdFactory, newRunId } from "./ids.js";
import { PodLogStore, podNameOf, type PodLogs } from "./pod-logs.js";
import { Scheduler, type ClusterConfig } from "./scheduler.js";
import { DURATION_ANNOTATION, parseDuration } from "./simulate-executor.js";
import { TimerQueue } from "./timer-queue.js";
import { containerEnv, type PodIdentity } from "./downward-api.js";
import { podSpecsOf } from "./job-validation.js";
import { FAIL_FAST_ANNOTATION, RetryPolicyRegistry, decideRetry } from "./retry-policies.js";
import { bumpMemory, fitsSomeNode } from "./retry-mutations.js";

/** Delays between lifecycle steps, in clock milliseconds. */
export interface LifecycleTiming {
  /** From a change (submit, job end) to the scheduling round that leases waiting jobs. @default 100 */
  scheduleDelayMs: number;
  /** From LEASED to PENDING. @default 100 */
  pendingDelayMs: number;
  /** From PENDING to RUNNING. @default 200 */
  startDelayMs: number;
  /** How long a finished pod (and its log) stays readable. @default 600000 */
  podRetentionMs: number;
}

/** Default lifecycle timing: a job without a duration completes in about 1.4 s. */
export const DEFAULT_TIMING: LifecycleTiming = {
  scheduleDelayMs: 100,
  pendingDelayMs: 100,
  startDelayMs: 200,
  podRetentionMs: 600_000,
};

/** Receives every change so it can be persisted (see the SQLite state store). */
export interface StateSink {
  jobChanged(job: JobRecord): void;
  eventAppended(queue: string, jobSetId: string, id: string, message: EventMessage): void;
  queueChanged(name: string, queue: Queue | undefined): void;
  logAppended(jobId: string, namespace: string, container: string, timeMs: number, text: string): void;
  /** A retry policy was created, updated (or deleted: undefined). Optional for older sinks. */
  retryPolicyChanged?(name: string, policy: RetryPolicy | undefined): void;
}

/** Options of {@link DevArmada}. */
export interface DevArmadaOptions {
  clock: Clock;
  clusters: ClusterConfig[];
  executor: Executor;
  ingestionDelayMs: number;
  timing: LifecycleTiming;
  sink?: StateSink;
  onError?: (err: unknown) => void;
  /** Priority class names a pod spec may name. @default {@link DEFAULT_PRIORITY_CLASSES} */
  priorityClasses?: readonly string[];
  /** Namespaces that exist on every cluster. @default {@link DEFAULT_NAMESPACES} */
  namespaces?: readonly string[];
  /** Glob patterns of pullable images; empty accepts every image. @default [] */
  images?: readonly string[];
  /** Failure categories tried before the built-in ones. @default [] */
  failureCategories?: readonly FailureCategory[];
  /** Scheduler-wide cap on retries per job, on top of every retry policy (0 disables retries). @default 5 */
  globalMaxRetries?: number;
}

/** Default of {@link DevArmadaOptions.globalMaxRetries}. */
export const DEFAULT_GLOBAL_MAX_RETRIES = 5;

/** How a run failed, beyond its reason text. */
interface FailureDetails {
  exitCodes: Record<string, number>;
  /** Kubelet termination reason per container (`OOMKilled`, `Error`). */
  terminationReasons: Record<string, string>;
}

export { DevRequestError } from "./request-error.js";

/** The in-process Armada. */
export class DevArmada {
  readonly clock: Clock;
  readonly events = new EventLog();
  readonly logs = new PodLogStore();
  readonly scheduler: Scheduler;
  readonly timers: TimerQueue;
  ingestionDelayMs: number;

  private readonly queues = new Map<string, Queue>();
  private readonly jobsById = new Map<string, JobRecord>();
  private readonly jobList: JobRecord[] = [];
  private readonly byExternalUri = new Map<string, JobRecord[]>();
  private readonly byJobSet = new Map<string, JobRecord[]>();
  /** Queue + client id -> the job that id created; Armada answers a repeated client id with that job. */
  private readonly byClientId = new Map<string, JobRecord>();
  private readonly runsById = new Map<string, RunRecord>();
  /** Runs that have ended, counted as they end: {@link counts} reads it without looking at any job. */
  private runsEnded = 0;
  private readonly pods = new Map<string, RunningPod>();
  private readonly ids = new JobIdFactory();
  private readonly executor: Executor;
  private readonly timing: LifecycleTiming;
  private readonly sink: StateSink | undefined;
  private readonly priorityClasses: ReadonlySet<string>;
  private readonly namespaces: ReadonlySet<string>;
  private readonly images: ImagePolicy;
  private readonly categorizer: FailureCategorizer;
  private readonly globalMaxRetries: number;
  /** The retry policies (`RetryPolicyService`), applied to failed runs of jobs in queues that name one. */
  readonly retryPolicies: RetryPolicyRegistry;
  private scheduleAt = Infinity;

  constructor(options: DevArmadaOptions) {
    this.clock = options.clock;
    this.executor = options.executor;
    this.timing = options.timing;
    this.ingestionDelayMs = options.ingestionDelayMs;
    this.sink = options.sink;
    this.priorityClasses = new Set(options.priorityClasses ?? DEFAULT_PRIORITY_CLASSES);
    this.namespaces = new Set(options.namespaces ?? DEFAULT_NAMESPACES);
    this.images = new ImagePolicy(options.images ?? []);
    this.categorizer = new FailureCategorizer(options.failureCategories ?? []);
    this.globalMaxRetries = options.globalMaxRetries ?? DEFAULT_GLOBAL_MAX_RETRIES;
    this.retryPolicies = new RetryPolicyRegistry((name, p) => this.sink?.retryPolicyChanged?.(name, p));
    this.timers = new TimerQueue(this.clock, options.onError ?? ((err) => console.error("dev server:", err)));
    this.scheduler = new Scheduler(
      options.clusters,
      (q) => this.queues.get(q)?.priorityFactor || 1,
      // As in Armada, a cordoned queue keeps its jobs queued; they are scheduled once it is uncordoned.
      (q) => !this.queues.get(q)?.cordoned,
    );
  }

  // ---------------------------------------------------------------- queues

  /** Creates a queue; ALREADY_EXISTS when it exists. */
  createQueue(queue: Queue): void {
    this.checkQueue(queue);
    if (this.queues.has(queue.name)) {
      throw new DevRequestError("ALREADY_EXISTS", `queue "${queue.name}" already exists`);
    }
    this.putQueue(queue);
  }

  /** Replaces a queue; NOT_FOUND when it does not exist. */
  updateQueue(queue: Queue): void {
    this.checkQueue(queue);
    if (!this.queues.has(queue.name))
      throw new DevRequestError("NOT_FOUND", `queue "${queue.name}" does not exist`);
    this.putQueue(queue);
  }

  /** Deletes a queue (its jobs stay). */
  deleteQueue(name: string): void {
    if (!this.queues.delete(name)) throw new DevRequestError("NOT_FOUND", `queue "${name}" does not exist`);
    this.sink?.queueChanged(name, undefined);
  }

  /** A queue; NOT_FOUND when it does not exist. */
  getQueue(name: string): Queue {
    const q = this.queues.get(name);
    if (!q) throw new DevRequestError("NOT_FOUND", `queue "${name}" does not exist`);
    return q;
  }

  /** Every queue, by name. */
  listQueues(): Queue[] {
    return [...this.queues.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Creates a queue unless it exists (start-up queues). */
  ensureQueue(name: string): void {
    if (!this.queues.has(name)) this.putQueue(defaultQueue(name));
  }

  /** Restores a queue from storage. */
  restoreQueue(queue: Queue): void {
    this.queues.set(queue.name, queue);
  }

  private putQueue(queue: Queue): void {
    const wasCordoned = this.queues.get(queue.name)?.cordoned ?? false;
    this.queues.set(queue.name, queue);
    this.sink?.queueChanged(queue.name, queue);
    if (wasCordoned && !queue.cordoned) this.requestSchedule(this.clock.nowMs());
  }

  private checkQueue(queue: Queue): void {
    if (!queue.name) throw new DevRequestError("INVALID_ARGUMENT", "queue name is a required field");
    if (queue.priorityFactor < 0) {
      throw new DevRequestError(
        "INVALID_ARGUMENT",
        `queue "${queue.name}": priority_factor must not be negative`,
      );
    }
  }

  /** Deletes a retry policy; refused while a queue names it. */
  deleteRetryPolicy(name: string): void {
    const usedBy = [...this.queues.values()].filter((q) => q.retryPolicies.includes(name)).map((q) => q.name);
    this.retryPolicies.delete(name, usedBy);
  }

  // ---------------------------------------------------------------- submit

  /**
   * Accepts a batch of jobs into a job set. A request the real server refuses
   * as a whole (unknown queue, no job set id, an item without exactly one pod
   * spec, an unknown priority class) throws {@link DevRequestError} and stores
   * nothing; a job that passes those checks but cannot run still gets an id
   * and ends REJECTED with its reason.
   */
  submit(queue: string, jobSetId: string, items: JobSubmitRequestItem[], owner = "anonymous"): string[] {
    refuseSubmitRequest(queue, jobSetId, items, {
      queueExists: (name) => this.queues.has(name),
      priorityClasses: this.priorityClasses,
    });
    // Then the field rules, refused whole as Armada's submit validation does
    // (after the queue and request checks above, in the real server's order);
    // the names left out here are Kubernetes' to refuse: the pod cannot be created and the job fails
    // (cluster-objects.ts), as on a real cluster, where Armada's submit checks do not look at them.
    const invalid = invalidItemsMessage(items, {
      except: ["pod-spec-missing", "pod-spec-count", "containers", "container-name", "namespace"],
    });
    if (invalid) throw new DevRequestError("INVALID_ARGUMENT", invalid);
    const now = this.clock.nowMs();
    const created = new Date(now);
    const largest = this.scheduler.largestNode();
    const ids: string[] = [];
    for (const item of items) {
      // As Armada does: a client id seen before in this queue names the job it
      // created, so a client that resubmits after an unknown outcome gets that
      // job back instead of a second one.
      const earlier = item.clientId ? this.byClientId.get(clientKey(queue, item.clientId)) : undefined;
      if (earlier) {
        ids.push(earlier.id);
        continue;
      }
      const id = this.ids.next(now);
      ids.push(id);
      let check = validateJob(item, largest);
      const duration = item.annotations[DURATION_ANNOTATION];
      if (check.ok && duration !== undefined) {
        try {
          parseDuration(duration);
        } catch (err) {
          check = { ok: false, reason: (err as Error).message };
        }
      }
      const spec: Job = {
        id,
        clientId: item.clientId,
        jobSetId,
        queue,
        namespace: item.namespace || "default",
        labels: item.labels,
        annotations: item.annotations,
        requiredNodeLabels: item.requiredNodeLabels,
        owner,
        queueOwnershipUserGroups: [],
        compressedQueueOwnershipUserGroups: new Uint8Array(),
        priority: item.priority,
        podSpec: item.podSpec,
        podSpecs: item.podSpecs,
        schedulingResourceRequirements: undefined,
        created,
        ingress: item.ingress,
        services: item.services,
        k8sIngress: [],
        k8sService: [],
        scheduler: item.scheduler,
      };
      const externalJobUri = item.externalJobUri || item.annotations["armadaproject.io/externalJobUri"] || "";
      const job: JobRecord = {
        id,
        queue,
        jobSetId,
        namespace: spec.namespace,
        priority: item.priority,
        clientId: item.clientId,
        owner,
        state: "SUBMITTED",
        externalJobUri,
        annotations: item.annotations,
        labels: item.labels,
        submittedAt: created,
        lastTransitionAt: created,
        runs: [],
        spec,
        resources: check.ok ? check.resources : { cpuMillis: 0, memoryBytes: 0 },
        gang: gangOf(item.annotations),
      };
      this.index(job);
      if (externalJobUri) {
        const k = uriKey(queue, jobSetId, externalJobUri);
        const list = this.byExternalUri.get(k);
        if (list) list.push(job);
        else this.byExternalUri.set(k, [job]);
      }
      this.emit(job, { $case: "submitted", value: { ...this.base(job, now), job: spec } });
      if (!check.ok) {
        this.reject(job, check.reason, now);
        continue;
      }
      this.enqueue(job, now);
    }
    if (ids.length > 0) this.requestSchedule(now);
    return ids;
  }

  /** Ends a job REJECTED with `reason` (it never ran). */
  private reject(job: JobRecord, reason: string, now: number): void {
    this.transition(job, "REJECTED", now);
    job.error = reason;
    this.emit(job, {
      $case: "failed",
      value: {
        ...this.base(job, now),
        clusterId: "",
        reason,
        exitCodes: {},
        kubernetesId: "",
        nodeName: "",
        podNumber: 0,
        podName: "",
        podNamespace: "",
        containerStatuses: [],
        cause: Cause.Rejected,
        // Armada's scheduler stamps the rejections it decides with its own fixed category.
        failureCategory: INTERNAL_FAILURE_CATEGORY,
        failureSubcategory: "job_rejected",
        retryable: false,
      },
    });
    this.changed(job);
  }

  private enqueue(job: JobRecord, at: number): void {
    this.transition(job, "QUEUED", at);
    this.emit(job, { $case: "queued", value: this.base(job, at) });
    this.scheduler.enqueue(job);
    this.changed(job);
  }

  // ---------------------------------------------------------------- scheduling

  /** Runs a scheduling round soon (coalesced). */
  requestSchedule(from: number): void {
    const at = from + this.timing.scheduleDelayMs;
    if (at >= this.scheduleAt) return;
    this.scheduleAt = at;
    this.timers.at(at, (t) => {
      if (this.scheduleAt !== at) return;
      this.scheduleAt = Infinity;
      this.scheduleRound(t);
    });
  }

  private scheduleRound(at: number): void {
    const placements = this.scheduler.schedule(
      (j) => j.state === "QUEUED",
      (members, reason) => {
        // As Armada's submit check does, a gang that can never fit is rejected, not left queued.
        for (const m of members) this.reject(m, reason, at);
      },
      (job, reason) => {
        if (job.schedulingReason === reason) return;
        job.schedulingReason = reason;
        this.changed(job);
      },
    );
    for (const { job, node } of placements) {
      job.schedulingReason = undefined;
      const run: RunRecord = {
        runId: newRunId(),
        jobId: job.id,
        cluster: node.cluster,
        node: node.name,
        state: "LEASED",
        leasedAt: new Date(at),
      };
      job.runs.push(run);
      this.runsById.set(run.runId, run);
      this.transition(job, "LEASED", at);
      this.emit(job, {
        $case: "leased",
        value: { ...this.base(job, at), clusterId: run.cluster, pool: "default" },
      });
      this.changed(job);
      this.timers.at(at + this.timing.pendingDelayMs, (t) => this.toPending(job, run, t));
    }
  }

  private toPending(job: JobRecord, run: RunRecord, at: number): void {
    if (job.state !== "LEASED" || this.latestRun(job) !== run) return;
    const noNamespace =
      invalidPodReason(podNameOf(job.id), containersOf(job)) ??
      missingNamespaceReason(podNameOf(job.id), job.namespace, this.namespaces);
    if (noNamespace) {
      // The executor's pod creation is refused by the API server: the job fails before any pod exists.
      this.failRun(job, noNamespace, at, { exitCodes: {}, terminationReasons: {} });
      return;
    }
    const badEnv = this.environmentFailure(job, run);
    if (badEnv) {
      // The API server refuses the pod, or the kubelet cannot build a container's environment.
      this.failRun(job, badEnv, at, { exitCodes: {}, terminationReasons: {} });
      return;
    }
    run.state = "PENDING";
    run.pendingAt = new Date(at);
    this.transition(job, "PENDING", at);
    const pod = this.logs.create(job.id, job.namespace, this.containerNames(job), run.cluster);
    this.emit(job, { $case: "pending", value: { ...this.podFields(job, run, at), pool: "default" } });
    this.changed(job);
    this.timers.at(at + this.timing.startDelayMs, (t) => this.toRunning(job, run, pod, t));
  }

  private toRunning(job: JobRecord, run: RunRecord, pod: PodLogs, at: number): void {
    if (job.state !== "PENDING" || this.latestRun(job) !== run) return;
    const badImage = containersOf(job)
      .map(
        (c) => invalidImageReason(c.name ?? "", c.image) ?? this.images.pullFailure(c.name ?? "", c.image!),
      )
      .find((r) => r !== undefined);
    if (badImage) {
      // The container never starts: the pod fails while still pending, as with a kubelet.
      this.failRun(job, badImage, at, { exitCodes: {}, terminationReasons: {} });
      return;
    }
    run.state = "RUNNING";
    run.startedAt = new Date(at);
    this.transition(job, "RUNNING", at);
    this.emit(job, {
      $case: "running",
      value: { ...this.podFields(job, run, at), nodeName: run.node, pool: "default" },
    });
    this.announceIngress(job, run, at);
    this.changed(job);
    const running = this.executor.start({
      job,
      run,
      pod: this.podIdentity(job, run),
      startAtMs: at,
      at: (t, fn) => this.timers.at(t, fn),
      nowMs: () => this.clock.nowMs(),
      log: (container, text, timeMs) => {
        this.logs.append(pod, container, { timeMs, text });
        this.sink?.logAppended(job.id, job.namespace, container, timeMs, text);
      },
      finish: (result, t) => this.finish(job, run, result, t),
    });
    this.pods.set(run.runId, running);
  }

  private finish(job: JobRecord, run: RunRecord, result: RunResult, at: number): void {
    if (job.state !== "RUNNING" || this.latestRun(job) !== run) return;
    this.pods.delete(run.runId);
    run.exitCodes = result.exitCodes;
    this.endRun(run, at);
    this.scheduler.release(job, run.cluster, run.node);
    const pod = this.logs.ofJob(job.id, job.namespace);
    if (pod) {
      this.logs.close(pod);
      this.retirePod(pod, at + this.timing.podRetentionMs);
    }
    if (result.reason === undefined) {
      run.state = "SUCCEEDED";
      this.transition(job, "SUCCEEDED", at);
      this.emit(job, { $case: "succeeded", value: { ...this.podFields(job, run, at), nodeName: run.node } });
    } else {
      run.state = "FAILED";
      run.reason = result.reason;
      this.runFailed(job, run, result.reason, at, {
        exitCodes: result.exitCodes,
        terminationReasons: result.terminationReasons ?? {},
      });
      return;
    }
    this.changed(job);
    this.requestSchedule(at);
  }

  /**
   * A run has failed (its pod already stopped): the queue's retry policy
   * decides whether the job runs again, as Armada's retry engine does. A
   * retry emits the failed event with `retryable: true` and queues the job
   * for a new run (new run id, maybe another node or cluster); otherwise the
   * job ends FAILED.
   */
  private runFailed(
    job: JobRecord,
    run: RunRecord | undefined,
    reason: string,
    at: number,
    details: FailureDetails,
  ): void {
    const event = this.failedEvent(job, run, at, reason, details);
    const queue = this.queues.get(job.queue);
    // Armada evaluates only the first policy a queue lists; one that does not exist means no retries.
    const policyName = queue?.retryPolicies[0];
    // Only a run can be retried: a job failed before it ever had one (fault injection) just fails.
    const policy = policyName && run ? this.retryPolicies.find(policyName) : undefined;
    const decision = decideRetry(
      policy,
      {
        category: event.failureCategory,
        subcategory: event.failureSubcategory,
        failedRuns: job.runs.filter((r) => r.state === "FAILED").length,
        failFast: job.annotations[FAIL_FAST_ANNOTATION] === "true",
        gangCardinality: job.gang?.cardinality ?? 1,
      },
      this.globalMaxRetries,
    );
    let why = decision.retry ? "" : decision.why;
    if (decision.retry) why = this.prepareRetry(job, decision.rule);
    if (!why && decision.retry) {
      this.emit(job, { $case: "failed", value: { ...event, retryable: true } });
      this.transition(job, "QUEUED", at);
      this.scheduler.enqueue(job);
    } else {
      job.error = why ? `${reason}; ${why}` : reason;
      this.transition(job, "FAILED", at);
      this.emit(job, { $case: "failed", value: event });
    }
    this.changed(job);
    this.requestSchedule(at);
  }

  /** Applies a retry rule's mutations before the new run; returns why the job cannot be retried ("" when it can). */
  private prepareRetry(job: JobRecord, rule: RetryRule | undefined): string {
    const memory = rule?.mutate?.resources?.memory;
    if (memory) bumpMemory(job, memory);
    if (rule?.mutate?.affinity?.avoidSameNode) {
      for (const r of job.runs) {
        const key = `${r.cluster}/${r.node}`;
        if (r.node && !(job.avoidNodes ?? []).includes(key))
          job.avoidNodes = [...(job.avoidNodes ?? []), key];
      }
    }
    if (!fitsSomeNode(job, this.scheduler.nodes)) {
      return (
        `Retry policy: the retry of job ${job.id} fits no node` +
        (job.avoidNodes?.length
          ? ` once the nodes of earlier runs (${job.avoidNodes.join(", ")}) are avoided`
          : "") +
        ` (it requests cpu ${job.resources.cpuMillis}m and memory ${job.resources.memoryBytes} bytes)`
      );
    }
    return "";
  }

  private retirePod(pod: PodLogs, atMs: number): void {
    this.timers.at(atMs, (t) => this.logs.delete(pod, t));
  }

  // ---------------------------------------------------------------- cancel, preempt, fail

  /**
   * Cancels jobs (by ids, or every job of a job set when no ids are given and
   * `states` filters). Returns the ids actually cancelled.
   */
  cancel(jobIds: string[], reason: string, requestor: string): string[] {
    const now = this.clock.nowMs();
    const done: string[] = [];
    for (const id of jobIds) {
      const job = this.jobsById.get(id);
      if (!job || TERMINAL_JOB_STATE_NAMES.has(job.state)) continue;
      this.emit(job, { $case: "cancelling", value: { ...this.base(job, now), requestor, reason } });
      this.stopRun(job, "CANCELLED", now, reason);
      job.cancelledAt = new Date(now);
      job.cancelReason = reason;
      job.cancelUser = requestor;
      this.transition(job, "CANCELLED", now);
      this.emit(job, { $case: "cancelled", value: { ...this.base(job, now), requestor, reason } });
      this.changed(job);
      done.push(id);
    }
    if (done.length > 0) this.requestSchedule(now);
    return done;
  }

  /** Ids of the job set's jobs whose state is in `states` (all non-terminal ones when empty). */
  jobSetJobIds(queue: string, jobSetId: string, states: JobStateName[]): string[] {
    const wanted = states.length > 0 ? new Set(states) : undefined;
    const ids: string[] = [];
    for (const job of this.byJobSet.get(uriKey(queue, jobSetId, "")) ?? []) {
      if (wanted ? wanted.has(job.state) : !TERMINAL_JOB_STATE_NAMES.has(job.state)) ids.push(job.id);
    }
    return ids;
  }

  /** Preempts running (leased, pending, running) jobs; returns the ids preempted. */
  preempt(jobIds: string[], reason: string, requestor: string): string[] {
    const now = this.clock.nowMs();
    const done: string[] = [];
    for (const id of jobIds) {
      const job = this.jobsById.get(id);
      if (!job || !ACTIVE_RUN_JOB_STATES.has(job.state)) continue;
      const run = this.latestRun(job)!;
      this.emit(job, { $case: "preempting", value: { ...this.base(job, now), requestor, reason } });
      this.stopRun(job, "PREEMPTED", now, reason);
      job.error = reason;
      this.transition(job, "PREEMPTED", now);
      this.emit(job, {
        $case: "preempted",
        value: {
          ...this.base(job, now),
          clusterId: run.cluster,
          runId: run.runId,
          preemptiveRunId: "",
          reason,
          preemptingJobId: "",
          requestor,
        },
      });
      this.changed(job);
      done.push(id);
    }
    if (done.length > 0) this.requestSchedule(now);
    return done;
  }

  /** Fails a job that has not finished (fault injection); returns whether it did. */
  fail(jobId: string, reason: string, now = this.clock.nowMs()): boolean {
    const job = this.jobsById.get(jobId);
    if (!job || TERMINAL_JOB_STATE_NAMES.has(job.state)) return false;
    this.failRun(job, reason, now, { exitCodes: {}, terminationReasons: {} });
    return true;
  }

  private failRun(job: JobRecord, reason: string, now: number, details: FailureDetails): void {
    const run = this.latestRun(job);
    const hadRun = ACTIVE_RUN_JOB_STATES.has(job.state) && run !== undefined;
    this.stopRun(job, "FAILED", now, reason);
    this.runFailed(job, hadRun ? run : undefined, reason, now, details);
  }

  /** Changes the priority of jobs; returns an error message per job that could not be changed. */
  reprioritize(jobIds: string[], priority: number, requestor: string): Record<string, string> {
    const now = this.clock.nowMs();
    const results: Record<string, string> = {};
    for (const id of jobIds) {
      const job = this.jobsById.get(id);
      if (!job) {
        results[id] = `job "${id}" not found`;
        continue;
      }
      if (TERMINAL_JOB_STATE_NAMES.has(job.state)) {
        results[id] = `job "${id}" is already ${job.state.toLowerCase()}`;
        continue;
      }
      job.priority = priority;
      job.spec.priority = priority;
      this.emit(job, {
        $case: "reprioritizing",
        value: { ...this.base(job, now), newPriority: priority, requestor },
      });
      this.emit(job, {
        $case: "reprioritized",
        value: { ...this.base(job, now), newPriority: priority, requestor },
      });
      if (job.state === "QUEUED") this.scheduler.enqueue(job);
      this.changed(job);
      results[id] = "";
    }
    this.requestSchedule(now);
    return results;
  }

  /** Ends the active run of a job (if any) in `runState`, killing its pod and freeing its node. */
  private stopRun(job: JobRecord, runState: RunStateName, at: number, reason: string): void {
    if (!ACTIVE_RUN_JOB_STATES.has(job.state)) return;
    const run = this.latestRun(job);
    if (!run) return;
    this.pods.get(run.runId)?.kill();
    this.pods.delete(run.runId);
    run.state = runState;
    this.endRun(run, at);
    run.reason = reason;
    this.scheduler.release(job, run.cluster, run.node);
    const pod = this.logs.ofJob(job.id, job.namespace);
    // Kubernetes deletes a cancelled or preempted pod at once.
    if (pod) this.logs.delete(pod, at);
  }

  // ---------------------------------------------------------------- queries

  /** A job by id, whatever the ingestion delay. */
  job(id: string): JobRecord | undefined {
    return this.jobsById.get(id);
  }

  /** A job as the query API sees it: undefined until the ingestion delay has passed. */
  ingestedJob(id: string): JobRecord | undefined {
    const job = this.jobsById.get(id);
    if (!job) return undefined;
    return this.clock.nowMs() - job.submittedAt.getTime() >= this.ingestionDelayMs ? job : undefined;
  }

  /** Jobs submitted with an external job URI (field or annotation) into a job set. */
  jobsByExternalUri(queue: string, jobSetId: string, uri: string): JobRecord[] {
    return this.byExternalUri.get(uriKey(queue, jobSetId, uri)) ?? [];
  }

  /** A run by id. */
  run(runId: string): RunRecord | undefined {
    return this.runsById.get(runId);
  }

  /**
   * How many jobs were accepted and how many runs have ended, without
   * copying or scanning any job: a benchmark samples it several times a
   * second beside 100,000 jobs.
   */
  counts(): { jobs: number; runsEnded: number } {
    return { jobs: this.jobList.length, runsEnded: this.runsEnded };
  }

  /** Every job, in submission order. */
  allJobs(): readonly JobRecord[] {
    return this.jobList;
  }

  /** The job's latest run. */
  latestRun(job: JobRecord): RunRecord | undefined {
    return job.runs[job.runs.length - 1];
  }

  private endRun(run: RunRecord, at: number): void {
    run.finishedAt = new Date(at);
    this.runsEnded++;
  }

  // ---------------------------------------------------------------- restore and shutdown

  /**
   * Restores a job from storage. A simulated run picks up where it was; a
   * process run cannot survive a restart, so its lease is returned and the job
   * queued again, as a real Armada does when an executor loses a pod.
   */
  restoreJob(job: JobRecord): void {
    this.index(job);
    for (const run of job.runs) {
      this.runsById.set(run.runId, run);
      if (run.finishedAt) this.runsEnded++;
    }
    if (job.externalJobUri) {
      const k = uriKey(job.queue, job.jobSetId, job.externalJobUri);
      const list = this.byExternalUri.get(k);
      if (list) list.push(job);
      else this.byExternalUri.set(k, [job]);
    }
    const now = this.clock.nowMs();
    const run = this.latestRun(job);
    if (job.state === "QUEUED" || job.state === "SUBMITTED") {
      job.state = "QUEUED";
      this.scheduler.enqueue(job);
      this.requestSchedule(now);
    } else if (run && ACTIVE_RUN_JOB_STATES.has(job.state)) {
      this.scheduler.occupy(job, run.cluster, run.node);
      if (this.executor.kind === "process" && job.state === "RUNNING") {
        run.state = "LEASE_RETURNED";
        this.endRun(run, now);
        run.reason = "the dev server restarted while the job's process was running";
        this.scheduler.release(job, run.cluster, run.node);
        this.emit(job, {
          $case: "leaseReturned",
          value: {
            ...this.base(job, now),
            clusterId: run.cluster,
            reason: run.reason,
            kubernetesId: run.runId,
            podNumber: 0,
            runAttempted: true,
          },
        });
        this.enqueue(job, now);
        this.requestSchedule(now);
      } else if (job.state === "LEASED") {
        this.timers.at(Math.max(now, run.leasedAt.getTime() + this.timing.pendingDelayMs), (t) =>
          this.toPending(job, run, t),
        );
      } else {
        const pod =
          this.logs.ofJob(job.id, job.namespace) ??
          this.logs.create(job.id, job.namespace, this.containerNames(job), run.cluster);
        if (job.state === "PENDING") {
          const due = (run.pendingAt?.getTime() ?? now) + this.timing.startDelayMs;
          this.timers.at(Math.max(now, due), (t) => this.toRunning(job, run, pod, t));
        } else {
          // A simulation is a pure function of its start time, so it resumes exactly.
          job.state = "PENDING";
          this.toRunningAt(job, run, pod, run.startedAt?.getTime() ?? now);
        }
      }
    } else if (TERMINAL_JOB_STATE_NAMES.has(job.state)) {
      const pod = this.logs.ofJob(job.id, job.namespace);
      if (pod && run?.finishedAt && pod.deletedAtMs === undefined) {
        this.logs.close(pod);
        if (job.state === "SUCCEEDED" || job.state === "FAILED") {
          this.retirePod(pod, run.finishedAt.getTime() + this.timing.podRetentionMs);
        } else {
          this.logs.delete(pod, run.finishedAt.getTime());
        }
      }
    }
  }

  private toRunningAt(job: JobRecord, run: RunRecord, pod: PodLogs, startedAt: number): void {
    // Re-enter RUNNING without a second running event: replaying the simulation from its start time.
    job.state = "RUNNING";
    const running = this.executor.start({
      job,
      run,
      pod: this.podIdentity(job, run),
      startAtMs: startedAt,
      at: (t, fn) => this.timers.at(Math.max(t, this.clock.nowMs()), () => fn(t)),
      nowMs: () => this.clock.nowMs(),
      log: (container, text, timeMs) => {
        const lines = pod.containers.get(container) ?? [];
        // Lines already stored before the restart are not written twice.
        if (lines.some((l) => l.timeMs === timeMs && l.text === text)) return;
        this.logs.append(pod, container, { timeMs, text });
        this.sink?.logAppended(job.id, job.namespace, container, timeMs, text);
      },
      finish: (result, t) => this.finish(job, run, result, t),
    });
    this.pods.set(run.runId, running);
  }

  /** Stops timers and kills running processes. */
  async shutdown(): Promise<void> {
    await this.timers.stop();
    for (const pod of this.pods.values()) pod.kill();
    this.pods.clear();
    await this.executor.shutdown();
  }

  // ---------------------------------------------------------------- helpers

  /** The pod Armada's executor would create for this run, as the downward API shows it. */
  podIdentity(job: JobRecord, run: RunRecord): PodIdentity {
    const node = this.scheduler.nodes.find((n) => n.cluster === run.cluster && n.name === run.node);
    const spec = podSpecsOf(job.spec)[0];
    return {
      name: podNameOf(job.id),
      namespace: job.namespace,
      uid: run.runId,
      nodeName: run.node,
      // Every pod of the dev server lives on this machine: process-mode pods listen on loopback.
      podIP: "127.0.0.1",
      hostIP: "127.0.0.1",
      serviceAccountName: spec?.serviceAccountName || "default",
      labels: { ...job.labels, armada_job_id: job.id, armada_pod_number: "0", armada_queue_id: job.queue },
      annotations: { ...job.annotations, armada_jobset_id: job.jobSetId, armada_owner: job.owner },
      node: { cpu: (node?.cpuMillis ?? 0) / 1000, memory: node?.memoryBytes ?? 0 },
    };
  }

  /**
   * Once the pod runs, the executor creates the job's services and ingresses
   * and reports where they are (the `ingressInfo` event, and the run's
   * ingress addresses). Here every pod is on this machine, so a port is
   * reached on loopback: in process mode, whatever the container listens on
   * at that port.
   */
  private announceIngress(job: JobRecord, run: RunRecord, at: number): void {
    const ports = new Set<number>();
    for (const i of job.spec.ingress) for (const p of i.ports) ports.add(p);
    // A headless service has no address of its own to reach from outside the cluster.
    for (const s of job.spec.services)
      if (s.type === ServiceType.NodePort) for (const p of s.ports) ports.add(p);
    if (ports.size === 0) return;
    const addresses: Record<number, string> = {};
    for (const p of [...ports].sort((a, b) => a - b)) addresses[p] = `127.0.0.1:${p}`;
    run.ingressAddresses = addresses;
    this.emit(job, {
      $case: "ingressInfo",
      value: { ...this.podFields(job, run, at), nodeName: run.node, ingressAddresses: addresses },
    });
  }

  /** Why the containers' environments cannot be built (a bad downward API reference), or undefined. */
  private environmentFailure(job: JobRecord, run: RunRecord): string | undefined {
    const spec = podSpecsOf(job.spec)[0];
    if (!spec) return undefined;
    const pod = this.podIdentity(job, run);
    const all = [
      ...spec.initContainers.map((c, i) => [c, `spec.initContainers[${i}]`] as const),
      ...spec.containers.map((c, i) => [c, `spec.containers[${i}]`] as const),
    ];
    for (const [c, where] of all) {
      const env = containerEnv(c, spec, pod, where);
      if (!env.ok) return env.reason;
    }
    return undefined;
  }

  private index(job: JobRecord): void {
    this.jobsById.set(job.id, job);
    this.jobList.push(job);
    const k = uriKey(job.queue, job.jobSetId, "");
    const set = this.byJobSet.get(k);
    if (set) set.push(job);
    else this.byJobSet.set(k, [job]);
    if (job.clientId) this.byClientId.set(clientKey(job.queue, job.clientId), job);
  }

  private containerNames(job: JobRecord): string[] {
    return (job.spec.podSpecs[0] ?? job.spec.podSpec)?.containers.map((c) => c.name ?? "") ?? [];
  }

  private transition(job: JobRecord, state: JobStateName, at: number): void {
    job.state = state;
    job.lastTransitionAt = new Date(at);
  }

  private changed(job: JobRecord): void {
    this.sink?.jobChanged(job);
  }

  private emit(job: JobRecord, events: EventMessage["events"]): void {
    if (this.events.lostJobs.has(job.id)) return; // fault injection: the job's events are lost
    const message: EventMessage = { events };
    const stored = this.events.append(job.queue, job.jobSetId, message);
    this.sink?.eventAppended(job.queue, job.jobSetId, stored.id, message);
  }

  private base(job: JobRecord, at: number) {
    return { jobId: job.id, jobSetId: job.jobSetId, queue: job.queue, created: new Date(at) };
  }

  private podFields(job: JobRecord, run: RunRecord, at: number) {
    return {
      ...this.base(job, at),
      clusterId: run.cluster,
      kubernetesId: run.runId,
      podNumber: 0,
      podName: podNameOf(job.id),
      podNamespace: job.namespace,
    };
  }

  /** The failed event of a run, with the category the error categorizer gives it (also kept on the run). */
  private failedEvent(
    job: JobRecord,
    run: RunRecord | undefined,
    at: number,
    reason: string,
    details: FailureDetails,
  ) {
    const { exitCodes, terminationReasons } = details;
    const conditions = Object.values(terminationReasons).includes("OOMKilled") ? ["OOMKilled"] : [];
    const category: Categorized = this.categorizer.classify({ exitCodes, conditions, message: reason });
    if (run) {
      run.failureCategory = category.category;
      run.failureSubcategory = category.subcategory;
    }
    return {
      ...this.base(job, at),
      clusterId: run?.cluster ?? "",
      reason,
      exitCodes,
      kubernetesId: run?.runId ?? "",
      nodeName: run?.node ?? "",
      podNumber: 0,
      podName: run ? podNameOf(job.id) : "",
      podNamespace: job.namespace,
      containerStatuses: Object.entries(exitCodes).map(([name, exitCode]) => ({
        name,
        exitCode,
        message: exitCode === 0 ? "" : reason,
        reason: terminationReasons[name] ?? (exitCode === 0 ? "Completed" : "Error"),
        cause: terminationReasons[name] === "OOMKilled" ? Cause.OOM : Cause.Error,
      })),
      cause: conditions.includes("OOMKilled") ? Cause.OOM : Cause.Error,
      failureCategory: category.category,
      failureSubcategory: category.subcategory,
      retryable: false,
    };
  }
}

function clientKey(queue: string, clientId: string): string {
  return `${queue}\u0000${clientId}`;
}

function uriKey(queue: string, jobSetId: string, uri: string): string {
  return `${queue}\u0000${jobSetId}\u0000${uri}`;
}

/** A queue with the defaults a real server fills in. */
export function defaultQueue(name: string): Queue {
  return {
    name,
    priorityFactor: 1,
    userOwners: [],
    groupOwners: [],
    resourceLimits: {},
    resourceLimitsByPriorityClassName: {},
    permissions: [],
    cordoned: false,
    labelsDeprecated: [],
    labels: {},
    retryPolicies: [],
  };
}
