/**
 * What a deferred ArmadaOperator's trigger watches for, decided from the
 * operator's settings and the job as last seen. One function for the two
 * places that decide it: the operator, deferring after its own status check,
 * and the submit trigger, deferring nothing but going on to watch the job it
 * just submitted (see {@link ArmadaSubmitJobTrigger}), so both give a job the
 * same deadlines.
 */
import { JobState, jobStateName } from "../client/job-states.js";
import type { JobSuccessEnd } from "./job-success-end.js";
import { lookoutUrl } from "./links.js";
import type { ArmadaJobWatch } from "./poll-job-trigger.js";

/** A watch's `untilMs` when the operator has no deadline for the job: the latest time a Date holds. */
export const NO_DEADLINE_MS = 8.64e15;

/** States of a job waiting for capacity, which `queueTimeout` bounds. */
export const WAITING_FOR_CAPACITY: ReadonlySet<JobState> = new Set([JobState.QUEUED, JobState.LEASED]);

/** The operator's settings a watch is made from (serialized with the submit trigger: plain JSON). */
export interface JobWatchPlan {
  pollIntervalS: number;
  /** `jobAcknowledgementTimeout`: a job still UNKNOWN this long after its submit is cancelled. */
  ackTimeoutS: number;
  /** `queueTimeout`: a job still QUEUED or LEASED this long after its submit is cancelled. */
  queueTimeoutS?: number;
  /** `armada_operator.max_quiet_s`, when over 0. */
  quietS?: number;
  /** The operator's Lookout link template (`<job_id>` in it). */
  lookoutUrlTemplate?: string;
  /** The task streams the job's container log: it resumes on every change, and waits in the task while RUNNING. */
  containerLogs?: true;
  tracking?: "events";
  /**
   * End the task from the trigger when the job succeeds (`[armada_operator] end_from_trigger`), with these
   * parts of its result. Not with `containerLogs`: the task reads the log to its end.
   */
  endOnSuccess?: JobSuccessEnd;
}

/** The job a watch is for, as last seen. */
export interface WatchedJob {
  jobId: string;
  state: JobState;
  submitMs: number;
  queue: string;
  jobSetId: string;
}

/**
 * The watch for `job` at `nowMs`; undefined while a running job's container
 * log is streamed (the task reads it, so the trigger fires at its moment and
 * the task resumes every poll).
 */
export function jobWatchFor(plan: JobWatchPlan, job: WatchedJob, nowMs: number): ArmadaJobWatch | undefined {
  if (plan.containerLogs && job.state === JobState.RUNNING) return undefined;
  const detailsUrl = plan.lookoutUrlTemplate ? lookoutUrl(plan.lookoutUrlTemplate, job.jobId) : undefined;
  const endOnSuccess = successEndOf(plan);
  let until = NO_DEADLINE_MS;
  if (job.state === JobState.UNKNOWN) until = Math.min(until, job.submitMs + plan.ackTimeoutS * 1000 + 1);
  if (plan.queueTimeoutS !== undefined && WAITING_FOR_CAPACITY.has(job.state))
    until = Math.min(until, job.submitMs + plan.queueTimeoutS * 1000 + 1);
  return {
    jobId: job.jobId,
    lastState: jobStateName(job.state),
    pollIntervalS: plan.pollIntervalS,
    untilMs: Math.max(until, nowMs + plan.pollIntervalS * 1000),
    ...(plan.quietS !== undefined ? { quietS: plan.quietS } : {}),
    ...(detailsUrl ? { detailsUrl } : {}),
    // The running job's log is read by the task: it resumes when the job starts running.
    ...(plan.containerLogs ? { resumeOnEveryChange: true as const } : {}),
    ...(plan.tracking === "events" ? { tracking: "events" as const } : {}),
    // The queue and job set: the stream's, and the result's when the trigger ends the task.
    ...(plan.tracking === "events" || endOnSuccess ? { queue: job.queue, jobSetId: job.jobSetId } : {}),
    ...(endOnSuccess ? { endOnSuccess } : {}),
  };
}

/**
 * How the trigger ends the task when the job succeeds, if it does: never while the task reads the container log
 * (to its end). The plan's own object, so the watches of one operator's tasks share it.
 */
export function successEndOf(plan: JobWatchPlan): JobSuccessEnd | undefined {
  return plan.containerLogs ? undefined : plan.endOnSuccess;
}
