/**
 * What the Lookout pages read: a narrow view of the dev server's state, so the
 * pages can be rendered (and tested) without a gRPC server. The pages own
 * these view types (the dev server's records satisfy them as they are), so
 * the web layer does not depend on the dev server's internals.
 */
import type { JobStateName } from "../client/job-states.js";
import type { EventStreamMessage } from "../gen/armada/event.js";

/** One run of a job, as the job page shows it. */
export interface LookoutRun {
  runId: string;
  /** Run state name, e.g. `RUNNING` or `LEASE_RETURNED`. */
  state: string;
  cluster: string;
  node: string;
  leasedAt: Date;
  startedAt?: Date;
  finishedAt?: Date;
  /** Why the run ended, when it did not succeed. */
  reason?: string;
  failureCategory?: string;
  failureSubcategory?: string;
}

/** A job, as the job list and job page show it. */
export interface LookoutJob {
  id: string;
  queue: string;
  jobSetId: string;
  namespace: string;
  priority: number;
  owner: string;
  state: JobStateName;
  externalJobUri: string;
  submittedAt: Date;
  lastTransitionAt: Date;
  cancelReason?: string;
  /** Why the job failed, was preempted or rejected. */
  error?: string;
  /** Why the scheduler cannot place the job now (shown while it waits). */
  schedulingReason?: string;
  runs: readonly LookoutRun[];
}

/** One container's log lines. */
export interface ContainerLog {
  container: string;
  lines: { timeMs: number; text: string }[];
}

/** Read access for the pages. */
export interface LookoutSource {
  /** Every job, oldest first. */
  jobs(): readonly LookoutJob[];
  /** A job by id. */
  job(id: string): LookoutJob | undefined;
  /** The events of one job, in order (`job` is one this source returned). */
  jobEvents(job: LookoutJob): EventStreamMessage[];
  /** The job's pod logs, or undefined when it has no pod (never ran, or deleted). */
  logs(job: LookoutJob): ContainerLog[] | undefined;
}
