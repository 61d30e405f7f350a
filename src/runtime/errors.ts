import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { brandSymbol, hasBrand } from "./brand.js";
import type { BaseTrigger } from "./trigger.js";

const TASK_FATAL = brandSymbol("TaskFatalError");
const TASK_DEFERRED = brandSymbol("TaskDeferred");
const TASK_SKIPPED = brandSymbol("TaskSkipped");
const RUNTIME_ERROR = brandSymbol("RuntimeError");

/** Machine-readable codes of {@link RuntimeError}: a subset of the family's `ErrorCode` values. */
export type RuntimeErrorCode =
  | "config"
  | "template"
  | "serde"
  | "dag"
  | "store"
  | "store_too_new"
  | "timeout"
  | "killed"
  | "conflict"
  | "not_found"
  | "invalid_argument"
  | "pool";

/**
 * The runtime's errors: a code, a message naming the fix, an optional cause.
 * A member of the {@link ArmadaAirflowError} family, whose `errorCode` equals
 * `code` here.
 */
export class RuntimeError extends ArmadaAirflowError {
  readonly code: RuntimeErrorCode;
  constructor(code: RuntimeErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = "RuntimeError";
    this.code = code;
    Object.defineProperty(this, RUNTIME_ERROR, { value: true });
  }

  /** True for a RuntimeError from any copy of this module. */
  static is(value: unknown): value is RuntimeError {
    return hasBrand(value, RUNTIME_ERROR);
  }
}

/**
 * A mistake in what a DAG file defines (an id, an option, a dependency),
 * found when the DAG is built or loaded. `field` names the option at fault:
 * `triggerRule`, `defaultArgs.retries`, `taskId`, ...
 */
export class DagDefinitionError extends RuntimeError {
  readonly field: string;
  constructor(field: string, message: string, code: "invalid_argument" | "dag" = "invalid_argument") {
    super(code, message);
    this.name = "DagDefinitionError";
    this.field = field;
  }
}

/**
 * A task failure that must not be retried (Airflow's `AirflowFailException`).
 *
 * The runtime recognises it by the brand `Symbol.for("armada-airflow.TaskFatalError")`
 * set on every instance (see {@link isTaskFatalError}), so subclasses and
 * copies from another module instance are recognised too. Any other thrown
 * value is a retryable failure.
 */
export class TaskFatalError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TaskFatalError";
    Object.defineProperty(this, TASK_FATAL, { value: true });
  }
}

/** True when `err` means "fail now, do not retry". */
export function isTaskFatalError(err: unknown): boolean {
  return hasBrand(err, TASK_FATAL);
}

/** Thrown inside `execute` to end the task as SKIPPED (Airflow's `AirflowSkipException`). */
export class TaskSkipped extends Error {
  constructor(message = "Task skipped") {
    super(message);
    this.name = "TaskSkipped";
    Object.defineProperty(this, TASK_SKIPPED, { value: true });
  }
}

/** True when `err` is a {@link TaskSkipped} from any module copy. */
export function isTaskSkipped(err: unknown): err is TaskSkipped {
  return hasBrand(err, TASK_SKIPPED);
}

/** What a task asks for when it defers: see `BaseOperator.defer`. */
export interface DeferRequest {
  /** The trigger whose first event resumes the task. */
  trigger: BaseTrigger;
  /** Name of the operator method called on resume as `task[methodName](context, event, kwargs)`. */
  methodName: string;
  /** Extra data kept with the deferral and passed to the method on resume. */
  kwargs?: Record<string, unknown>;
  /** Seconds until the deferral times out (the task then fails with a retryable timeout error). */
  timeout?: number;
}

/**
 * Thrown by `BaseOperator.defer` (Airflow's `TaskDeferred`): the runner stores
 * the trigger, sets the task DEFERRED and resumes it later.
 */
export class TaskDeferred extends Error {
  readonly trigger: BaseTrigger;
  readonly methodName: string;
  readonly kwargs: Record<string, unknown>;
  readonly timeout: number | undefined;
  constructor(request: DeferRequest) {
    super(`Task deferred to ${request.methodName}`);
    this.name = "TaskDeferred";
    this.trigger = request.trigger;
    this.methodName = request.methodName;
    this.kwargs = request.kwargs ?? {};
    this.timeout = request.timeout;
    Object.defineProperty(this, TASK_DEFERRED, { value: true });
  }
}

/** True when `err` is a {@link TaskDeferred} from any module copy. */
export function isTaskDeferred(err: unknown): err is TaskDeferred {
  return hasBrand(err, TASK_DEFERRED);
}

/** The task ran longer than its `executionTimeout` (retryable, as Airflow's `AirflowTaskTimeout`). */
export class TaskTimeoutError extends RuntimeError {
  constructor(message: string) {
    super("timeout", message);
    this.name = "TaskTimeoutError";
  }
}

/** The task was killed (signal, `tasks kill`, `tasks mark-failed`). */
export class TaskKilledError extends RuntimeError {
  constructor(message: string) {
    super("killed", message);
    this.name = "TaskKilledError";
  }
}

/** A template could not be rendered: names the template field path and, when known, the variable. */
export class TemplateRenderError extends RuntimeError {
  /** Field path such as `job_request.pod_specs[0].args[1]`. */
  readonly fieldPath: string;
  /** The undefined variable (as written in the template), when that was the cause. */
  readonly variable: string | undefined;
  constructor(fieldPath: string, detail: string, variable?: string, cause?: unknown) {
    super("template", `Cannot render template field '${fieldPath}': ${detail}`, { cause });
    this.name = "TemplateRenderError";
    this.fieldPath = fieldPath;
    this.variable = variable;
  }
}
