/**
 * The dev server's `api.Jobs` query service: job states, details, errors and
 * runs, as Armada answers them once a job has been ingested.
 */
import type { JobRunDetails, JobsServer } from "../gen/armada/job.js";
import { JobState } from "../gen/armada/submit.js";
import { jobStateNumber } from "../client/job-states.js";
import { DevRequestError, type DevArmada } from "./dev-armada.js";
import type { GrpcContext, GrpcHandlerFactory } from "./grpc-handlers.js";
import type { JobRecord } from "./job-record.js";
import { jobDetails, runDetails } from "./query-views.js";

/** `view` of each job of `ids` that has been ingested, by id; the others are left out. */
function eachIngested<T>(a: DevArmada, ids: string[], view: (job: JobRecord) => T): Record<string, T> {
  const out: Record<string, T> = {};
  for (const id of ids) {
    const job = a.ingestedJob(id);
    if (job) out[id] = view(job);
  }
  return out;
}

/** The Jobs handlers. A job not ingested yet is unknown to them, as to Armada's query API. */
export function jobsService(ctx: GrpcContext, { unary }: GrpcHandlerFactory): JobsServer {
  return {
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
    getJobDetails: unary("GetJobDetails", (req) => ({
      jobDetails: eachIngested(ctx.armada(), req.jobIds, (job) =>
        jobDetails(job, req.expandJobSpec, req.expandJobRun),
      ),
    })),
    getJobErrors: unary("GetJobErrors", (req) => ({
      jobErrors: eachIngested(ctx.armada(), req.jobIds, (job) => job.error ?? ""),
    })),
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
}
