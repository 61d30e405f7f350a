import { brandSymbol, hasBrand } from "./brand.js";
import { tryGetCurrentContext, type Context, type TaskInstanceKey } from "./context.js";
import type { DAG } from "./dag.js";
import {
  checkDagOption,
  checkId,
  checkOperatorOptions,
  configuredOperatorDefault,
} from "./definition-checks.js";
import { DagDefinitionError, RuntimeError, TaskDeferred, type DeferRequest } from "./errors.js";
import { templateFieldProperty } from "./naming.js";
import { DEFAULT_POOL } from "./pools.js";
import type { TriggerRule } from "./state.js";
import { stderrLogger, type TaskLogger } from "./task-logger.js";
import { defaultTemplateEnv, type TemplateEnv } from "./template.js";

const OPERATOR = brandSymbol("BaseOperator");
const XCOM_ARG = brandSymbol("XComArg");

/** Options every operator takes (Airflow's BaseOperator arguments, camelCase). */
export interface BaseOperatorOptions {
  /** Unique within the DAG: letters, digits, `_`, `-`, `.`. */
  taskId: string;
  /** The DAG to add the task to; its `defaultArgs` fill options not given here. */
  dag?: DAG;
  /** Retries after the first try. @default config `core.default_task_retries`, else 0 */
  retries?: number;
  /** Seconds between tries. @default config `core.default_task_retry_delay`, else 300 */
  retryDelay?: number;
  /** Double the delay on each retry (with Airflow's deterministic jitter). @default false */
  retryExponentialBackoff?: boolean;
  /** Upper bound of the retry delay in seconds. @default config `core.max_task_retry_delay`, else 86400 */
  maxRetryDelay?: number;
  /** Seconds a try may run before `onKill()` and a retryable timeout failure. @default none */
  executionTimeout?: number;
  /** @default "all_success" */
  triggerRule?: TriggerRule;
  /** Task params, merged over the DAG's params. */
  params?: Record<string, unknown>;
  /** Push the return value of `execute` to XCom `return_value`. @default true */
  doXcomPush?: boolean;
  /**
   * The pool whose slots a try of this task takes (create pools with
   * `armada-airflow pools set NAME SLOTS`). @default "default_pool"
   */
  pool?: string;
  /** How many slots of `pool` a try takes. @default 1 */
  poolSlots?: number;
}

/** A link shown for a task instance (Airflow's `BaseOperatorLink`). */
export interface OperatorLink {
  readonly name: string;
  /** The URL, usually read from XCom; `undefined` when there is none yet. */
  getLink(
    operator: BaseOperator,
    target: { tiKey: TaskInstanceKey; xcomPull(key: string): Promise<unknown> },
  ): Promise<string | undefined> | string | undefined;
}

/** A reference to an upstream task's XCom, resolved at run time (Airflow's `XComArg`, e.g. `task.output`). */
export class XComArg {
  readonly taskId: string;
  readonly key: string;
  constructor(operator: BaseOperator, key = "return_value") {
    this.taskId = operator.taskId;
    this.key = key;
    this.operator = operator;
    Object.defineProperty(this, XCOM_ARG, { value: true });
  }
  /** The operator producing the value. */
  readonly operator: BaseOperator;
  /** True for an XComArg from any module copy. */
  static is(value: unknown): value is XComArg {
    return hasBrand(value, XCOM_ARG);
  }
}

/**
 * Fills options not given (undefined) from the DAG's `defaultArgs`, as Airflow
 * applies `default_args` to every operator argument. Subclasses may call it on
 * their own options; BaseOperator does it for its own.
 */
export function applyDefaultArgs<T extends { dag?: DAG }>(options: T): T {
  const defaults = options.dag?.defaultArgs ?? {};
  const out: Record<string, unknown> = { ...options };
  for (const [k, v] of Object.entries(defaults)) if (out[k] === undefined) out[k] = v;
  return out as T;
}

/** Whether `err` names one of `names` as its field (`pollInterval`, `job_request.pod_spec...` for `jobRequest`). */
function namesMappedField(err: unknown, names: readonly string[]): boolean {
  const field = (err as { field?: unknown } | null)?.field;
  if (typeof field !== "string") return false;
  const head = field
    .split(/[.[]/)[0]!
    .replace(/[^a-z0-9]/gi, "")
    .toLowerCase();
  return names.some((n) => n.replace(/[^a-z0-9]/gi, "").toLowerCase() === head);
}

/**
 * The base of every task (Airflow's `BaseOperator`). Subclasses implement
 * `execute(context)`; its return value is pushed to XCom `return_value`.
 *
 * Template fields are listed by their snake_case names as in Airflow
 * (`"job_request"`); each renders the camelCase property (`jobRequest`), see
 * {@link templateFieldProperty}.
 */
export abstract class BaseOperator {
  readonly taskId: string;
  dag: DAG | undefined;
  readonly retries: number;
  readonly retryDelay: number;
  readonly retryExponentialBackoff: boolean;
  readonly maxRetryDelay: number;
  readonly executionTimeout: number | undefined;
  readonly triggerRule: TriggerRule;
  readonly params: Record<string, unknown>;
  readonly doXcomPush: boolean;
  /** The pool a try takes its slots from. */
  readonly pool: string;
  /** Slots of {@link pool} a try takes. */
  readonly poolSlots: number;
  /** The options as given, with DAG default args applied. */
  protected readonly resolvedOptions: BaseOperatorOptions & Record<string, unknown>;

  /** Snake_case names of templated properties. */
  templateFields: string[] = [];
  /** How a UI would display each field (`"json"`, `"py"`, ...); informational. */
  templateFieldsRenderers: Record<string, string> = {};
  /** Links shown for this task's instances. */
  operatorExtraLinks: OperatorLink[] = [];

  /** Task ids directly upstream. */
  readonly upstreamTaskIds = new Set<string>();
  /** Task ids directly downstream. */
  readonly downstreamTaskIds = new Set<string>();
  /** Mapped arguments (camelCase property -> list or upstream XCom), when the task is mapped. */
  mappedArgs: Record<string, unknown[] | XComArg> | undefined;

  constructor(options: BaseOperatorOptions) {
    if (options === null || typeof options !== "object") {
      throw new DagDefinitionError("options", `an operator takes an options object such as { taskId: "load_data", dag }`);
    }
    checkId("taskId", options.taskId);
    const where = `task "${options.taskId}": `;
    checkDagOption(options.dag, where);
    // The task's own options are checked before the DAG's defaults fill the
    // rest, so the error names the option where it was written.
    checkOperatorOptions(options as unknown as Record<string, unknown>, where);
    Object.defineProperty(this, OPERATOR, { value: true });
    const o = applyDefaultArgs(options) as BaseOperatorOptions & Record<string, unknown>;
    this.resolvedOptions = o;
    this.taskId = o.taskId;
    this.retries = o.retries ?? configuredOperatorDefault("retries", "default_task_retries");
    this.retryDelay = o.retryDelay ?? configuredOperatorDefault("retryDelay", "default_task_retry_delay");
    this.retryExponentialBackoff = Boolean(o.retryExponentialBackoff);
    this.maxRetryDelay = o.maxRetryDelay ?? configuredOperatorDefault("maxRetryDelay", "max_task_retry_delay");
    this.executionTimeout = o.executionTimeout;
    this.triggerRule = o.triggerRule ?? "all_success";
    this.params = o.params ?? {};
    this.doXcomPush = o.doXcomPush ?? true;
    this.pool = o.pool ?? DEFAULT_POOL;
    this.poolSlots = o.poolSlots ?? 1;
    this.dag = undefined;
    if (o.dag) o.dag.addTask(this);
  }

  /** Runs the task; the resolved value goes to XCom `return_value`. */
  abstract execute(context: Context): Promise<unknown>;

  /** Called when a running try is killed (signal, timeout, `tasks kill`); release external resources here. */
  onKill(): void | Promise<void> {}

  /**
   * Whether a try whose runner died (crash, kill -9) is run again as the same
   * try by the next runner, instead of being failed into the next try as
   * Airflow fails a zombie. Operators whose work lives outside the runner
   * (an Armada job) return true and, run again, find and follow the work the
   * try started (by XCom of the same try, or a look-up) rather than start it
   * twice. @default false
   */
  get resumesAfterCrash(): boolean {
    return false;
  }

  /** The running task instance's log, or stderr outside a task. */
  get log(): TaskLogger {
    const ctx = tryGetCurrentContext();
    if (ctx && ctx.task.taskId === this.taskId) return ctx.ti.log;
    return stderrLogger;
  }

  /**
   * Renders every field in `templateFields` in place (on this task instance's
   * copy of the operator) with `env` or the default environment.
   */
  renderTemplateFields(context: Context, env?: TemplateEnv): void | Promise<void> {
    const e = env ?? defaultTemplateEnv();
    const ns = e.namespace(context);
    const self = this as unknown as Record<string, unknown>;
    for (const field of this.templateFields) {
      const prop = templateFieldProperty(field);
      if (!(prop in self)) {
        throw new RuntimeError("template", `task "${this.taskId}": template field "${field}" has no property "${prop}"`);
      }
      self[prop] = e.renderWith(self[prop], ns, field);
    }
  }

  /**
   * Suspends the task until `trigger` fires (Airflow's `defer`): throws
   * {@link TaskDeferred}; the runner resumes the task with
   * `this[methodName](context, event, kwargs)` where `event` is the event payload.
   * `timeout` is in seconds.
   */
  defer(request: DeferRequest): never {
    throw new TaskDeferred(request);
  }

  /** Makes `others` run after this task; returns `others` so calls chain: `a.then(b).then(c)`. */
  then<T extends BaseOperator | BaseOperator[]>(others: T): T {
    for (const o of Array.isArray(others) ? others : [others]) this.setDownstream(o);
    return others;
  }

  /** Adds a dependency this -> other. */
  setDownstream(other: BaseOperator | BaseOperator[]): void {
    for (const o of Array.isArray(other) ? other : [other]) {
      if (!BaseOperator.isOperator(o)) {
        throw new DagDefinitionError(
          "dependencies",
          `task "${this.taskId}": a dependency must be an operator (or a list of them), got ${typeof o}`,
          "dag",
        );
      }
      if (o.taskId === this.taskId) {
        throw new DagDefinitionError("dependencies", `task "${this.taskId}" cannot depend on itself`, "dag");
      }
      this.downstreamTaskIds.add(o.taskId);
      o.upstreamTaskIds.add(this.taskId);
      if (this.dag && !o.dag) this.dag.addTask(o);
      else if (o.dag && !this.dag) o.dag.addTask(this);
    }
  }

  /** Adds a dependency other -> this. */
  setUpstream(other: BaseOperator | BaseOperator[]): void {
    for (const o of Array.isArray(other) ? other : [other]) o.setDownstream(this);
  }

  /** This task's `return_value` XCom, for mapping or templated use downstream (Airflow's `.output`). */
  get output(): XComArg {
    return new XComArg(this);
  }

  /**
   * Maps this task over lists (Airflow's `expand`): one task instance per
   * element (per combination for several arguments), with `mapIndex` 0..n-1
   * and the element set on the camelCase property before rendering. A value
   * may be an upstream task's `output`, resolved when this task is scheduled.
   */
  expand(args: Record<string, unknown[] | XComArg>): this {
    for (const [k, v] of Object.entries(args)) {
      if (!Array.isArray(v) && !XComArg.is(v)) {
        throw new DagDefinitionError(
          `expand.${k}`,
          `task "${this.taskId}": expand(${k}) needs an array or an upstream task's output, got ${typeof v}`,
        );
      }
      if (XComArg.is(v)) v.operator.setDownstream(this);
    }
    this.mappedArgs = { ...args };
    return this;
  }

  /**
   * The operator of one mapped task instance. When the operator's
   * constructor takes one options object (as Airflow operators take
   * keyword arguments), the instance is built anew through it with the
   * mapped values among the options, as Airflow unmaps a mapped operator:
   * the constructor's checks and the fields it derives see them, so
   * `expand({ pollInterval: [-1] })` fails that instance as `pollInterval:
   * -1` fails a plain task. A mapped name the constructor does not read is
   * set on the property. An operator whose constructor takes more (a
   * function, say), or cannot be built again from its own options, gets a
   * copy with the properties set. Either way the instance keeps this task's
   * place in the DAG.
   */
  forMappedValues(values: Record<string, unknown>): this {
    const names = Object.keys(values);
    const Ctor = this.constructor as new (options: BaseOperatorOptions) => this;
    let built: this | undefined;
    if (Ctor.length <= 1) {
      const { dag: _dag, ...options } = this.resolvedOptions;
      try {
        built = new Ctor({ ...options, ...values } as BaseOperatorOptions);
      } catch (err) {
        // Refused for a mapped value: that is this instance's error. Refused for anything else: the
        // constructor is not one that can be repeated from the options it passed on (it renames them).
        if (namesMappedField(err, names)) throw err;
      }
    }
    const self = this as unknown as Record<string, unknown>;
    if (!built) {
      const copy = this.copyForTaskInstance();
      for (const name of names) (copy as unknown as Record<string, unknown>)[name] = values[name];
      return copy;
    }
    const out = built as unknown as Record<string, unknown>;
    for (const name of names) if (out[name] === self[name]) out[name] = values[name];
    built.dag = this.dag;
    for (const key of ["upstreamTaskIds", "downstreamTaskIds"] as const)
      Object.defineProperty(built, key, { value: new Set(this[key]), enumerable: true });
    built.mappedArgs = this.mappedArgs;
    return built;
  }

  /** A per-task-instance copy: rendering and mapping change the copy, never the DAG's operator. */
  copyForTaskInstance(): this {
    const copy = Object.create(Object.getPrototypeOf(this)) as this;
    for (const key of Reflect.ownKeys(this)) {
      const desc = Object.getOwnPropertyDescriptor(this, key)!;
      Object.defineProperty(copy, key, desc);
    }
    return copy;
  }

  /** True for an operator from any module copy. */
  static isOperator(value: unknown): value is BaseOperator {
    return hasBrand(value, OPERATOR);
  }
}
