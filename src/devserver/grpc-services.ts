/**
 * The dev server's gRPC surface: Submit, QueueService, RetryPolicyService, Jobs, Event and Health,
 * implemented on the generated grpc-js service definitions. Every handler goes
 * through one wrapper that counts the call, checks credentials and applies
 * injected faults before the real work.
 */
import {
  status,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type Metadata,
  type Server,
  type ServerErrorResponse,
  type ServerWritableStream,
  type StatusObject,
} from "@grpc/grpc-js";
import type { Clock } from "../common/clock.js";
import { EventService, type EventServer, type EventStreamMessage } from "../gen/armada/event.js";
import { HealthCheckResponse_ServingStatus } from "../gen/armada/health.js";
import { JobsService, type JobDetails, type JobRunDetails, type JobsServer } from "../gen/armada/job.js";
import {
  JobState,
  QueueServiceService,
  RetryPolicyServiceService,
  SubmitService,
  type QueueServiceServer,
  type RetryPolicyServiceServer,
  type StreamingQueueMessage,
  type SubmitServer,
} from "../gen/armada/submit.js";
import {
  jobStateName as apiJobStateName,
  jobStateNumber,
  type JobStateName as ApiJobStateName,
} from "../client/job-states.js";
import { checkAuthorization, type DevAuthOptions } from "./auth.js";
import { DevRequestError, type DevArmada } from "./dev-armada.js";
import { UnknownMessageIdError } from "./event-log.js";
import type { CallFaults, GrpcMethodName } from "./faults.js";
import type { JobStateName } from "./job-record.js";
import { jobDetails, runDetails } from "./query-views.js";

/** What the handlers need from the server around them. */
export interface GrpcContext {
  /** The current state (a getter: a restart swaps it). */
  armada(): DevArmada;
  faults: CallFaults;
  counts: Map<string, number>;
  auth?: DevAuthOptions;
  clock: Clock;
  /** Open event streams, so stopping the server can end them. */
  streams: Set<ServerWritableStream<unknown, unknown>>;
}

const CODE: Record<DevRequestError["code"], status> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  NOT_FOUND: status.NOT_FOUND,
  ALREADY_EXISTS: status.ALREADY_EXISTS,
  FAILED_PRECONDITION: status.FAILED_PRECONDITION,
  PERMISSION_DENIED: status.PERMISSION_DENIED,
};

function toStatus(err: unknown): Partial<StatusObject> {
  if (err instanceof DevRequestError) return { code: CODE[err.code], details: err.message };
  if (err instanceof UnknownMessageIdError) return { code: status.INVALID_ARGUMENT, details: err.message };
  return { code: status.INTERNAL, details: `dev server error: ${(err as Error)?.message ?? String(err)}` };
}

/** The name of a job state a request gives; a number no state has is the caller's mistake. */
function jobStateName(state: JobState): ApiJobStateName {
  const name = apiJobStateName(state);
  if (name === "UNRECOGNIZED")
    throw new DevRequestError("INVALID_ARGUMENT", `${state} is not a JobState value`);
  return name;
}

function authHeader(md: Metadata): string | undefined {
  const v = md.get("authorization")[0];
  return v === undefined ? undefined : v.toString();
}

/** Registers all Armada services on `server`. */
export function addArmadaServices(server: Server, ctx: GrpcContext): void {
  const admit = async (
    name: GrpcMethodName,
    md: Metadata,
  ): Promise<{ principal: string } | Partial<StatusObject>> => {
    ctx.counts.set(name, (ctx.counts.get(name) ?? 0) + 1);
    const auth = checkAuthorization(ctx.auth, authHeader(md));
    if (!auth.ok) return { code: status.UNAUTHENTICATED, details: auth.message };
    const delay = ctx.faults.latencyOf(name);
    if (delay > 0) await ctx.clock.sleep(delay);
    const fault = ctx.faults.takeFailure(name);
    if (fault) return fault;
    return { principal: auth.principal };
  };

  function unary<Req, Res>(
    name: GrpcMethodName,
    fn: (req: Req, principal: string) => Res,
  ): handleUnaryCall<Req, Res> {
    return (call, callback) => {
      void admit(name, call.metadata).then((a) => {
        if (!("principal" in a)) return callback(a as ServerErrorResponse);
        try {
          callback(null, fn(call.request, a.principal as string));
        } catch (err) {
          callback(toStatus(err) as ServerErrorResponse);
        }
      });
    };
  }

  function stream<Req, Res>(
    name: GrpcMethodName,
    fn: (call: ServerWritableStream<Req, Res>, principal: string) => void,
  ): handleServerStreamingCall<Req, Res> {
    return (call) => {
      void admit(name, call.metadata).then((a) => {
        if (!("principal" in a)) return call.emit("error", a);
        try {
          fn(call, a.principal as string);
        } catch (err) {
          call.emit("error", toStatus(err));
        }
      });
    };
  }

  const health = unary("Health", () => ({ status: HealthCheckResponse_ServingStatus.SERVING }));

  const queueHandlers: QueueServiceServer = {
    createQueue: unary("CreateQueue", (q) => (ctx.armada().createQueue(q), {})),
    createQueues: unary("CreateQueues", (list) => ({
      failedQueues: list.queues.flatMap((q) => {
        try {
          ctx.armada().createQueue(q);
          return [];
        } catch (err) {
          return [{ queue: q, error: (err as Error).message }];
        }
      }),
    })),
    updateQueue: unary("UpdateQueue", (q) => (ctx.armada().updateQueue(q), {})),
    updateQueues: unary("UpdateQueues", (list) => ({
      failedQueues: list.queues.flatMap((q) => {
        try {
          ctx.armada().updateQueue(q);
          return [];
        } catch (err) {
          return [{ queue: q, error: (err as Error).message }];
        }
      }),
    })),
    deleteQueue: unary("DeleteQueue", (req) => (ctx.armada().deleteQueue(req.name), {})),
    getQueue: unary("GetQueue", (req) => ctx.armada().getQueue(req.name)),
    getQueues: stream("GetQueues", (call) => {
      const all = ctx.armada().listQueues();
      const n = call.request.num > 0 ? Math.min(call.request.num, all.length) : all.length;
      for (let i = 0; i < n; i++)
        call.write({ event: { $case: "queue", value: all[i] } } satisfies StreamingQueueMessage);
      call.write({ event: { $case: "end", value: {} } } satisfies StreamingQueueMessage);
      call.end();
    }),
    cordonQueue: unary("CordonQueue", (req) => {
      const q = ctx.armada().getQueue(req.name);
      ctx.armada().updateQueue({ ...q, cordoned: true });
      return {};
    }),
    uncordonQueue: unary("UncordonQueue", (req) => {
      const q = ctx.armada().getQueue(req.name);
      ctx.armada().updateQueue({ ...q, cordoned: false });
      return {};
    }),
    preemptOnQueue: unary("PreemptOnQueue", (req, principal) => {
      const a = ctx.armada();
      a.getQueue(req.name);
      const ids = a
        .allJobs()
        .filter(
          (j) =>
            j.queue === req.name && (j.state === "LEASED" || j.state === "PENDING" || j.state === "RUNNING"),
        )
        .map((j) => j.id);
      a.preempt(ids, "preempted on queue request", principal);
      return {};
    }),
    cancelOnQueue: unary("CancelOnQueue", (req, principal) => {
      const a = ctx.armada();
      a.getQueue(req.name);
      const states = new Set(req.jobStates.map((s) => jobStateName(s)));
      const ids = a
        .allJobs()
        .filter((j) => j.queue === req.name && (states.size === 0 ? true : states.has(j.state)))
        .map((j) => j.id);
      a.cancel(ids, "cancelled on queue request", principal);
      return {};
    }),
  };

  const submitHandlers: SubmitServer = {
    submitJobs: unary("SubmitJobs", (req, principal) => {
      const ids = ctx.armada().submit(req.queue, req.jobSetId, req.jobRequestItems, principal);
      return { jobResponseItems: ids.map((jobId) => ({ jobId, error: "" })) };
    }),
    cancelJobs: unary("CancelJobs", (req, principal) => {
      const a = ctx.armada();
      let ids = [...req.jobIds, ...(req.jobId ? [req.jobId] : [])];
      if (ids.length === 0) {
        if (!req.jobSetId || !req.queue) {
          throw new DevRequestError(
            "INVALID_ARGUMENT",
            "give job_ids (or job_id), or a queue and job_set_id",
          );
        }
        ids = a.jobSetJobIds(req.queue, req.jobSetId, []);
      }
      // A job named with a different queue or job set is not this request's to cancel.
      ids = ids.filter((id) => {
        const j = a.job(id);
        return j && (!req.queue || j.queue === req.queue) && (!req.jobSetId || j.jobSetId === req.jobSetId);
      });
      return { cancelledIds: a.cancel(ids, req.reason, principal) };
    }),
    cancelJobSet: unary("CancelJobSet", (req, principal) => {
      if (!req.queue) throw new DevRequestError("INVALID_ARGUMENT", "queue is a required field");
      if (!req.jobSetId) throw new DevRequestError("INVALID_ARGUMENT", "job_set_id is a required field");
      // As in Armada, a filter speaks of queued versus leased jobs: PENDING and RUNNING both mean "has a
      // lease" (LEASED, PENDING or RUNNING), so a job that just got leased is not missed.
      const states = new Set<JobStateName>();
      for (const s of req.filter?.states ?? []) {
        const name = jobStateName(s);
        if (name === "QUEUED" || name === "SUBMITTED") {
          states.add("QUEUED").add("SUBMITTED");
        } else if (name === "PENDING" || name === "RUNNING" || name === "LEASED") {
          states.add("LEASED").add("PENDING").add("RUNNING");
        } else {
          throw new DevRequestError(
            "INVALID_ARGUMENT",
            `invalid job set filter: state ${name} cannot be cancelled; use QUEUED, PENDING or RUNNING`,
          );
        }
      }
      const a = ctx.armada();
      a.cancel(a.jobSetJobIds(req.queue, req.jobSetId, [...states]), req.reason, principal);
      return {};
    }),
    reprioritizeJobs: unary("ReprioritizeJobs", (req, principal) => {
      const a = ctx.armada();
      const ids = req.jobIds.length > 0 ? req.jobIds : a.jobSetJobIds(req.queue, req.jobSetId, []);
      return { reprioritizationResults: a.reprioritize(ids, req.newPriority, principal) };
    }),
    preemptJobs: unary("PreemptJobs", (req, principal) => {
      const a = ctx.armada();
      const done = new Set(a.preempt(req.jobIds, req.reason, principal));
      const results: Record<string, string> = {};
      for (const id of req.jobIds) {
        results[id] = done.has(id) ? "" : `job "${id}" is not leased, pending or running`;
      }
      return { preemptionResults: results };
    }),
    createQueue: queueHandlers.createQueue,
    createQueues: queueHandlers.createQueues,
    updateQueue: queueHandlers.updateQueue,
    updateQueues: queueHandlers.updateQueues,
    deleteQueue: queueHandlers.deleteQueue,
    getQueue: queueHandlers.getQueue,
    getQueues: queueHandlers.getQueues,
    health,
  };

  const jobsHandlers: JobsServer = {
    getJobStatus: unary("GetJobStatus", (req) => {
      const a = ctx.armada();
      const jobStates: Record<string, JobState> = {};
      for (const id of req.jobIds) {
        const job = a.ingestedJob(id);
        jobStates[id] = job ? jobStateNumber(job.state) : JobState.UNKNOWN;
      }
      return { jobStates };
    }),
    getJobStatusUsingExternalJobUri: unary("GetJobStatusUsingExternalJobUri", (req) => {
      if (!req.externalJobUri)
        throw new DevRequestError("INVALID_ARGUMENT", "external_job_uri is a required field");
      const a = ctx.armada();
      const jobStates: Record<string, JobState> = {};
      for (const job of a.jobsByExternalUri(req.queue, req.jobset, req.externalJobUri)) {
        if (a.ingestedJob(job.id)) jobStates[job.id] = jobStateNumber(job.state);
      }
      return { jobStates };
    }),
    getJobDetails: unary("GetJobDetails", (req) => {
      const a = ctx.armada();
      const out: Record<string, JobDetails> = {};
      for (const id of req.jobIds) {
        const job = a.ingestedJob(id);
        if (job) out[id] = jobDetails(job, req.expandJobSpec, req.expandJobRun);
      }
      return { jobDetails: out };
    }),
    getJobErrors: unary("GetJobErrors", (req) => {
      const a = ctx.armada();
      const jobErrors: Record<string, string> = {};
      for (const id of req.jobIds) {
        const job = a.ingestedJob(id);
        if (job) jobErrors[id] = job.error ?? "";
      }
      return { jobErrors };
    }),
    getJobRunDetails: unary("GetJobRunDetails", (req) => {
      const a = ctx.armada();
      const out: Record<string, JobRunDetails> = {};
      for (const id of req.runIds) {
        const run = a.run(id);
        if (run && a.ingestedJob(run.jobId)) out[id] = runDetails(run);
      }
      return { jobRunDetails: out };
    }),
    getActiveQueues: unary("GetActiveQueues", () => {
      const active = new Set<string>();
      for (const j of ctx.armada().allJobs()) {
        if (j.state === "QUEUED" || j.state === "LEASED" || j.state === "PENDING" || j.state === "RUNNING") {
          active.add(j.queue);
        }
      }
      return { activeQueuesByPool: { default: { queues: [...active].sort() } } };
    }),
  };

  const eventStream = (
    call: ServerWritableStream<unknown, EventStreamMessage>,
    queue: string,
    jobSetId: string,
    fromMessageId: string,
    watch: boolean,
    errorIfMissing: boolean,
  ) => {
    const a = ctx.armada();
    if (!queue) throw new DevRequestError("INVALID_ARGUMENT", "queue is a required field");
    if (!jobSetId) throw new DevRequestError("INVALID_ARGUMENT", "job set id is a required field");
    if (errorIfMissing && !a.events.has(queue, jobSetId)) {
      throw new DevRequestError("NOT_FOUND", `job set "${jobSetId}" in queue "${queue}" does not exist`);
    }
    const backlog = a.events.after(queue, jobSetId, fromMessageId);
    const dropAfter = ctx.faults.takeStreamDrop();
    let sent = 0;
    let closed = false;
    let unwatch = () => {};
    const close = (err?: Partial<StatusObject>) => {
      if (closed) return;
      closed = true;
      unwatch();
      ctx.streams.delete(call as ServerWritableStream<unknown, unknown>);
      if (err) call.emit("error", err);
      else call.end();
    };
    const send = (msg: EventStreamMessage) => {
      if (closed) return;
      try {
        call.write(msg);
      } catch {
        // The client went away between two events; watchers run inside job transitions, which must not fail.
        return close();
      }
      sent++;
      if (dropAfter !== undefined && sent >= dropAfter) {
        close({
          code: status.UNAVAILABLE,
          details: `injected fault: event stream dropped after ${sent} messages`,
        });
      }
    };
    if (dropAfter === 0)
      return close({ code: status.UNAVAILABLE, details: "injected fault: event stream dropped" });
    ctx.streams.add(call as ServerWritableStream<unknown, unknown>);
    call.on("cancelled", () => close());
    for (const msg of backlog) send(msg);
    if (closed) return;
    if (!watch) return close();
    unwatch = a.events.watch(queue, jobSetId, send);
  };

  const eventHandlers: EventServer = {
    getJobSetEvents: stream("GetJobSetEvents", (call) => {
      const r = call.request;
      eventStream(call, r.queue, r.id, r.fromMessageId, r.watch, r.errorIfMissing);
    }),
    watch: stream("Watch", (call) => {
      const r = call.request;
      eventStream(call, r.queue, r.jobSetId, r.fromId, true, false);
    }),
    health,
  };

  const retryPolicyHandlers: RetryPolicyServiceServer = {
    createRetryPolicy: unary("CreateRetryPolicy", (p) => (ctx.armada().retryPolicies.create(p), {})),
    updateRetryPolicy: unary("UpdateRetryPolicy", (p) => (ctx.armada().retryPolicies.update(p), {})),
    deleteRetryPolicy: unary("DeleteRetryPolicy", (req) => (ctx.armada().deleteRetryPolicy(req.name), {})),
    getRetryPolicy: unary("GetRetryPolicy", (req) => ctx.armada().retryPolicies.get(req.name)),
    getRetryPolicies: unary("GetRetryPolicies", () => ({ retryPolicies: ctx.armada().retryPolicies.list() })),
  };

  server.addService(SubmitService, submitHandlers);
  server.addService(RetryPolicyServiceService, retryPolicyHandlers);
  server.addService(QueueServiceService, queueHandlers);
  server.addService(JobsService, jobsHandlers);
  server.addService(EventService, eventHandlers);
}
