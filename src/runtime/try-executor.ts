import type { BaseOperator } from "./base-operator.js";
import { runWithContext, dateStrings, type Context, type DagRunInfo } from "./context.js";
import {
  RuntimeError,
  TaskKilledError,
  isTaskDeferred,
  isTaskFatalError,
  isTaskSkipped,
  type TaskDeferred,
} from "./errors.js";
import { errorText, executionDeadlineMs, tiLabel, type RunScope } from "./run-scope.js";
import { RuntimeTaskInstance } from "./runtime-task-instance.js";
import { deserializeValue } from "./serde.js";
import type { TaskInstanceRow } from "./store/store.js";
import { operatorForMapIndex } from "./task-mapping.js";
import type { TaskLogger } from "./task-logger.js";
import type { TemplateEnv } from "./template.js";

/** A try running in this process. */
export interface RunningTry {
  key: string;
  /** The task instance as the try runs it (RUNNING, its try number). */
  row: TaskInstanceRow;
  tryNumber: number;
  abort: AbortController;
  task: BaseOperator | undefined;
  /** The try's context once built (onKill runs in it). */
  context: Context | undefined;
  log: TaskLogger;
  killed: boolean;
  /** The try is writing its own outcome: a changed row seen meanwhile is that write, not another process's. */
  settling: boolean;
  /** The try's execution timeout, once armed; aborted when the try has ended. */
  timeout: AbortController | undefined;
}

/** What became of a try's code: each is recorded as one outcome. */
export type TryResult =
  | { kind: "success" }
  | { kind: "skipped" }
  | { kind: "deferred"; deferral: TaskDeferred }
  | { kind: "failed"; error: unknown; fatal: boolean };

/** What the executor needs of the run it executes tries for. */
export interface TryExecutorHooks {
  /** Arms a supervised timer: `work` runs in the background, and its error fails the try. */
  supervise(what: string, row: TaskInstanceRow, work: () => Promise<void>): void;
  /** Kills a running try when its execution timeout fires. */
  timedOut(rt: RunningTry, reason: string): Promise<void>;
}

/**
 * Runs one try of a task instance in this process (Airflow's task runner):
 * builds the task instance's operator copy and context, renders its
 * templates, calls `execute()` (or the method a deferral resumes in) under
 * the try's execution timeout, pushes its return value, and says what became
 * of it. It writes no state: the caller records the {@link TryResult}.
 */
export class TryExecutor {
  constructor(
    private readonly scope: RunScope,
    private readonly env: TemplateEnv,
    private readonly hooks: TryExecutorHooks,
  ) {}

  /** This task instance's own operator: a copy of the DAG's, or its mapped instance. */
  private operatorOf(row: TaskInstanceRow): Promise<{ task: BaseOperator }> {
    return operatorForMapIndex(
      this.scope.store,
      this.scope.dag.getTask(row.taskId).copyForTaskInstance(),
      this.scope.tiKey(row.taskId, -1),
      row.mapIndex,
    );
  }

  /**
   * Runs the try; undefined when it was killed meanwhile (the kill recorded
   * its outcome). `resumeFrom` is the deferred row whose method and event a
   * resumed try continues with.
   */
  async run(rt: RunningTry, resumeFrom: TaskInstanceRow | undefined): Promise<TryResult | undefined> {
    const row = rt.row;
    try {
      const { task } = await this.operatorOf(row);
      rt.task = task;
      const context = this.taskContext(task, row, rt.tryNumber, rt.log, rt.abort.signal);
      rt.context = context;
      const ti = context.ti;
      if (task.executionTimeout !== undefined) this.armTimeout(rt, task);
      const result = await runWithContext(context, async () => {
        await task.renderTemplateFields(context, this.env);
        if (resumeFrom?.nextMethod) return await this.resumeMethod(task, context, resumeFrom);
        return await task.execute(context);
      });
      if (rt.killed) return undefined;
      rt.settling = true;
      if (result !== undefined && task.doXcomPush) await ti.xcomPush("return_value", result);
      return { kind: "success" };
    } catch (err) {
      if (rt.killed) return undefined;
      rt.settling = true;
      if (isTaskDeferred(err)) return { kind: "deferred", deferral: err };
      if (isTaskSkipped(err)) {
        rt.log.info(`Skipping: ${err.message}`);
        return { kind: "skipped" };
      }
      rt.log.error(`Task failed: ${errorText(err)}`);
      return { kind: "failed", error: err, fatal: isTaskFatalError(err) };
    }
  }

  /** One deadline per try, from its start: a resume or a reclaim gets only what is left. */
  private armTimeout(rt: RunningTry, task: BaseOperator): void {
    const timeout = new AbortController();
    rt.timeout = timeout;
    const seconds = task.executionTimeout!;
    const leftMs = Math.max(0, executionDeadlineMs(task, rt.row.startMs)! - this.scope.clock.nowMs());
    const fire = this.scope.clock.sleep(leftMs, timeout.signal).then(
      () => true,
      () => false, // aborted: the try ended first
    );
    this.hooks.supervise("The execution timeout", rt.row, async () => {
      if (await fire)
        await this.hooks.timedOut(rt, `Task timed out after ${seconds} seconds (executionTimeout)`);
    });
  }

  private async resumeMethod(task: BaseOperator, context: Context, from: TaskInstanceRow): Promise<unknown> {
    const next = (from.nextKwargs ? deserializeValue(from.nextKwargs) : {}) as {
      kwargs?: Record<string, unknown>;
      event?: unknown;
    };
    const method = (task as unknown as Record<string, unknown>)[from.nextMethod!];
    if (typeof method !== "function") {
      throw new RuntimeError(
        "dag",
        `task "${task.taskId}" deferred to method "${from.nextMethod}", which it does not have`,
      );
    }
    return (await (method as (c: Context, e: unknown, k: Record<string, unknown>) => unknown).call(
      task,
      context,
      next.event,
      next.kwargs ?? {},
    )) as unknown;
  }

  /** Gives a try running here its `onKill()`, in its context (as during execute: onKill may read its XComs). */
  async killRunning(rt: RunningTry): Promise<void> {
    try {
      const task = rt.task;
      if (task && rt.context) await runWithContext(rt.context, async () => task.onKill());
      else await task?.onKill();
    } catch (e) {
      rt.log.error(`onKill failed: ${errorText(e)}`);
    }
  }

  /**
   * Gives the operator of a task instance killed while no try of it runs here
   * (its trigger fired and it had not resumed, or its runner died) its
   * `onKill()`, in the try's context (so it can read the try's XComs, e.g.
   * the job to cancel). Failures are logged only: the try fails either way.
   */
  async killWithoutTry(row: TaskInstanceRow, reason: TaskKilledError, log: TaskLogger): Promise<void> {
    if (!this.scope.dag.hasTask(row.taskId)) return;
    const abort = new AbortController();
    abort.abort(reason);
    try {
      const { task } = await this.operatorOf(row);
      const context = this.taskContext(task, row, row.tryNumber, log, abort.signal);
      log.warn(`Killing ${tiLabel(row)} try ${row.tryNumber}: ${reason.message}`);
      await runWithContext(context, async () => {
        await task.onKill();
      });
    } catch (e) {
      log.error(`onKill failed: ${errorText(e)}`);
    }
  }

  /** The context a task instance's code runs in (execute, resume methods, onKill). */
  private taskContext(
    task: BaseOperator,
    row: TaskInstanceRow,
    tryNumber: number,
    log: TaskLogger,
    signal: AbortSignal,
  ): Context {
    const { run, dag, conf, store, clock, config } = this.scope;
    const ti = new RuntimeTaskInstance({
      dagId: run.dagId,
      runId: run.runId,
      taskId: row.taskId,
      mapIndex: row.mapIndex,
      tryNumber,
      maxTries: row.maxTries,
      task,
      log,
      store,
      nowMs: () => clock.nowMs(),
    });
    const logicalDate = new Date(run.logicalDateMs);
    const dagRun: DagRunInfo = {
      dagId: run.dagId,
      runId: run.runId,
      logicalDate,
      conf,
      runType: run.runType,
      state: "running",
    };
    return {
      dag,
      task,
      ti,
      taskInstance: ti,
      runId: run.runId,
      logicalDate,
      dataIntervalStart: new Date(run.dataIntervalStartMs ?? run.logicalDateMs),
      dataIntervalEnd: new Date(run.dataIntervalEndMs ?? run.logicalDateMs),
      ...dateStrings(logicalDate),
      params: { ...dag.params, ...task.params, ...conf },
      conf,
      dagRun,
      signal,
      clock,
      runtimeConfig: config,
    };
  }
}
