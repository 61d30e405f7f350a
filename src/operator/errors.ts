/**
 * The errors a task raises when its Armada job ends without succeeding.
 * One class for "retry may help" and a subclass for "never retry", both
 * carrying the job's queue, id, final state and reason.
 */
import { brandSymbol } from "../runtime/brand.js";
import { JobState, jobStateDisplayName, jobStateName, parseJobState } from "./job-states.js";

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
export class ArmadaOperatorJobFailedError extends Error {
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
    super(jobFailedMessage(queue, jobId, state, reason));
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
   * Rebuilds either error class from its serialized form. Throws a TypeError
   * naming the problem when the data is not one of ours.
   */
  static deserialize(data: unknown): ArmadaOperatorJobFailedError {
    if (!Array.isArray(data) || data.length !== 3 || !Array.isArray(data[1]) || data[1].length !== 4) {
      throw new TypeError("serialized job failed error: expected [classpath, [queue, job_id, state_name, reason], {}]");
    }
    const [classpath, args] = data as [unknown, unknown[]];
    const [queue, jobId, stateName, reason] = args;
    if (typeof queue !== "string" || typeof jobId !== "string" || typeof reason !== "string") {
      throw new TypeError("serialized job failed error: queue, job_id and reason must be strings");
    }
    const state = parseJobState(stateName, "serialized job failed error state");
    if (classpath === JOB_FAILED_FATAL_ERROR_CLASSPATH) {
      return new ArmadaOperatorJobFailedFatalError(queue, jobId, state, reason);
    }
    if (classpath === JOB_FAILED_ERROR_CLASSPATH) {
      return new ArmadaOperatorJobFailedError(queue, jobId, state, reason);
    }
    throw new TypeError(`serialized job failed error: unknown classpath ${JSON.stringify(classpath)}`);
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
export class ArmadaOperatorInputError extends Error {
  constructor(
    /** The operator option or job request path at fault, e.g. `job_request.pod_spec.containers[0].image`. */
    readonly field: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${field}: ${message}`, options);
    this.name = "ArmadaOperatorInputError";
    Object.defineProperty(this, TASK_FATAL, { value: true });
  }
}
