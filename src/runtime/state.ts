/**
 * Task instance states, with Airflow's names and values.
 */
export const TaskInstanceState = {
  NONE: "none",
  SCHEDULED: "scheduled",
  QUEUED: "queued",
  RUNNING: "running",
  SUCCESS: "success",
  FAILED: "failed",
  UP_FOR_RETRY: "up_for_retry",
  DEFERRED: "deferred",
  SKIPPED: "skipped",
  UPSTREAM_FAILED: "upstream_failed",
  REMOVED: "removed",
} as const;

/** One of {@link TaskInstanceState}'s values. */
export type TaskInstanceState = (typeof TaskInstanceState)[keyof typeof TaskInstanceState];

/** States after which a task instance does nothing more (Airflow's `State.finished`). */
export const FINISHED_STATES: ReadonlySet<TaskInstanceState> = new Set<TaskInstanceState>([
  "success",
  "failed",
  "skipped",
  "upstream_failed",
  "removed",
]);

/** DAG run states (Airflow's `DagRunState`). */
export const DagRunState = {
  QUEUED: "queued",
  RUNNING: "running",
  SUCCESS: "success",
  FAILED: "failed",
} as const;

/** One of {@link DagRunState}'s values. */
export type DagRunState = (typeof DagRunState)[keyof typeof DagRunState];

/** Airflow's trigger rules: when a task may run given its upstream tasks' states. */
export const TriggerRule = {
  ALL_SUCCESS: "all_success",
  ALL_FAILED: "all_failed",
  ALL_DONE: "all_done",
  ALL_SKIPPED: "all_skipped",
  ONE_SUCCESS: "one_success",
  ONE_FAILED: "one_failed",
  ONE_DONE: "one_done",
  NONE_FAILED: "none_failed",
  NONE_SKIPPED: "none_skipped",
  NONE_FAILED_MIN_ONE_SUCCESS: "none_failed_min_one_success",
  ALWAYS: "always",
} as const;

/** One of {@link TriggerRule}'s values. */
export type TriggerRule = (typeof TriggerRule)[keyof typeof TriggerRule];
