/**
 * Reattach policies: on a retry, whether the task may attach to the job an
 * earlier try submitted instead of submitting a new one.
 */
import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { ErrorCode } from "../common/error-code.js";
import { JobState } from "../client/job-states.js";

/** Decides from an existing job's state and termination reason whether to reattach. */
export type ReattachPolicyFunction = (state: JobState, terminationReason: string) => boolean;

/** The named policies (matched case-insensitively). */
export type ReattachPolicyName = "never" | "always" | "running_or_succeeded";

/** A policy by name or as a function. */
export type ReattachPolicy = ReattachPolicyName | (string & {}) | ReattachPolicyFunction;

/** Never reattach: every try submits its own job. */
export const neverReattach: ReattachPolicyFunction = () => false;

/** Always reattach to the most recent job, whatever its state. */
export const alwaysReattach: ReattachPolicyFunction = () => true;

/** Reattach unless the earlier job FAILED or was REJECTED. */
export const runningOrSucceededReattach: ReattachPolicyFunction = (state) =>
  state !== JobState.FAILED && state !== JobState.REJECTED;

/**
 * Turns a policy name (any case) or function into a function.
 * Throws `Unknown policy type: <name>` for any other name.
 */
export function reattachPolicy(policy: ReattachPolicy): ReattachPolicyFunction {
  if (typeof policy === "function") return policy;
  if (typeof policy !== "string") {
    throw new ArmadaAirflowError(
      ErrorCode.InvalidArgument,
      `reattachPolicy: expected a policy name or a function, got ${typeof policy}`,
    );
  }
  switch (policy.toLowerCase()) {
    case "never":
      return neverReattach;
    case "always":
      return alwaysReattach;
    case "running_or_succeeded":
      return runningOrSucceededReattach;
    default:
      throw new ArmadaAirflowError(ErrorCode.InvalidArgument, `Unknown policy type: ${policy.toLowerCase()}`);
  }
}

/**
 * Picks the first policy given (operator argument, then DAG default args, then
 * configuration) and falls back to `never`. Validates it at once, so an
 * unknown name fails when the operator is built, not on its second try.
 */
export function resolveReattachPolicy(
  ...candidates: (ReattachPolicy | null | undefined)[]
): ReattachPolicyFunction {
  for (const candidate of candidates) {
    if (candidate !== undefined && candidate !== null && candidate !== "") return reattachPolicy(candidate);
  }
  return neverReattach;
}

/** What identifies one task instance, for {@link externalJobUri}. */
export interface TaskInstanceKey {
  dagId: string;
  taskId: string;
  runId: string;
  /** -1 when the task is not mapped. */
  mapIndex: number;
}

/**
 * The URI that ties an Armada job to the task instance that submitted it:
 * `airflow://<dag_id>/<task_id>/<run_id>/<map_index>`. Set on the job so a
 * later try (or an ambiguous submit) can find it again.
 */
export function externalJobUri(key: TaskInstanceKey): string {
  return `airflow://${key.dagId}/${key.taskId}/${key.runId}/${key.mapIndex}`;
}
