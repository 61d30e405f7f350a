/**
 * Armada job states as the operator reasons about them: which are still
 * moving, which are final, and how they are named in messages and XCom.
 */
import { JobState, jobStateFromJSON, jobStateToJSON } from "../gen/armada/submit.js";

export { JobState };

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

/** True when the job will not change state again. */
export function isTerminalJobState(state: JobState): boolean {
  return TERMINAL_JOB_STATES.has(state);
}

/** True while the job may still change state (UNKNOWN, SUBMITTED, QUEUED, LEASED, PENDING, RUNNING). */
export function isActiveJobState(state: JobState): boolean {
  return !isTerminalJobState(state);
}

/** The upper-case enum name, e.g. `FAILED`, as stored in XCom and serialized errors. */
export function jobStateName(state: JobState): string {
  return jobStateToJSON(state);
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
    throw new TypeError(
      `${field}: ${JSON.stringify(value)} is not an Armada job state; expected one of ${ALL_JOB_STATES.map(jobStateName).join(", ")}`,
    );
  }
  return state;
}
