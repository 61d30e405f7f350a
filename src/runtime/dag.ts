import { brandSymbol, hasBrand } from "./brand.js";
import type { BaseOperator, BaseOperatorOptions } from "./base-operator.js";
import { checkDagOptions, checkId } from "./definition-checks.js";
import { DagDefinitionError, RuntimeError } from "./errors.js";
import { currentRuntimeConfig } from "./runtime-config.js";
import { parseSchedule, type Schedule, type ScheduleSpec } from "./schedule.js";
import { checkTimezone, parseDateOption } from "./timezone.js";

const DAG_BRAND = brandSymbol("DAG");
const COLLECTOR = Symbol.for("armada-airflow.dag-collector");

/** Options of a {@link DAG}. */
export interface DagOptions {
  /** Unique id: letters, digits, `_`, `-`, `.`. */
  dagId: string;
  /** Values applied to every task's options that are not given (Airflow's `default_args`). */
  defaultArgs?: Partial<Omit<BaseOperatorOptions, "taskId" | "dag">> & Record<string, unknown>;
  /** Default params; a run's conf overrides them. */
  params?: Record<string, unknown>;
  /**
   * When `armada-airflow scheduler` creates runs: a cron expression
   * (`"0 6 * * 1-5"`), a preset (`@once`, `@hourly`, `@daily`, `@weekly`,
   * `@monthly`, `@quarterly`, `@yearly`), a fixed interval (`{ every: "15m" }`
   * or an ISO 8601 duration such as `"PT15M"`), or `null` (default: manual
   * runs only, with `dags trigger`/`dags test`).
   */
  schedule?: ScheduleSpec;
  /** No automated run before this (a string without offset is read in `timezone`). */
  startDate?: Date | string | number;
  /** No automated run after this. */
  endDate?: Date | string | number;
  /** Create the runs missed since `startDate` (or the last run). @default config `[scheduler] catchup_by_default`, else false */
  catchup?: boolean;
  /** IANA time zone of the schedule and of naive dates. @default config `[core] default_timezone`, else UTC */
  timezone?: string;
  /** Runs of this DAG running at once. @default config `[core] max_active_runs_per_dag`, else 16 */
  maxActiveRuns?: number;
  /**
   * Task instances of one run of this DAG running at once (as Airflow 3:
   * per run; deferred tasks do not count). @default config `[core] max_active_tasks_per_dag`, else 16
   */
  maxActiveTasks?: number;
  /** Whether the scheduler registers this DAG paused. @default config `[core] dags_are_paused_at_creation`, else true */
  isPausedUponCreation?: boolean;
  description?: string;
  tags?: string[];
}

/**
 * A DAG: tasks and their dependencies (Airflow's `DAG`). Tasks join it by
 * passing `dag` to their constructor (or `dag.addTask`).
 */
export class DAG {
  readonly dagId: string;
  readonly defaultArgs: NonNullable<DagOptions["defaultArgs"]>;
  readonly params: Record<string, unknown>;
  /** The schedule as written (cron, preset, `every 15m`, ISO duration), or null for manual only. */
  readonly schedule: string | null;
  /** The parsed schedule. */
  readonly timetable: Schedule;
  readonly timezone: string;
  readonly startDateMs: number | undefined;
  readonly endDateMs: number | undefined;
  readonly catchup: boolean;
  /** As given; the scheduler applies the config default. */
  readonly maxActiveRuns: number | undefined;
  /** As given; the runner applies the config default. */
  readonly maxActiveTasks: number | undefined;
  /** As given; the scheduler applies the config default. */
  readonly isPausedUponCreation: boolean | undefined;
  readonly description: string | undefined;
  readonly tags: string[];
  /** File the DAG was loaded from (set by the loader). */
  fileloc: string | undefined;
  private readonly taskMap = new Map<string, BaseOperator>();

  constructor(options: DagOptions) {
    if (options === null || typeof options !== "object") {
      throw new DagDefinitionError("options", 'a DAG takes an options object such as { dagId: "nightly_etl" }');
    }
    checkId("dagId", options.dagId);
    checkDagOptions(options as unknown as Record<string, unknown>, `DAG "${options.dagId}": `);
    Object.defineProperty(this, DAG_BRAND, { value: true });
    this.dagId = options.dagId;
    this.defaultArgs = options.defaultArgs ?? {};
    this.params = options.params ?? {};
    const where = `DAG "${options.dagId}"`;
    // Read once per DAG: its defaults are taken when the DAG file's code runs (see currentRuntimeConfig).
    const config = currentRuntimeConfig();
    this.timezone = checkTimezone(options.timezone ?? config.core.default_timezone, `${where}: timezone`);
    this.timetable = parseSchedule(options.schedule ?? null, this.timezone, `${where}: schedule`, config);
    this.schedule = this.timetable.summary;
    this.startDateMs =
      options.startDate === undefined ? undefined : parseDateOption(options.startDate, this.timezone, `${where}: startDate`);
    this.endDateMs = options.endDate === undefined ? undefined : parseDateOption(options.endDate, this.timezone, `${where}: endDate`);
    if (this.startDateMs !== undefined && this.endDateMs !== undefined && this.endDateMs < this.startDateMs) {
      throw new RuntimeError("invalid_argument", `${where}: endDate is before startDate; swap them or drop endDate`);
    }
    this.catchup = options.catchup ?? config.scheduler.catchup_by_default;
    if (typeof this.catchup !== "boolean") throw new RuntimeError("invalid_argument", `${where}: catchup must be true or false`);
    this.maxActiveRuns = options.maxActiveRuns;
    if (this.maxActiveRuns !== undefined && (!Number.isInteger(this.maxActiveRuns) || this.maxActiveRuns < 1)) {
      throw new RuntimeError("invalid_argument", `${where}: maxActiveRuns must be an integer >= 1, got ${JSON.stringify(options.maxActiveRuns)}`);
    }
    this.maxActiveTasks = options.maxActiveTasks;
    if (this.maxActiveTasks !== undefined && (!Number.isInteger(this.maxActiveTasks) || this.maxActiveTasks < 1)) {
      throw new DagDefinitionError("maxActiveTasks", `${where}: maxActiveTasks must be a whole number >= 1 (running tasks of one run), e.g. 8; got ${JSON.stringify(options.maxActiveTasks)}`);
    }
    if (options.isPausedUponCreation !== undefined && typeof options.isPausedUponCreation !== "boolean") {
      throw new RuntimeError("invalid_argument", `${where}: isPausedUponCreation must be true or false`);
    }
    this.isPausedUponCreation = options.isPausedUponCreation;
    this.description = options.description;
    this.tags = options.tags ?? [];
    const collector = (globalThis as Record<symbol, unknown>)[COLLECTOR];
    if (Array.isArray(collector)) collector.push(this);
  }

  /** Adds `task`; a second task with the same id is an error. */
  addTask(task: BaseOperator): void {
    const existing = this.taskMap.get(task.taskId);
    if (existing && existing !== task) {
      throw new DagDefinitionError(
        "taskId",
        `DAG "${this.dagId}" already has a task "${task.taskId}"; task ids must be unique within a DAG, so give one of them another taskId`,
        "dag",
      );
    }
    this.taskMap.set(task.taskId, task);
    task.dag = this;
  }

  /** Tasks in insertion order. */
  get tasks(): BaseOperator[] {
    return [...this.taskMap.values()];
  }

  /** Task ids. */
  get taskIds(): string[] {
    return [...this.taskMap.keys()];
  }

  /** The task with `taskId`; a clear error listing the ids when absent. */
  getTask(taskId: string): BaseOperator {
    const t = this.taskMap.get(taskId);
    if (!t) throw new RuntimeError("not_found", `DAG "${this.dagId}" has no task "${taskId}"; tasks: ${this.taskIds.join(", ")}`);
    return t;
  }

  /** True when the DAG has `taskId`. */
  hasTask(taskId: string): boolean {
    return this.taskMap.has(taskId);
  }

  /** Checks that every dependency names a task of this DAG and there is no cycle. */
  validate(): void {
    for (const t of this.tasks) {
      for (const id of [...t.upstreamTaskIds, ...t.downstreamTaskIds]) {
        if (!this.taskMap.has(id)) {
          throw new DagDefinitionError(
            "dag",
            `DAG "${this.dagId}": task "${t.taskId}" depends on "${id}", which is not in the DAG; pass dag to its constructor`,
            "dag",
          );
        }
      }
    }
    this.topologicalOrder();
  }

  /** Task ids, upstream before downstream; a cycle is an error naming its tasks. */
  topologicalOrder(): string[] {
    // Iterative depth-first search: a chain of thousands of tasks neither
    // overflows the call stack nor copies the path at every step.
    const order: string[] = [];
    const state = new Map<string, 1 | 2>();
    for (const root of this.taskMap.keys()) {
      if (state.has(root)) continue;
      const path: { id: string; ups: Iterator<string> }[] = [];
      const enter = (id: string) => {
        state.set(id, 1);
        path.push({ id, ups: (this.taskMap.get(id)?.upstreamTaskIds ?? new Set<string>()).values() });
      };
      enter(root);
      while (path.length > 0) {
        const top = path.at(-1)!;
        const next = top.ups.next();
        if (next.done) {
          state.set(top.id, 2);
          order.push(top.id);
          path.pop();
          continue;
        }
        const up = next.value;
        if (state.get(up) === 2) continue;
        if (state.get(up) === 1) {
          const ids = path.map((p) => p.id);
          // The path runs downstream -> upstream; show the cycle in dependency order.
          const cycle = [...ids.slice(ids.indexOf(up)), up].reverse();
          throw new DagDefinitionError(
            "dependencies",
            `DAG "${this.dagId}" has a cycle: ${cycle.join(" -> ")}; remove one of these dependencies`,
            "dag",
          );
        }
        enter(up);
      }
    }
    return order;
  }

  /** True for a DAG from any module copy. */
  static isDag(value: unknown): value is DAG {
    return hasBrand(value, DAG_BRAND);
  }
}

/** Adds dependencies in sequence: `chain(a, [b, c], d)` = a -> b, a -> c, b -> d, c -> d. */
export function chain(...steps: (BaseOperator | BaseOperator[])[]): void {
  for (let i = 1; i < steps.length; i++) {
    const ups = steps[i - 1]!;
    for (const up of Array.isArray(ups) ? ups : [ups]) up.setDownstream(steps[i]!);
  }
}

/** Runs `fn` and returns every DAG constructed meanwhile (the DAG file loader uses it). */
export async function collectDags(fn: () => Promise<unknown>): Promise<{ created: DAG[]; result: unknown }> {
  const g = globalThis as Record<symbol, unknown>;
  const previous = g[COLLECTOR];
  const created: DAG[] = [];
  g[COLLECTOR] = created;
  try {
    const result = await fn();
    return { created, result };
  } finally {
    g[COLLECTOR] = previous;
  }
}
