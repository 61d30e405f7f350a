import type { Clock } from "../common/clock.js";
import type { BaseOperator } from "./base-operator.js";
import type { DAG } from "./dag.js";
import type { RuntimeConfig } from "./runtime-config.js";
import { redactSecrets } from "./secrets-masker.js";
import { deserializeValue } from "./serde.js";
import type { DagRunState, TaskInstanceState } from "./state.js";
import type { DagRunRow, LogRow, Store, TiKey } from "./store/store.js";
import { FormattingTaskLogger, type LogLevel, type TaskLogger } from "./task-logger.js";

/** What a runner reports while it works (the CLI prints these). */
export type RunnerEvent =
  | {
      type: "ti";
      dagId: string;
      runId: string;
      taskId: string;
      mapIndex: number;
      tryNumber: number;
      state: TaskInstanceState;
    }
  | {
      type: "log";
      dagId: string;
      runId: string;
      taskId: string;
      mapIndex: number;
      tryNumber: number;
      level: LogLevel;
      message: string;
      tsMs: number;
    }
  | { type: "run"; dagId: string; runId: string; state: DagRunState | "interrupted" };

/** A task instance's label in messages: its task id, with `[mapIndex]` when mapped. */
export const tiLabel = (k: { taskId: string; mapIndex: number }): string =>
  k.mapIndex >= 0 ? `${k.taskId}[${k.mapIndex}]` : k.taskId;

/** An error as log text (stack included), with secrets redacted. */
export function errorText(err: unknown): string {
  if (err instanceof Error) return redactSecrets(err.stack ?? `${err.name}: ${err.message}`);
  return redactSecrets(String(err));
}

/** When a try started at `startMs` times out (its `executionTimeout` counted from its start). */
export function executionDeadlineMs(
  task: BaseOperator | undefined,
  startMs: number | null,
): number | undefined {
  if (task?.executionTimeout === undefined || startMs === null) return undefined;
  return startMs + task.executionTimeout * 1000;
}

/**
 * What every part that works on one DAG run shares (the driver, the try
 * executor, the run's triggers, recovery): the run and its DAG, the store and
 * clock, and the run's task logs and progress events. The logs are queued
 * here and written in batches, always before the outcome they lead to.
 */
export class RunScope {
  readonly store: Store;
  readonly clock: Clock;
  /** The runner (process) working on the run. */
  readonly runnerId: string;
  /** The runner's settings (tasks see them as `context.runtimeConfig`). */
  readonly config: RuntimeConfig;
  /** The run's `conf`, deserialized once. */
  readonly conf: Record<string, unknown>;
  /** With `onlyTaskIds` (`tasks test`): the tasks to run, ignoring their dependencies. */
  readonly only: ReadonlySet<string> | undefined;
  private readonly logQueue: LogRow[] = [];

  constructor(
    owner: { store: Store; clock: Clock; id: string; config: RuntimeConfig },
    readonly dag: DAG,
    readonly run: DagRunRow,
    onlyTaskIds: string[] | undefined,
    private readonly emit: (e: RunnerEvent) => void,
  ) {
    this.store = owner.store;
    this.clock = owner.clock;
    this.runnerId = owner.id;
    this.config = owner.config;
    this.conf = (deserializeValue(run.conf) ?? {}) as Record<string, unknown>;
    this.only = onlyTaskIds ? new Set(onlyTaskIds) : undefined;
    for (const id of onlyTaskIds ?? []) dag.getTask(id);
  }

  /** The DAG's task `taskId`, or undefined when the DAG no longer has it (its file changed before a resume). */
  taskOf(taskId: string): BaseOperator | undefined {
    return this.dag.hasTask(taskId) ? this.dag.getTask(taskId) : undefined;
  }

  /** True when `taskId` is to run (every task, unless `onlyTaskIds` narrowed them). */
  inScope(taskId: string): boolean {
    return !this.only || this.only.has(taskId);
  }

  tiKey(taskId: string, mapIndex: number): TiKey {
    return { dagId: this.run.dagId, runId: this.run.runId, taskId, mapIndex };
  }

  emitTi(row: { taskId: string; mapIndex: number }, tryNumber: number, state: TaskInstanceState): void {
    this.emit({
      type: "ti",
      dagId: this.run.dagId,
      runId: this.run.runId,
      taskId: row.taskId,
      mapIndex: row.mapIndex,
      tryNumber,
      state,
    });
  }

  emitRun(state: DagRunState | "interrupted"): void {
    this.emit({ type: "run", dagId: this.run.dagId, runId: this.run.runId, state });
  }

  loggerFor(taskId: string, mapIndex: number, tryNumber: number): TaskLogger {
    return new TryLogger(this, taskId, mapIndex, tryNumber);
  }

  /** Queues a line of a try's log (stored at the next flush) and reports it. */
  log(taskId: string, mapIndex: number, tryNumber: number, level: LogLevel, message: string): void {
    // Not `...this.tiKey()`: V8 adds each property after a spread slowly, and this runs per log line.
    const row: LogRow = {
      dagId: this.run.dagId,
      runId: this.run.runId,
      taskId,
      mapIndex,
      tryNumber,
      tsMs: this.clock.nowMs(),
      level,
      message,
    };
    this.logQueue.push(row);
    this.emit({ type: "log", ...row, level });
  }

  async flushLogs(): Promise<void> {
    if (this.logQueue.length === 0) return;
    const rows = this.logQueue.splice(0, this.logQueue.length);
    await this.store.appendLogs(rows);
  }
}

/** A try's logger: its key as fields, not a closure (one is kept per waiting trigger). */
class TryLogger extends FormattingTaskLogger {
  constructor(
    private readonly scope: RunScope,
    private readonly taskId: string,
    private readonly mapIndex: number,
    private readonly tryNumber: number,
  ) {
    super();
  }

  protected write(level: LogLevel, message: string): void {
    this.scope.log(this.taskId, this.mapIndex, this.tryNumber, level, message);
  }
}
