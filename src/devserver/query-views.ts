/**
 * How jobs and runs look through the query API (the Lookout-backed `Jobs`
 * service): enum numbers and the JobDetails / JobRunDetails messages.
 */
import { JobRunState, type JobDetails, type JobRunDetails } from "../gen/armada/job.js";
import { jobStateNumber } from "../client/job-states.js";
import type { JobRecord, RunRecord, RunStateName } from "./job-record.js";

const RUN_STATE: Record<RunStateName, JobRunState> = {
  LEASED: JobRunState.RUN_STATE_LEASED,
  PENDING: JobRunState.RUN_STATE_PENDING,
  RUNNING: JobRunState.RUN_STATE_RUNNING,
  SUCCEEDED: JobRunState.RUN_STATE_SUCCEEDED,
  FAILED: JobRunState.RUN_STATE_FAILED,
  PREEMPTED: JobRunState.RUN_STATE_PREEMPTED,
  CANCELLED: JobRunState.RUN_STATE_CANCELLED,
  LEASE_RETURNED: JobRunState.RUNS_STATE_LEASE_RETURNED,
};

/** A run as `JobRunDetails`. */
export function runDetails(run: RunRecord): JobRunDetails {
  return {
    runId: run.runId,
    jobId: run.jobId,
    state: RUN_STATE[run.state],
    cluster: run.cluster,
    node: run.node,
    leasedTs: run.leasedAt,
    pendingTs: run.pendingAt,
    startedTs: run.startedAt,
    finishedTs: run.finishedAt,
    ingressAddresses: { ...run.ingressAddresses },
  };
}

/** A job as `JobDetails`; runs and spec only when asked for, as the real API does. */
export function jobDetails(job: JobRecord, expandJobSpec: boolean, expandJobRun: boolean): JobDetails {
  const latest = job.runs[job.runs.length - 1];
  return {
    jobId: job.id,
    queue: job.queue,
    jobset: job.jobSetId,
    namespace: job.namespace,
    state: jobStateNumber(job.state),
    submittedTs: job.submittedAt,
    cancelTs: job.cancelledAt,
    cancelReason: job.cancelReason ?? "",
    lastTransitionTs: job.lastTransitionAt,
    latestRunId: latest?.runId ?? "",
    jobSpec: expandJobSpec ? job.spec : undefined,
    jobRuns: expandJobRun ? job.runs.map(runDetails) : [],
    cancelUser: job.cancelUser ?? "",
  };
}
