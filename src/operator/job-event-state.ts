/**
 * What one job-set event says about its job's state. Event-stream tracking
 * uses it only as a hint of when to look: a task never ends on it, but on
 * the query API's answer (see `job-set-watch.ts`).
 */
import type { EventMessage } from "../gen/armada/event.js";
import { JobState } from "../client/job-states.js";

/** The job an event is about and the state it implies; undefined for events that move no state. */
export interface JobEventState {
  jobId: string;
  state: JobState;
}

/**
 * The state an event implies. Events that change nothing a task acts on
 * (reprioritized, utilisation, ingress info, the "-ing" announcements of a
 * cancel or preemption) give undefined. A failed event Armada will retry
 * (its retry engine) puts the job back in the queue rather than ending it.
 */
export function jobEventState(message: EventMessage | undefined): JobEventState | undefined {
  const ev = message?.events;
  if (!ev) return undefined;
  const state = stateOf(ev);
  return state === undefined ? undefined : { jobId: ev.value.jobId, state };
}

function stateOf(ev: NonNullable<EventMessage["events"]>): JobState | undefined {
  switch (ev.$case) {
    case "submitted":
    case "queued":
    case "leaseReturned":
    case "leaseExpired":
      return JobState.QUEUED;
    case "leased":
      return JobState.LEASED;
    case "pending":
      return JobState.PENDING;
    case "running":
      return JobState.RUNNING;
    case "succeeded":
      return JobState.SUCCEEDED;
    case "failed":
      return ev.value.retryable ? JobState.QUEUED : JobState.FAILED;
    case "cancelled":
      return JobState.CANCELLED;
    case "preempted":
      return JobState.PREEMPTED;
    default:
      return undefined;
  }
}
