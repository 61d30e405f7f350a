import { ScopedValue } from "./async-scope.js";
import type { Clock } from "../common/clock.js";
import type { BaseOperator } from "./base-operator.js";
import type { DAG } from "./dag.js";
import { RuntimeError } from "./errors.js";
import type { RuntimeConfig } from "./runtime-config.js";
import type { DagRunState, TaskInstanceState } from "./state.js";
import type { TaskLogger } from "./task-logger.js";

/** Which XComs `xcomPull` reads. */
export interface XComPullOptions {
  /**
   * One task id (returns one value, or a list when that task is mapped and
   * `mapIndexes` is not given) or a list of task ids (returns a list).
   * Default: the current task, at the current map index (as Airflow 3).
   */
  taskIds?: string | string[];
  /** Default `"return_value"`. */
  key?: string;
  /** One map index (one value) or several (a list). */
  mapIndexes?: number | number[];
}

/** Identifies one task instance. */
export interface TaskInstanceKey {
  dagId: string;
  runId: string;
  taskId: string;
  /** -1 for an unmapped task, as Airflow. */
  mapIndex: number;
}

/**
 * A task instance as a running task sees it (Airflow's `ti`).
 *
 * Try numbers count as Airflow counts them: `tryNumber` is 1 on the first try
 * and grows by one for each retry; it does not change when a deferred task
 * resumes. `maxTries` is Airflow's `max_tries`, which equals the task's
 * `retries`: a failed try is retried while `tryNumber <= maxTries`.
 */
export interface TaskInstance extends TaskInstanceKey {
  readonly tryNumber: number;
  readonly maxTries: number;
  /** The operator instance running this task instance. */
  readonly task: BaseOperator;
  /** This task instance's log. */
  readonly log: TaskLogger;
  /** Stores `value` under `key` for this task instance and try (serialized with the serde registry). */
  xcomPush(key: string, value: unknown): Promise<void>;
  /** Reads XComs of the current DAG run (latest try of each task instance); `undefined` when absent. */
  xcomPull(options?: XComPullOptions): Promise<unknown>;
  /** The state as stored now. */
  currentState(): Promise<TaskInstanceState>;
}

/** The DAG run a task belongs to (Airflow's `dag_run`). */
export interface DagRunInfo {
  dagId: string;
  runId: string;
  logicalDate: Date;
  /** The run's `conf` (JSON object given at trigger time). */
  conf: Record<string, unknown>;
  /** `manual` (CLI trigger/test) or `scheduled`. */
  runType: string;
  state: DagRunState;
}

/**
 * What a task gets in `execute(context)` (Airflow's template context, camelCase).
 * Templates see the same values under Airflow's snake_case names.
 */
export interface Context {
  dag: DAG;
  task: BaseOperator;
  ti: TaskInstance;
  /** Same as `ti`. */
  taskInstance: TaskInstance;
  runId: string;
  logicalDate: Date;
  dataIntervalStart: Date;
  dataIntervalEnd: Date;
  /** `YYYY-MM-DD` of the logical date. */
  ds: string;
  /** `YYYYMMDD`. */
  dsNodash: string;
  /** ISO 8601 with `+00:00`, as Airflow: `2024-01-01T00:00:00+00:00`. */
  ts: string;
  /** `20240101T000000`. */
  tsNodash: string;
  /** `20240101T000000+0000`. */
  tsNodashWithTz: string;
  /** DAG params, then task params, then the run's conf on top (Airflow's `dag_run_conf_overrides_params`). */
  params: Record<string, unknown>;
  /** The DAG run's conf (same as `dagRun.conf`). */
  conf: Record<string, unknown>;
  dagRun: DagRunInfo;
  /** Aborted when the task is killed or times out; pass it to long waits. */
  signal: AbortSignal;
  /** The runner's clock. */
  clock: Clock;
  /** The settings of the runner running the task, resolved once (operators read theirs here at execute time). */
  runtimeConfig: RuntimeConfig;
}

// Shared by every copy of this module, so a DAG file importing the other copy sees its task's context.
const storage = new ScopedValue<Context>("current-context");

/** Runs `fn` with `context` as the current context. */
export function runWithContext<T>(context: Context, fn: () => T): T {
  return storage.run(context, fn);
}

/** The context of the task running now (Airflow's `get_current_context()`); throws outside a task. */
export function getCurrentContext(): Context {
  const ctx = storage.get();
  if (!ctx) {
    throw new RuntimeError(
      "invalid_argument",
      "getCurrentContext() was called outside a running task; call it from execute() or code it calls",
    );
  }
  return ctx;
}

/** The current context, or undefined outside a task. */
export function tryGetCurrentContext(): Context | undefined {
  return storage.get();
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, "0");
}

/** Airflow's date strings for `date` (UTC). */
export function dateStrings(date: Date): Pick<Context, "ds" | "dsNodash" | "ts" | "tsNodash" | "tsNodashWithTz"> {
  const ds = `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}`;
  const time = `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`;
  const ms = date.getUTCMilliseconds();
  const frac = ms ? `.${pad(ms, 3)}000` : "";
  const tsNodash = `${ds.replaceAll("-", "")}T${time.replaceAll(":", "")}`;
  return {
    ds,
    dsNodash: ds.replaceAll("-", ""),
    ts: `${ds}T${time}${frac}+00:00`,
    tsNodash,
    tsNodashWithTz: `${tsNodash}+0000`,
  };
}
