/**
 * The dev server's `api.Submit` service: submitting, cancelling,
 * reprioritizing and preempting jobs (plus the queue calls and health check
 * Armada serves under this service's name too).
 */
import type { JobState, QueueServiceServer, SubmitServer } from "../gen/armada/submit.js";
import { DevRequestError } from "./dev-armada.js";
import { jobStateName, type GrpcContext, type GrpcHandlerFactory } from "./grpc-handlers.js";
import type { JobStateName } from "./job-record.js";

/**
 * The states a job set filter selects. As in Armada, a filter speaks of queued
 * versus leased jobs: PENDING and RUNNING both mean "has a lease" (LEASED,
 * PENDING or RUNNING), so a job that just got leased is not missed.
 */
function jobSetFilterStates(filterStates: JobState[]): Set<JobStateName> {
  const states = new Set<JobStateName>();
  for (const s of filterStates) {
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
  return states;
}

/** The Submit handlers; the queue calls are `queues`' own, so both services count them alike. */
export function submitService(
  ctx: GrpcContext,
  { unary }: GrpcHandlerFactory,
  queues: QueueServiceServer,
  health: SubmitServer["health"],
): SubmitServer {
  return {
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
      const states = jobSetFilterStates(req.filter?.states ?? []);
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
    createQueue: queues.createQueue,
    createQueues: queues.createQueues,
    updateQueue: queues.updateQueue,
    updateQueues: queues.updateQueues,
    deleteQueue: queues.deleteQueue,
    getQueue: queues.getQueue,
    getQueues: queues.getQueues,
    health,
  };
}
