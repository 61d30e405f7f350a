/**
 * How a deferrable ArmadaOperator's trigger ends its task when the job
 * succeeded (Airflow's end_from_trigger, `[armada_operator]
 * end_from_trigger`): with the result the resumed task would have returned
 * and the lines it would have logged, so that nothing resumes only to find
 * the job done. Shared by the poll trigger (its confirmed SUCCEEDED) and
 * the submit trigger (a job found SUCCEEDED at its first check).
 */
import { TaskSuccessEvent } from "../runtime/trigger.js";
import type { TaskLogger } from "../runtime/task-logger.js";

/** What the trigger needs beyond the job to end the task as the operator would (serialized with the watch). */
export interface JobSuccessEnd {
  /** The operator's extra links, rendered (its `links` besides `lookout`). */
  links: Record<string, string>;
  /** The operator's `doXcomPush`: write the result as XCom `return_value`. */
  pushResult: boolean;
}

/**
 * The task's result (XCom `return_value`). Its fields are snake_case on
 * purpose: they are the XCom keys Airflow's ArmadaOperator returns, which
 * downstream tasks and templates (`ti.xcom_pull(...)["job_id"]`) read by name.
 */
export interface ArmadaOperatorResult {
  armada_queue: string;
  job_id: string;
  job_set_id: string;
  job_state: string;
  links: Record<string, string>;
}

/** The job a trigger ends its task for. */
export interface SucceededJob {
  jobId: string;
  queue: string;
  jobSetId: string;
  /** The job's Lookout page, when the operator has a template. */
  detailsUrl?: string;
}

/** The result's links: `lookout` first (when there is a page), then the extra links, as the operator orders them. */
export function resultLinks(lookout: string | undefined, extra: Record<string, string>): Record<string, string> {
  return lookout ? { lookout, ...extra } : { ...extra };
}

/**
 * Logs the job's end as the resumed task would have and returns the event
 * that ends the task as SUCCESS with the operator's result, so downstream
 * tasks read the same XCom either way. The caller has logged the state
 * change (`is in state: SUCCEEDED`).
 */
export function jobSucceededEvent(end: JobSuccessEnd, job: SucceededJob, log: TaskLogger): TaskSuccessEvent {
  log.info(`Armada job ${job.jobId} terminated with state: SUCCEEDED`);
  if (!end.pushResult) return new TaskSuccessEvent();
  const result: ArmadaOperatorResult = {
    armada_queue: job.queue,
    job_id: job.jobId,
    job_set_id: job.jobSetId,
    job_state: "SUCCEEDED",
    links: resultLinks(job.detailsUrl, end.links),
  };
  return new TaskSuccessEvent({ return_value: result });
}
