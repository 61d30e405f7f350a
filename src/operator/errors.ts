/**
 * The errors a task raises when its Armada job ends without succeeding.
 * One class for "retry may help" and a subclass for "never retry", both
 * carrying the job's queue, id, final state and reason.
 */
import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { ErrorCode } from "../common/error-code.js";
import { brandSymbol } from "../runtime/brand.js";
import { JobState, jobStateDisplayName, jobStateName, parseJobState } from "../client/job-states.js";

// The runtime fails a task without retry when the error carries this brand
// (its TaskFatalError has it too); a brand, not a base class, because the
// fatal error must also be a job-failed error.
const TASK_FATAL = brandSymbol("TaskFatalError");

/** Class path of {@link ArmadaOperatorJobFailedError} in serialized form (the reference's name). */
export const JOB_FAILED_ERROR_CLASSPATH = "armada.operators.errors.ArmadaOperatorJobFailedError";
/** Class path of {@link ArmadaOperatorJobFailedFatalError} in serialized form. */
export const JOB_FAILED_FATAL_ERROR_CLASSPATH = "armada.operators.errors.ArmadaOperatorJobFailedFatalError";

/** Serialized form: `[classpath, [queue, job_id, state_name, reason], {}]`. */
export type SerializedJobFailedError = [string, [string, string, string, string], Record<string, never>];

function jobFailedMessage(queue: string, jobId: string, state: JobState, reason: string): string {
  const base = `ArmadaOperator job '${jobId}' in queue '${queue}' terminated with state '${jobStateDisplayName(state)}'.`;
  return reason ? `${base} Termination reason: ${reason}` : base;
}

/**
 * The Armada job ended in a state other than SUCCEEDED. The task may be
 * retried (a retry can reattach or submit afresh, per the reattach policy).
 */
export class ArmadaOperatorJobFailedError extends ArmadaAirflowError {
  /** Marks the error as one the runtime may retry. */
  readonly fatal: boolean = false;

  constructor(
    /** The Armada queue the job was submitted to. */
    readonly queue: string,
    /** The Armada job id. */
    readonly jobId: string,
    /** The state the job ended in. */
    readonly state: JobState,
    /** Armada's termination reason; empty when it gave none. */
    readonly reason: string = "",
  ) {
    super(ErrorCode.JobFailed, jobFailedMessage(queue, jobId, state, reason));
    this.name = new.target.name;
  }

  /** The class path recorded when serialized. */
  get classpath(): string {
    return JOB_FAILED_ERROR_CLASSPATH;
  }

  /** `[classpath, [queue, job_id, state_name, reason], {}]`. */
  serialize(): SerializedJobFailedError {
    return [this.classpath, [this.queue, this.jobId, jobStateName(this.state), this.reason], {}];
  }

  /**
   * Rebuilds either error class from its serialized form. Throws an ArmadaAirflowError (code `serde`)
   * naming the problem when the data is not one of ours.
   */
  static deserialize(data: unknown): ArmadaOperatorJobFailedError {
    if (!Array.isArray(data) || data.length !== 3 || !Array.isArray(data[1]) || data[1].length !== 4) {
      throw new ArmadaAirflowError(
        ErrorCode.Serde,
        "serialized job failed error: expected [classpath, [queue, job_id, state_name, reason], {}]",
      );
    }
    const [classpath, args] = data as [unknown, unknown[]];
    const [queue, jobId, stateName, reason] = args;
    if (typeof queue !== "string" || typeof jobId !== "string" || typeof reason !== "string") {
      throw new ArmadaAirflowError(
        ErrorCode.Serde,
        "serialized job failed error: queue, job_id and reason must be strings",
      );
    }
    const state = parseJobState(stateName, "serialized job failed error state");
    if (classpath === JOB_FAILED_FATAL_ERROR_CLASSPATH) {
      return new ArmadaOperatorJobFailedFatalError(queue, jobId, state, reason);
    }
    if (classpath === JOB_FAILED_ERROR_CLASSPATH) {
      return new ArmadaOperatorJobFailedError(queue, jobId, state, reason);
    }
    throw new ArmadaAirflowError(
      ErrorCode.Serde,
      `serialized job failed error: unknown classpath ${JSON.stringify(classpath)}`,
    );
  }
}

/**
 * The Armada job ended in a way a retry cannot fix (REJECTED, or a state the
 * reattach policy accepts): the task fails without further tries.
 */
export class ArmadaOperatorJobFailedFatalError extends ArmadaOperatorJobFailedError {
  override readonly fatal: boolean = true;

  constructor(queue: string, jobId: string, state: JobState, reason = "") {
    super(queue, jobId, state, reason);
    Object.defineProperty(this, TASK_FATAL, { value: true });
  }

  override get classpath(): string {
    return JOB_FAILED_FATAL_ERROR_CLASSPATH;
  }
}

/**
 * The operator was given something it cannot use (a job request that is not
 * a valid job, an unknown container for logs, ...). Names the field and the
 * fix; raised before anything is submitted, and never retried (a retry
 * would fail the same way).
 */
export class ArmadaOperatorInputError extends ArmadaAirflowError {
  constructor(
    /** The operator option or job request path at fault, e.g. `job_request.pod_spec.containers[0].image`. */
    readonly field: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(ErrorCode.InvalidArgument, `${field}: ${message}`, options);
    this.name = "ArmadaOperatorInputError";
    Object.defineProperty(this, TASK_FATAL, { value: true });
  }
}

/**
 * Armada gave a definite answer to SubmitJobs that is not a job: it refused
 * the item (`itemIndex`, with Armada's `reason`), or answered in a shape no
 * Armada answers. The same request would be refused again, so the task fails
 * without retry.
 */
export class ArmadaOperatorSubmitError extends ArmadaAirflowError {
  constructor(
    /** The queue the job was submitted to. */
    readonly queue: string,
    /** The job set the job was submitted into. */
    readonly jobSetId: string,
    /** Index of the refused item in the request (0: the operator submits one item). */
    readonly itemIndex: number,
    /** Armada's own words. */
    readonly reason: string,
    options?: { cause?: unknown; message?: string; errorCode?: ErrorCode },
  ) {
    super(
      options?.errorCode ?? ErrorCode.SubmitRefused,
      options?.message ??
        `Error submitting job to Armada: ${reason} (job_request_items[${itemIndex}] in queue '${queue}', job set '${jobSetId}'; ` +
          "the request would be refused again, so the task is not retried)",
      { cause: options?.cause },
    );
    this.name = new.target.name;
    Object.defineProperty(this, TASK_FATAL, { value: true });
  }
}

/**
 * SubmitJobs was refused because the queue does not exist (Armada answers
 * PERMISSION_DENIED `could not find queue "<name>"`). Says how to create it;
 * never retried, since waiting does not create a queue.
 */
export class ArmadaOperatorQueueNotFoundError extends ArmadaOperatorSubmitError {
  constructor(queue: string, jobSetId: string, options?: { cause?: unknown }) {
    super(queue, jobSetId, 0, `could not find queue "${queue}"`, {
      ...options,
      errorCode: ErrorCode.NotFound,
      message:
        `Armada queue '${queue}' does not exist, so nothing was submitted. Create it first ` +
        `(armadactl create queue ${queue}, or the QueueService CreateQueue call; the dev server takes ` +
        `queues: ["${queue}"] or \`dev --queue ${queue}\`), or set armadaQueue to an existing queue.`,
    });
  }
}

/**
 * The job could not be cancelled: the cancel call kept failing (after
 * retries, the cancel being idempotent) or was refused. The job may still be
 * running; `lastKnownState` is what the task last saw. Retryable: a later
 * try may reattach to the job or cancel it.
 */
export class ArmadaOperatorCancelError extends ArmadaAirflowError {
  constructor(
    /** The Armada queue of the job. */
    readonly queue: string,
    /** The Armada job id. */
    readonly jobId: string,
    /** The job's state when the cancel was attempted (name, e.g. `RUNNING`). */
    readonly lastKnownState: string,
    /** Cancel attempts made. */
    readonly attempts: number,
    options?: { cause?: unknown },
  ) {
    const why = options?.cause instanceof Error ? `: ${options.cause.message}` : "";
    super(
      ErrorCode.CancelFailed,
      `Could not cancel Armada job '${jobId}' in queue '${queue}' after ${attempts} attempt(s)${why}. ` +
        `The job may still be running (last seen ${lastKnownState}); cancel it with armadactl cancel or in Lookout.`,
      { cause: options?.cause },
    );
    this.name = "ArmadaOperatorCancelError";
  }
}
