/**
 * Armada job states, the one definition every layer uses (the operator, the
 * dev server and its Lookout pages): which are still moving, which are final,
 * and how they are named in messages, XCom and the dev server's records.
 */
import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { ErrorCode } from "../common/error-code.js";
import { JobState, jobStateFromJSON, jobStateToJSON } from "../gen/armada/submit.js";

export { JobState };

/** A state's upper-case enum name, as the API spells it (`UNRECOGNIZED`, ts-proto's own member, excluded). */
export type JobStateName = Exclude<keyof typeof JobState, "UNRECOGNIZED">;

/** States after which Armada will not move the job again. */
export const TERMINAL_JOB_STATES: ReadonlySet<JobState> = new Set([
  JobState.SUCCEEDED,
  JobState.FAILED,
  JobState.CANCELLED,
  JobState.PREEMPTED,
  JobState.REJECTED,
]);

/** Every real state (the generated enum also carries `UNRECOGNIZED`). */
export const ALL_JOB_STATES: readonly JobState[] = [
  JobState.QUEUED,
  JobState.PENDING,
  JobState.RUNNING,
  JobState.SUCCEEDED,
  JobState.FAILED,
  JobState.UNKNOWN,
  JobState.SUBMITTED,
  JobState.LEASED,
  JobState.PREEMPTED,
  JobState.CANCELLED,
  JobState.REJECTED,
];

/** {@link TERMINAL_JOB_STATES} by name. */
export const TERMINAL_JOB_STATE_NAMES: ReadonlySet<JobStateName> = new Set([
  "SUCCEEDED",
  "FAILED",
  "CANCELLED",
  "PREEMPTED",
  "REJECTED",
]);

/** True when the job will not change state again. */
export function isTerminalJobState(state: JobState): boolean {
  return TERMINAL_JOB_STATES.has(state);
}

/** True while the job may still change state (UNKNOWN, SUBMITTED, QUEUED, LEASED, PENDING, RUNNING). */
export function isActiveJobState(state: JobState): boolean {
  return !isTerminalJobState(state);
}

/**
 * The upper-case enum name, e.g. `FAILED`, as stored in XCom and serialized
 * errors; `UNRECOGNIZED` for a number no state has (a newer server's state).
 */
export function jobStateName(state: JobState): JobStateName | "UNRECOGNIZED" {
  return jobStateToJSON(state) as JobStateName | "UNRECOGNIZED";
}

/** The enum number of a state name. */
export function jobStateNumber(name: JobStateName): JobState {
  return JobState[name];
}

/** The name as people read it in messages, e.g. `Failed`. */
export function jobStateDisplayName(state: JobState): string {
  const name = jobStateName(state);
  return name.charAt(0) + name.slice(1).toLowerCase();
}

/**
 * Parses a state given by name (any case) or number. Throws for anything else
 * so a corrupt XCom value is caught where it is read.
 */
export function parseJobState(value: unknown, field = "state"): JobState {
  const normalised = typeof value === "string" ? value.toUpperCase() : value;
  const state = jobStateFromJSON(normalised);
  if (state === JobState.UNRECOGNIZED) {
    throw new ArmadaAirflowError(
      ErrorCode.InvalidArgument,
      `${field}: ${JSON.stringify(value)} is not an Armada job state; expected one of ${ALL_JOB_STATES.map(jobStateName).join(", ")}`,
    );
  }
  return state;
}
