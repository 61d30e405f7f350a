import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import os from "node:os";
import { systemClock, type Clock } from "../common/clock.js";
import { crashPoint } from "../common/crash-point.js";
import { XComArg, type BaseOperator } from "./base-operator.js";
import { getConfigNumber } from "./config.js";
import { dateStrings, runWithContext, type Context, type DagRunInfo } from "./context.js";
import type { DAG } from "./dag.js";
import {
  RuntimeError,
  TaskKilledError,
  TaskTimeoutError,
  isTaskDeferred,
  isTaskFatalError,
  isTaskSkipped,
  type TaskDeferred,
} from "./errors.js";
import { applyOutcome, decideFailure, type TaskOutcome } from "./outcome.js";
import { RuntimeTaskInstance, pullXCom } from "./runtime-task-instance.js";
import { redactSecrets } from "./secrets-masker.js";
import { deserializeValue, serializeValue } from "./serde.js";
import { FINISHED_STATES, type DagRunState, type TaskInstanceState } from "./state.js";
import type { DagRunRow, LogRow, Store, TaskInstanceRow, TiKey, TriggerRow } from "./store/store.js";
import { createTaskLogger, stderrLogger, type LogLevel, type TaskLogger } from "./task-logger.js";
import { defaultTemplateEnv, type TemplateEnv } from "./template.js";
import { DeadlineHeap } from "./deadline-heap.js";
import { Pacer } from "./pacer.js";
import { RunMirror, tiKeyOf } from "./run-mirror.js";
import { DEFAULT_POOL, PoolSlotsUnavailable } from "./pools.js";
import { decideTriggerRule, emptyUpstreamSummary, type UpstreamSummary } from "./trigger-rules.js";
import { createTrigger, type BaseTrigger, type TriggerEvent, type TriggerTaskInstance } from "./trigger.js";

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

/** Options of a {@link Runner}. */
export interface RunnerOptions {
  store: Store;
  /** @default systemClock */
  clock?: Clock;
  /**
   * Real-time milliseconds between checks for changes made by other processes
   * (`tasks kill`, `tasks mark-failed`) and runner heartbeats.
   * @default config `core.runner_heartbeat_ms`, else 1000
   */
  heartbeatMs?: number;
  /** @default the shared default TemplateEnv */
  templateEnv?: TemplateEnv;
  /** Receives progress and log events. */
  onEvent?: (event: RunnerEvent) => void;
  /**
   * How old the heartbeat of a runner on another host may be before it is
   * taken for dead (same host: its pid is checked instead).
   * @default max(30 s, 10 heartbeats)
   */
  staleAfterMs?: number;
  /**
   * Tries running at once in this process, across all its runs (deferred
   * tasks do not count); 0 for no limit.
   * @default config `[core] parallelism`, else 32
   */
  parallelism?: number;
  /**
   * `maxActiveTasks` of DAGs that do not set it.
   * @default config `[core] max_active_tasks_per_dag`, else 16
   */
  maxActiveTasksPerDag?: number;
}

/** Options of {@link Runner.createDagRun}. */
export interface CreateDagRunOptions {
  /** @default `manual__<logical date ISO>` */
  runId?: string;
  conf?: Record<string, unknown>;
  /** @default now */
  logicalDate?: Date;
  /** Absolute path of the DAG file (needed by `resume` in another process). */
  dagFile?: string;
  /** @default "manual" */
  runType?: string;
  /** The run's data interval (the scheduler's); @default the logical date for both ends */
  dataIntervalStart?: Date;
  dataIntervalEnd?: Date;
}

interface RunningTry {
  key: string;
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
}

/** What became of an attempt to start a try: it waits for the run's or the process's limit, or for a pool. */
type StartResult = "started" | "done" | "limit" | "pool";

/** A config value that is a count: an integer >= `min`. */
function countConfig(section: string, key: string, fallback: number, min: number): number {
  const n = getConfigNumber(section, key, fallback);
  if (!Number.isInteger(n) || n < min) {
    throw new RuntimeError("config", `config [${section}] ${key} must be an integer >= ${min}, got ${n}`);
  }
  return n;
}

interface ActiveTrigger {
  row: TriggerRow;
  trigger: BaseTrigger;
  abort: AbortController;
  removed: boolean;
}

const keyOf = tiKeyOf;
const tiLabel = (k: { taskId: string; mapIndex: number }) =>
  k.mapIndex >= 0 ? `${k.taskId}[${k.mapIndex}]` : k.taskId;

/** True when `pid` has exited but is not yet reaped (Linux `/proc`; elsewhere false). */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The state follows the parenthesised command name, which may itself contain ")".
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z";
  } catch {
    return false;
  }
}

/** When a try started at `startMs` times out (its `executionTimeout` counted from its start). */
function executionDeadlineMs(task: BaseOperator | undefined, startMs: number | null): number | undefined {
  if (task?.executionTimeout === undefined || startMs === null) return undefined;
  return startMs + task.executionTimeout * 1000;
}

const emptySummary = emptyUpstreamSummary();

const earliest = (...times: (number | undefined)[]): number | null => {
  const defined = times.filter((t): t is number => t !== undefined);
  return defined.length ? Math.min(...defined) : null;
};

function errorText(err: unknown): string {
  if (err instanceof Error) return redactSecrets(err.stack ?? `${err.name}: ${err.message}`);
  return redactSecrets(String(err));
}

/**
 * Executes DAG runs: schedules task instances by trigger rules, runs tries
 * with retries, runs the triggers of deferred tasks concurrently in this
 * process's one event loop, and persists everything in the store so that a
 * crashed runner can be resumed by another.
 */
export class Runner {
  readonly id: string;
  readonly store: Store;
  readonly clock: Clock;
  readonly heartbeatMs: number;
  private readonly templateEnv: TemplateEnv;
  private readonly onEvent: (event: RunnerEvent) => void;
  private readonly drivers = new Set<RunDriver>();
  private heartbeat: NodeJS.Timeout | undefined;
  private started = false;
  private readonly staleAfterMs: number | undefined;
  /** Tries running at once in this process at most (0: no limit). */
  readonly parallelism: number;
  /** `maxActiveTasks` of DAGs that do not set it. */
  readonly maxActiveTasksPerDag: number;
  /** Tries running (or being started) in this process now. */
  private activeTries = 0;
  /** Runs with a task waiting for a slot: woken when a try here ends. */
  private readonly slotWaiters = new Set<RunDriver>();

  constructor(options: RunnerOptions) {
    this.id = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.store = options.store;
    this.clock = options.clock ?? systemClock;
    this.heartbeatMs = options.heartbeatMs ?? getConfigNumber("core", "runner_heartbeat_ms", 1000);
    this.templateEnv = options.templateEnv ?? defaultTemplateEnv();
    this.onEvent = options.onEvent ?? (() => {});
    this.staleAfterMs = options.staleAfterMs;
    if (options.parallelism !== undefined) {
      if (!Number.isInteger(options.parallelism) || options.parallelism < 0) {
        throw new RuntimeError(
          "invalid_argument",
          `parallelism must be an integer >= 0 (0: no limit), got ${String(options.parallelism)}`,
        );
      }
      this.parallelism = options.parallelism;
    } else this.parallelism = countConfig("core", "parallelism", 32, 0);
    if (options.maxActiveTasksPerDag !== undefined) {
      if (!Number.isInteger(options.maxActiveTasksPerDag) || options.maxActiveTasksPerDag < 1) {
        throw new RuntimeError(
          "invalid_argument",
          `maxActiveTasksPerDag must be an integer >= 1, got ${String(options.maxActiveTasksPerDag)}`,
        );
      }
      this.maxActiveTasksPerDag = options.maxActiveTasksPerDag;
    } else this.maxActiveTasksPerDag = countConfig("core", "max_active_tasks_per_dag", 16, 1);
  }

  /**
   * Takes one of this process's `parallelism` slots for a starting try
   * (always, with `force`: a reclaimed try held one in its dead runner);
   * false when none is free. Synchronous, so two runs never take the last one.
   * @internal
   */
  reserveTry(force = false): boolean {
    if (!force && this.parallelism > 0 && this.activeTries >= this.parallelism) return false;
    this.activeTries++;
    return true;
  }

  /** Gives back a slot whose try did not start. @internal */
  unreserveTry(): void {
    this.activeTries--;
  }

  /** A try here ended: its slot is free, and runs waiting for one look again. @internal */
  tryEnded(): void {
    this.activeTries--;
    if (this.slotWaiters.size === 0) return;
    const waiting = [...this.slotWaiters];
    this.slotWaiters.clear();
    for (const d of waiting) d.wake();
  }

  /** Tries running in this process now. */
  get runningTries(): number {
    return this.activeTries;
  }

  /** `driver` has a task waiting for a slot: it is woken when a try here ends. @internal */
  waitForSlot(driver: RunDriver): void {
    this.slotWaiters.add(driver);
  }

  /** Registers this runner (for liveness checks by other processes) and starts its heartbeat. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.beat();
    this.heartbeat = setInterval(() => void this.beatSupervised(), this.heartbeatMs);
    this.heartbeat.unref();
  }

  private heartbeatFailing = false;

  /**
   * A heartbeat that cannot be written (database locked or down) is said once
   * per streak, and again when it recovers: other processes may then take
   * this runner for dead, so the user must know.
   */
  private async beatSupervised(): Promise<void> {
    try {
      await this.beat();
      if (this.heartbeatFailing) stderrLogger.info(`Runner ${this.id}: heartbeat written again`);
      this.heartbeatFailing = false;
    } catch (err) {
      if (!this.heartbeatFailing) {
        stderrLogger.warn(
          `Runner ${this.id}: cannot write its heartbeat (${errorText(err)}); other processes may take this runner for dead`,
        );
      }
      this.heartbeatFailing = true;
    }
  }

  private async beat(): Promise<void> {
    const now = Date.now();
    await this.store.upsertRunner({
      id: this.id,
      pid: process.pid,
      hostname: os.hostname(),
      startedMs: now,
      heartbeatMs: now,
    });
    for (const d of this.drivers) d.wake();
  }

  /** Stops the heartbeat and unregisters. */
  async stop(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    if (this.started) {
      await this.store.deleteRunner(this.id).catch((err: unknown) => {
        // Harmless for correctness (liveness is checked by pid or heartbeat age), but say so.
        stderrLogger.warn(
          `Runner ${this.id}: cannot unregister (${errorText(err)}); it will be seen as stale`,
        );
      });
    }
    this.started = false;
  }

  /** Creates a queued DAG run (nothing runs until {@link runDagRun} or `resume`). */
  async createDagRun(dag: DAG, options: CreateDagRunOptions = {}): Promise<DagRunRow> {
    dag.validate();
    const logicalDate = options.logicalDate ?? this.clock.now();
    const conf = options.conf ?? {};
    if (typeof conf !== "object" || conf === null || Array.isArray(conf)) {
      throw new RuntimeError("invalid_argument", 'conf must be a JSON object, e.g. {"key": "value"}');
    }
    const row: DagRunRow = {
      dagId: dag.dagId,
      runId: options.runId ?? `${options.runType ?? "manual"}__${dateStrings(logicalDate).ts}`,
      logicalDateMs: logicalDate.getTime(),
      conf: serializeValue(conf, "conf"),
      dagFile: options.dagFile ?? dag.fileloc ?? "",
      state: "queued",
      runType: options.runType ?? "manual",
      runnerId: null,
      createdMs: this.clock.nowMs(),
      endMs: null,
      dataIntervalStartMs: options.dataIntervalStart?.getTime() ?? null,
      dataIntervalEndMs: options.dataIntervalEnd?.getTime() ?? null,
    };
    await this.store.createDagRun(row);
    return row;
  }

  /**
   * Drives a DAG run until it finishes (or this runner is shut down). When
   * another live runner drives it, or claims it first, this fails with a
   * RuntimeError of code `conflict`. A run
   * left by a dead runner is recovered first: its running tries are failed
   * into their next try (after `onKill()` when `tasks kill` asked for it);
   * deferred tasks get their triggers back; task instances marked failed
   * while no try ran get their `onKill()`.
   * `onlyTaskIds` runs just those tasks, ignoring their dependencies (`tasks test`).
   */
  async runDagRun(
    dag: DAG,
    runId: string,
    options: {
      onlyTaskIds?: string[];
      /** A run found finished is a `conflict` (another runner finished it) rather than its state (`resume`). */
      unfinishedOnly?: boolean;
    } = {},
  ): Promise<DagRunState | "interrupted"> {
    await this.start();
    dag.validate();
    const run = await this.store.getDagRun(dag.dagId, runId);
    if (!run)
      throw new RuntimeError(
        "not_found",
        `DAG run ${dag.dagId}/${runId} does not exist; create it with dags trigger`,
      );
    if (run.state === "success" || run.state === "failed") {
      if (options.unfinishedOnly) {
        throw new RuntimeError(
          "conflict",
          `DAG run ${dag.dagId}/${runId} was finished (${run.state}) by another runner`,
        );
      }
      return run.state;
    }
    if (run.runnerId && run.runnerId !== this.id && (await this.isRunnerAlive(run.runnerId))) {
      throw new RuntimeError(
        "conflict",
        `DAG run ${dag.dagId}/${runId} is being run by live runner ${run.runnerId}; wait for it or kill that process first`,
      );
    }
    const claimed = await this.store.updateDagRun(
      dag.dagId,
      runId,
      { runnerId: this.id, state: "running" },
      { runnerId: run.runnerId },
    );
    if (!claimed)
      throw new RuntimeError("conflict", `DAG run ${dag.dagId}/${runId} was claimed by another runner`);
    const driver = new RunDriver(this, dag, run, options.onlyTaskIds, this.templateEnv, this.onEvent);
    this.drivers.add(driver);
    try {
      await driver.recover();
      return await driver.drive();
    } finally {
      this.drivers.delete(driver);
      await driver.flushLogs().catch((err: unknown) => {
        stderrLogger.error(
          `DAG run ${dag.dagId}/${runId}: the last task log lines could not be stored: ${errorText(err)}`,
        );
      });
      await this.store
        .updateDagRun(dag.dagId, runId, { runnerId: null }, { runnerId: this.id })
        .catch((err: unknown) => {
          // The claim stays until this process is gone; the next runner sees it dead and takes the run.
          stderrLogger.warn(`DAG run ${dag.dagId}/${runId}: cannot release the run (${errorText(err)})`);
        });
    }
  }

  /**
   * Stops every run this runner drives (SIGINT/SIGTERM): running tries get
   * `onKill()` and end FAILED or UP_FOR_RETRY; deferred tasks likewise, then
   * their triggers are removed (with `cleanup()`). Runs stay resumable.
   */
  async shutdown(reason: string): Promise<void> {
    await Promise.all([...this.drivers].map((d) => d.shutdown(reason)));
  }

  /** True when the runner `id` still runs (same host: its pid exists; else a recent heartbeat). */
  async isRunnerAlive(id: string): Promise<boolean> {
    if (id === this.id) return true;
    const r = await this.store.getRunner(id);
    if (!r) return false;
    if (r.hostname === os.hostname()) {
      try {
        process.kill(r.pid, 0);
        // A runner killed with -9 stays a zombie until its parent reaps it: it runs nothing.
        return !isZombie(r.pid);
      } catch (err) {
        return (err as NodeJS.ErrnoException).code === "EPERM";
      }
    }
    return Date.now() - r.heartbeatMs < (this.staleAfterMs ?? Math.max(30_000, this.heartbeatMs * 10));
  }
}

/** Drives one DAG run: the scheduling loop, task tries and triggers. */
class RunDriver {
  private readonly running = new Map<string, RunningTry>();
  private readonly triggers = new Map<string, ActiveTrigger>();
  /** Active trigger ids by task instance key. */
  private readonly triggersByKey = new Map<string, Set<string>>();
  /** Trigger timeouts, by trigger id. */
  private readonly triggerTimeouts = new DeadlineHeap<string>();
  /** The run's task instances as last read; each wake reads only what changed. */
  private readonly mirror: RunMirror;
  /** Task instances skipped by a wake because a try of theirs ran here; looked at again once it ends. */
  private readonly recheck = new Set<string>();
  /**
   * Retries and resumes that found no slot (the run's `maxActiveTasks`, the
   * process's parallelism, or their pool), by pool, oldest first: each wake
   * looks at these queues' heads before anything new, and stops at the first
   * that still has to wait, so waiting tasks cost nothing per wake.
   */
  private readonly parked = new Map<string, Map<string, "start" | "resume">>();
  /** The pool each parked key waits in, and for what. */
  private readonly parkedPool = new Map<string, { pool: string; mode: "start" | "resume" }>();
  /** Task instances whose wait was logged (once each). */
  private readonly waitLogged = new Set<string>();
  /** What the current pass found: pools without room, and whether the run's or process's limit was reached. */
  private pass = { full: new Set<string>(), limited: false };
  /** Task instances of this run running at once at most ({@link DAG.maxActiveTasks}). */
  private readonly maxActiveTasks: number;
  private triggersLoaded = false;
  private readonly logQueue: LogRow[] = [];
  private dirty = true;
  private wakeResolve: (() => void) | undefined;
  private stopped = false;
  /** A background failure that could not even be recorded as a failed try: ends the run loudly. */
  private fatal: unknown;
  private readonly store: Store;
  private readonly clock: Clock;
  private readonly conf: Record<string, unknown>;
  private readonly only: Set<string> | undefined;

  constructor(
    private readonly runner: Runner,
    private readonly dag: DAG,
    private readonly run: DagRunRow,
    onlyTaskIds: string[] | undefined,
    private readonly env: TemplateEnv,
    private readonly emit: (e: RunnerEvent) => void,
  ) {
    this.store = runner.store;
    this.clock = runner.clock;
    this.mirror = new RunMirror(runner.store, run.dagId, run.runId);
    this.conf = (deserializeValue(run.conf) ?? {}) as Record<string, unknown>;
    this.only = onlyTaskIds ? new Set(onlyTaskIds) : undefined;
    for (const id of onlyTaskIds ?? []) dag.getTask(id);
    this.maxActiveTasks = dag.maxActiveTasks ?? runner.maxActiveTasksPerDag;
  }

  wake(): void {
    this.dirty = true;
    this.wakeResolve?.();
  }

  /**
   * Runs background work of a task instance (a try, a trigger, a timeout)
   * under supervision: an error is logged with the task's key and fails the
   * try; when even that cannot be stored, the run ends with the error
   * instead of an unhandled rejection.
   */
  private supervise(
    what: string,
    row: TaskInstanceRow,
    expectStates: TaskInstanceState[],
    work: () => Promise<void>,
  ): void {
    work().catch(async (err: unknown) => {
      const log = this.loggerFor(row.taskId, row.mapIndex, row.tryNumber);
      log.error(`${what} of ${tiLabel(row)} failed: ${errorText(err)}`);
      try {
        const current = await this.store.getTaskInstance(row);
        if (current && expectStates.includes(current.state))
          await this.handleFailure(current, err, false, expectStates, log);
      } catch (err2) {
        stderrLogger.error(
          `${what} of ${this.run.dagId}/${this.run.runId}/${tiLabel(row)}: cannot record the failure: ${errorText(err2)}`,
        );
        this.fatal ??= err2;
      } finally {
        this.release(keyOf(row));
      }
    });
  }

  /** A try of `key` no longer runs here: the next wake looks at that task instance again. */
  private release(key: string): void {
    if (this.running.delete(key)) this.runner.tryEnded();
    this.recheck.add(key);
    this.wake();
  }

  private tiKey(taskId: string, mapIndex: number): TiKey {
    return { dagId: this.run.dagId, runId: this.run.runId, taskId, mapIndex };
  }

  private emitTi(
    row: { taskId: string; mapIndex: number },
    tryNumber: number,
    state: TaskInstanceState,
  ): void {
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

  private loggerFor(taskId: string, mapIndex: number, tryNumber: number): TaskLogger {
    return createTaskLogger((level, message) => {
      const row: LogRow = {
        ...this.tiKey(taskId, mapIndex),
        tryNumber,
        tsMs: this.clock.nowMs(),
        level,
        message,
      };
      this.logQueue.push(row);
      this.emit({ type: "log", ...row, level });
    });
  }

  async flushLogs(): Promise<void> {
    if (this.logQueue.length === 0) return;
    const rows = this.logQueue.splice(0, this.logQueue.length);
    await this.store.appendLogs(rows);
  }

  /** Fails tries left running by a dead runner into their next try. */
  /**
   * Takes over the tries a dead runner left RUNNING: a task whose work
   * outlives the runner ({@link BaseOperator.resumesAfterCrash}, e.g. an
   * Armada job) runs the same try again and follows that work; any other try
   * is failed into its next try, as Airflow fails a zombie.
   */
  async recover(): Promise<void> {
    for (const ti of await this.store.listTaskInstancesInStates(this.run.dagId, this.run.runId, [
      "running",
      "queued",
    ])) {
      const log = this.loggerFor(ti.taskId, ti.mapIndex, ti.tryNumber);
      const stopped = `The runner executing try ${ti.tryNumber} stopped (crash or kill -9) before the try finished`;
      const task = this.dag.hasTask(ti.taskId) ? this.dag.getTask(ti.taskId) : undefined;
      const inScope = !this.only || this.only.has(ti.taskId);
      if (!ti.killRequested && inScope && task?.resumesAfterCrash) {
        log.warn(`${stopped}; its work outlives the runner, so this runner follows it in the same try`);
        await this.startTry(ti, "reclaim");
        continue;
      }
      log.error(stopped);
      // Without a kill request the work is left for the next try to reattach to.
      if (ti.killRequested)
        await this.killWithoutTry(ti, new TaskKilledError("kill requested (tasks kill)"), log);
      await this.handleFailure(ti, new TaskKilledError(stopped), false, [ti.state], log);
    }
  }

  async shutdown(reason: string): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.running.values()].map((rt) => this.killTry(rt, "kill", reason)));
    for (const ti of await this.store.listTaskInstancesInStates(this.run.dagId, this.run.runId, [
      "deferred",
    ])) {
      {
        const log = this.loggerFor(ti.taskId, ti.mapIndex, ti.tryNumber);
        log.warn(`Killing deferred task: ${reason}`);
        await this.handleFailure(ti, new TaskKilledError(reason), false, ["deferred"], log);
      }
    }
    await Promise.all([...this.triggers.keys()].map((id) => this.removeTrigger(id)));
    this.wake();
  }

  async drive(): Promise<DagRunState | "interrupted"> {
    for (;;) {
      if (this.fatal !== undefined) throw this.fatal;
      const deadline = await this.tick();
      if (deadline === "done") break;
      if (this.stopped && this.running.size === 0 && this.triggers.size === 0) {
        await this.flushLogs();
        this.emit({ type: "run", dagId: this.run.dagId, runId: this.run.runId, state: "interrupted" });
        return "interrupted";
      }
      await this.waitForWork(deadline);
    }
    const final = (await this.store.getDagRun(this.run.dagId, this.run.runId))!.state;
    this.emit({ type: "run", dagId: this.run.dagId, runId: this.run.runId, state: final });
    return final;
  }

  private async waitForWork(deadlineMs: number | undefined): Promise<void> {
    if (this.dirty) {
      this.dirty = false;
      return;
    }
    const ac = new AbortController();
    const waits: Promise<unknown>[] = [new Promise<void>((r) => (this.wakeResolve = r))];
    if (deadlineMs !== undefined)
      waits.push(this.clock.sleep(Math.max(0, deadlineMs - this.clock.nowMs()), ac.signal).catch(() => {}));
    waits.push(
      new Promise<void>((r) => {
        const t = setTimeout(r, this.runner.heartbeatMs);
        ac.signal.addEventListener("abort", () => clearTimeout(t), { once: true });
      }),
    );
    await Promise.race(waits);
    ac.abort();
    this.wakeResolve = undefined;
    this.dirty = false;
  }

  /**
   * One pass of the loop; returns the next time-based deadline, or "done".
   * It reads only the task instances changed since the last pass and works
   * per task, not per task instance, wherever it can: a pass costs the
   * number of changes and tasks, whatever the size of the run.
   */
  private async tick(): Promise<number | "done" | undefined> {
    this.dirty = false;
    await this.flushLogs();
    const changed = new Map<string, TaskInstanceRow>();
    for (const row of await this.mirror.refresh()) changed.set(keyOf(row), row);
    for (const key of this.recheck) {
      const row = this.mirror.get(key);
      if (row) changed.set(key, row);
    }
    this.recheck.clear();
    const now = this.clock.nowMs();
    let deadline: number | undefined;
    const soon = (ms: number) => (deadline = deadline === undefined ? ms : Math.min(deadline, ms));
    const pace = new Pacer();

    for (const [key, row] of changed) {
      // Changes made by other processes to tries running here.
      const rt = this.running.get(key);
      if (rt && !rt.killed && !rt.settling) {
        if (row.state !== "running" || row.tryNumber !== rt.tryNumber) {
          await this.killTry(rt, "external", `the task instance was set to ${row.state} from outside`);
        } else if (row.killRequested) {
          await this.killTry(rt, "kill", "kill requested (tasks kill)");
        }
      }
      // Marked FAILED with no try running here to kill (its trigger had fired,
      // or its runner died): markTaskFailed flags these as owing onKill.
      if (row.state === "failed" && row.killRequested && !this.running.has(key)) await this.settleKilled(row);
      await pace.step();
    }

    // Triggers: start new ones, remove those whose task is no longer deferred, enforce timeouts.
    if (!this.triggersLoaded) {
      // Once per run: triggers left by an earlier runner (afterwards, only changed task instances have new ones).
      this.triggersLoaded = true;
      for (const trow of await this.store.listTriggers({ dagId: this.run.dagId, runId: this.run.runId })) {
        await this.examineTrigger(trow, now);
        await pace.step();
      }
    } else {
      for (const [key, row] of changed) {
        // Active ones (to remove when the task left DEFERRED) and stored ones (a new deferral's).
        const trows = new Map<string, TriggerRow>();
        for (const id of this.triggersByKey.get(key) ?? []) trows.set(id, this.triggers.get(id)!.row);
        if (row.state === "deferred")
          for (const t of await this.store.listTriggersOf(row)) trows.set(t.id, t);
        for (const trow of trows.values()) await this.examineTrigger(trow, now);
        await pace.step();
      }
    }
    for (const id of this.triggerTimeouts.popDue(now)) {
      const active = this.triggers.get(id);
      if (active) await this.examineTrigger(active.row, now);
    }
    const nextTimeout = this.triggerTimeouts.peekTime();
    if (nextTimeout !== undefined) soon(nextTimeout);

    if (this.stopped) return undefined;

    // Tasks no longer in the DAG file (it changed before a resume) end REMOVED, as in Airflow.
    for (const [key, t] of changed) {
      if (!this.dag.hasTask(t.taskId) && !FINISHED_STATES.has(t.state) && !this.running.has(key)) {
        if (
          await this.store.updateTaskInstance(
            t,
            { state: "removed", endMs: now, updatedMs: now },
            { states: [t.state] },
          )
        ) {
          this.emitTi(t, t.tryNumber, "removed");
          this.wake();
        }
      }
    }

    this.pass = { full: new Set(), limited: false };
    await this.startParked(now, pace);

    const taskIds = this.dag.topologicalOrder().filter((id) => !this.only || this.only.has(id));
    for (const taskId of taskIds) {
      const task = this.dag.getTask(taskId);
      const upstream = () => (this.only ? emptySummary : this.mirror.summaryOf(task.upstreamTaskIds));
      if (!this.mirror.hasTask(taskId)) {
        await this.createTaskInstances(task, upstream());
        continue;
      }
      const none = this.mirror.noneOf(taskId);
      if (none.size === 0) continue;
      // Every instance of a task has the same upstream, so one decision serves them all.
      const decision = decideTriggerRule(task.triggerRule, upstream());
      if (decision === "wait") continue;
      // The live set: only a refresh changes it, and none happens during the pass.
      for (const key of none) {
        const row = this.mirror.get(key)!;
        if (this.running.has(key)) continue;
        if (decision === "run") {
          // All instances of a task wait for the same slot: the rest wait too (and cost nothing).
          if ((await this.admit(row, "start")) === "waits") break;
        } else {
          const state = decision === "skip" ? "skipped" : "upstream_failed";
          if (
            await this.store.updateTaskInstance(
              row,
              { state, endMs: now, updatedMs: now },
              { states: ["none"] },
            )
          ) {
            this.emitTi(row, row.tryNumber, state);
            this.wake();
          }
        }
        await pace.step();
      }
    }
    for (const key of this.mirror.dueRetries(now)) {
      if (this.running.has(key)) {
        this.mirror.retryLater(key);
        continue;
      }
      const row = this.mirror.get(key)!;
      if (this.only && !this.only.has(row.taskId)) continue;
      if ((await this.admit(row, "start")) === "waits") this.park(row, "start");
      await pace.step();
    }
    const nextRetry = this.mirror.nextRetryMs();
    if (nextRetry !== undefined) soon(nextRetry);
    // Resumes: a task instance that became SCHEDULED is a changed row (or a recheck, when a try of it
    // was still settling here); one that found no slot waits in its pool's queue.
    for (const [key, row] of changed) {
      if (row.state !== "scheduled" || this.running.has(key) || this.parkedPool.get(key)?.mode === "resume")
        continue;
      this.unpark(key);
      if (this.only && !this.only.has(row.taskId)) continue;
      if ((await this.admit(row, "resume")) === "waits") this.park(row, "resume");
      await pace.step();
    }
    // Slots freed by this process wake the run; other processes' are seen on the heartbeat's wake.
    if (this.pass.limited || this.pass.full.size > 0 || this.parked.size > 0) this.runner.waitForSlot(this);

    // Finished when every task instance is in a final state.
    if (this.running.size === 0 && this.triggers.size === 0 && this.allFinished(taskIds)) {
      // The mirror is as of the start of this pass: make sure nothing changed since.
      if ((await this.mirror.refresh()).length > 0) {
        this.wake();
        return deadline;
      }
      if (!this.allFinished(taskIds)) return deadline;
      const leaves = this.only
        ? taskIds
        : taskIds.filter((id) => this.dag.getTask(id).downstreamTaskIds.size === 0);
      const failed = leaves.some(
        (id) => this.mirror.count(id, "failed") + this.mirror.count(id, "upstream_failed") > 0,
      );
      const state: DagRunState = failed ? "failed" : "success";
      await this.flushLogs();
      await this.store.updateDagRun(this.run.dagId, this.run.runId, { state, endMs: this.clock.nowMs() });
      return "done";
    }
    return deadline;
  }

  /** Starts the parked retries and resumes that now get a slot, oldest first in each pool. */
  private async startParked(now: number, pace: Pacer): Promise<void> {
    for (const [pool, queue] of this.parked) {
      if (this.pass.limited) return;
      if (this.pass.full.has(pool)) continue;
      for (const [key, mode] of queue) {
        const row = this.mirror.get(key);
        const ready =
          row !== undefined &&
          !this.running.has(key) &&
          (mode === "resume"
            ? row.state === "scheduled"
            : row.state === "up_for_retry" && (row.nextRetryMs ?? 0) <= now);
        // Changed meanwhile (marked, cleared, a later retry time): the mirror's own queues have it.
        if (!ready) {
          this.unpark(key);
          continue;
        }
        if ((await this.admit(row, mode)) === "waits") break;
        this.unpark(key);
        await pace.step();
      }
    }
  }

  /** Starts a try unless this pass found its slot taken already; "waits" when it has to wait for one. */
  private async admit(row: TaskInstanceRow, mode: "start" | "resume"): Promise<"started" | "done" | "waits"> {
    const pool = this.dag.hasTask(row.taskId) ? this.dag.getTask(row.taskId).pool : DEFAULT_POOL;
    if (this.pass.limited || this.pass.full.has(pool)) return "waits";
    const r = await this.startTry(row, mode);
    if (r === "limit") this.pass.limited = true;
    else if (r === "pool") this.pass.full.add(pool);
    return r === "limit" || r === "pool" ? "waits" : r;
  }

  private park(row: TaskInstanceRow, mode: "start" | "resume"): void {
    const key = keyOf(row);
    if (this.parkedPool.has(key)) return;
    const pool = this.dag.hasTask(row.taskId) ? this.dag.getTask(row.taskId).pool : DEFAULT_POOL;
    this.parkedPool.set(key, { pool, mode });
    let queue = this.parked.get(pool);
    if (!queue) this.parked.set(pool, (queue = new Map()));
    queue.set(key, mode);
  }

  private unpark(key: string): void {
    const entry = this.parkedPool.get(key);
    if (entry === undefined) return;
    this.parkedPool.delete(key);
    const queue = this.parked.get(entry.pool);
    queue?.delete(key);
    if (queue?.size === 0) this.parked.delete(entry.pool);
  }

  /** Says once in a task instance's log why it waits. */
  private logWait(row: TaskInstanceRow, tryNumber: number, why: string): void {
    const key = keyOf(row);
    if (this.waitLogged.has(key)) return;
    this.waitLogged.add(key);
    this.loggerFor(row.taskId, row.mapIndex, tryNumber).info(why.charAt(0).toUpperCase() + why.slice(1));
  }

  /** True when every task (of `onlyTaskIds`, when given) has instances and all of them are final. */
  private allFinished(taskIds: string[]): boolean {
    if (!taskIds.every((id) => this.mirror.hasTask(id))) return false;
    const relevant = this.only ? taskIds : [...this.mirror.taskIds()];
    return relevant.every((id) => this.mirror.unfinished(id) === 0);
  }

  /** A task instance marked FAILED (`tasks mark-failed`) while no try ran here: its operator gets `onKill()`. */
  private async settleKilled(snap: TaskInstanceRow): Promise<void> {
    // Re-read: a try killed just before has had its onKill and cleared the flag.
    const row = await this.store.getTaskInstance(snap);
    if (!row || row.state !== "failed" || !row.killRequested) return;
    const log = this.loggerFor(row.taskId, row.mapIndex, row.tryNumber);
    await this.killWithoutTry(
      row,
      new TaskKilledError("marked failed (tasks mark-failed) with no try running"),
      log,
    );
    await this.flushLogs();
    await applyOutcome(this.store, { kind: "settle", row, nowMs: this.clock.nowMs() });
  }

  /** Starts, keeps, times out or removes one stored trigger, by the state of its task instance. */
  private async examineTrigger(trow: TriggerRow, now: number): Promise<void> {
    let ti = this.mirror.get(keyOf(trow));
    const active = this.triggers.get(trow.id);
    if (!active && ti?.state !== "deferred") {
      // The mirror may be a pass behind: read the row itself before calling the trigger an orphan.
      ti = await this.store.getTaskInstance(trow);
      if (ti && (this.running.has(keyOf(ti)) || (ti.state === "running" && ti.runnerId === this.runner.id)))
        return;
    }
    if (!ti || ti.state !== "deferred") {
      if (active) await this.removeTrigger(trow.id);
      else await this.cleanupOrphanTrigger(trow);
      return;
    }
    const log = this.loggerFor(ti.taskId, ti.mapIndex, ti.tryNumber);
    if (ti.killRequested) {
      log.warn("Kill requested (tasks kill) while deferred");
      await this.handleFailure(
        ti,
        new TaskKilledError("kill requested (tasks kill) while deferred"),
        false,
        ["deferred"],
        log,
      );
      await this.removeTriggerOrOrphan(trow);
      return;
    }
    if (trow.timeoutMs !== null && trow.timeoutMs <= now) {
      const task = this.dag.hasTask(ti.taskId) ? this.dag.getTask(ti.taskId) : undefined;
      const execDeadline = executionDeadlineMs(task, ti.startMs);
      if (execDeadline !== undefined && execDeadline <= trow.timeoutMs) {
        // The try's one deadline (from its start, across deferrals and restarts), not the deferral's own.
        const err = new TaskTimeoutError(
          `Task timed out after ${task!.executionTimeout} seconds (executionTimeout, counted from the start of try ${ti.tryNumber}) while deferred`,
        );
        log.error(err.message);
        // The work (an Armada job) must not outlive the try: onKill releases it even when a retry follows.
        await this.killWithoutTry(ti, err, log);
        await this.handleFailure(ti, err, false, ["deferred"], log);
        await this.removeTriggerOrOrphan(trow);
        return;
      }
      const err = new TaskTimeoutError(
        `Trigger timeout: the deferral of ${tiLabel(ti)} exceeded its timeout`,
      );
      log.error(err.message);
      await this.handleFailure(ti, err, false, ["deferred"], log);
      await this.removeTriggerOrOrphan(trow);
      return;
    }
    if (!active && !this.stopped) {
      this.startTrigger(trow, ti);
      if (trow.timeoutMs !== null) this.triggerTimeouts.push(trow.timeoutMs, trow.id);
    }
  }

  private async createTaskInstances(task: BaseOperator, upstream: UpstreamSummary): Promise<void> {
    const now = this.clock.nowMs();
    const base = (mapIndex: number, state: TaskInstanceState): TaskInstanceRow => ({
      ...this.tiKey(task.taskId, mapIndex),
      state,
      tryNumber: 0,
      maxTries: task.retries,
      nextMethod: null,
      nextKwargs: null,
      nextRetryMs: null,
      startMs: null,
      endMs: state === "none" ? null : now,
      runnerId: null,
      killRequested: false,
      updatedMs: now,
    });
    if (!task.mappedArgs) {
      await this.store.insertTaskInstances([base(-1, "none")]);
      this.wake();
      return;
    }
    // A mapped task expands once its upstream tasks have finished (their output decides the length).
    const decision = this.only ? "run" : decideTriggerRule(task.triggerRule, upstream);
    if (decision === "wait") return;
    if (decision !== "run") {
      await this.store.insertTaskInstances([base(-1, decision === "skip" ? "skipped" : "upstream_failed")]);
      this.wake();
      return;
    }
    let lengths: number[];
    try {
      lengths = (await this.mappedLists(task)).map((l) => l.length);
    } catch (err) {
      const row = base(-1, "failed");
      await this.store.insertTaskInstances([row]);
      this.loggerFor(task.taskId, -1, 0).error(`Cannot expand mapped task: ${errorText(err)}`);
      this.emitTi(row, 0, "failed");
      this.wake();
      return;
    }
    const n = lengths.reduce((a, b) => a * b, 1);
    const rows = n === 0 ? [base(-1, "skipped")] : Array.from({ length: n }, (_, i) => base(i, "none"));
    await this.store.insertTaskInstances(rows);
    this.wake();
  }

  private async mappedLists(task: BaseOperator): Promise<unknown[][]> {
    const out: unknown[][] = [];
    for (const [name, source] of Object.entries(task.mappedArgs ?? {})) {
      if (Array.isArray(source)) {
        out.push(source);
        continue;
      }
      const arg = source as XComArg;
      const value = await pullXCom(
        this.store,
        { ...this.tiKey(task.taskId, -1) },
        { taskIds: arg.taskId, key: arg.key },
      );
      if (!Array.isArray(value)) {
        throw new RuntimeError(
          "invalid_argument",
          `task "${task.taskId}" expands "${name}" over XCom "${arg.key}" of "${arg.taskId}", which is not a list (got ${JSON.stringify(value)})`,
        );
      }
      out.push(value);
    }
    return out;
  }

  private async applyMapping(task: BaseOperator, mapIndex: number): Promise<void> {
    if (!task.mappedArgs || mapIndex < 0) return;
    const names = Object.keys(task.mappedArgs);
    const lists = await this.mappedLists(task);
    // Cartesian product in itertools.product order: the last argument varies fastest.
    let rest = mapIndex;
    const self = task as unknown as Record<string, unknown>;
    for (let i = names.length - 1; i >= 0; i--) {
      const list = lists[i]!;
      self[names[i]!] = list[rest % list.length];
      rest = Math.floor(rest / list.length);
    }
  }

  /**
   * Starts a try: a new one (`start`), a deferred one resuming (`resume`),
   * or one a dead runner left running, run again (`reclaim`).
   */
  private async startTry(row: TaskInstanceRow, mode: "start" | "resume" | "reclaim"): Promise<StartResult> {
    const resume = mode === "resume";
    const key = keyOf(row);
    if (this.running.has(key) || this.stopped) return "done";
    if (row.killRequested) {
      const log = this.loggerFor(row.taskId, row.mapIndex, row.tryNumber);
      log.warn("Kill requested (tasks kill) before the task could resume");
      const err = new TaskKilledError("kill requested (tasks kill)");
      // The trigger fired, so its cleanup left the external work to the
      // resuming try; that try will not run, so the operator must release it.
      if (resume) await this.killWithoutTry(row, err, log);
      await this.handleFailure(row, err, false, [row.state], log);
      return "done";
    }
    const tryNumber = mode === "start" ? row.tryNumber + 1 : row.tryNumber;
    // A reclaimed try held its slots under its dead runner: it keeps them, limits or not.
    // Each task instance says once why it waits (runs show says it on demand too).
    if (mode !== "reclaim" && this.running.size >= this.maxActiveTasks) {
      this.logWait(
        row,
        tryNumber,
        `waiting for a task slot of the DAG run (${this.running.size}/${this.maxActiveTasks} running, maxActiveTasks)`,
      );
      return "limit";
    }
    if (!this.runner.reserveTry(mode === "reclaim")) {
      this.logWait(
        row,
        tryNumber,
        `waiting for a slot of this runner (${this.runner.runningTries}/${this.runner.parallelism} running, [core] parallelism)`,
      );
      return "limit";
    }
    const task = this.dag.hasTask(row.taskId) ? this.dag.getTask(row.taskId) : undefined;
    const log = this.loggerFor(row.taskId, row.mapIndex, tryNumber);
    const rt: RunningTry = {
      key,
      row: { ...row, tryNumber, state: "running" },
      tryNumber,
      abort: new AbortController(),
      task: undefined,
      context: undefined,
      log,
      killed: false,
      settling: false,
    };
    this.running.set(key, rt);
    const now = this.clock.nowMs();
    let ok: boolean;
    // The slots are taken in the transaction that starts the try (any number of processes share a pool).
    const pool = mode !== "reclaim" && task ? { name: task.pool, slots: task.poolSlots } : undefined;
    try {
      ok =
        mode === "reclaim"
          ? await applyOutcome(this.store, { kind: mode, row, runnerId: this.runner.id, nowMs: now })
          : await applyOutcome(this.store, { kind: mode, row, runnerId: this.runner.id, nowMs: now, pool });
    } catch (err) {
      this.running.delete(key);
      this.runner.unreserveTry();
      if (!PoolSlotsUnavailable.isPoolError(err)) throw err;
      if (err.refusal.kind === "full") {
        this.logWait(row, tryNumber, err.message);
        return "pool";
      }
      // As Airflow's scheduler will not run a task of a pool that does not exist, but said, not silent.
      log.error(`Cannot start ${tiLabel(row)}: ${err.message}`);
      await this.handleFailure(row, err, true, [row.state], log);
      return "done";
    }
    if (!ok) {
      this.running.delete(key);
      this.runner.unreserveTry();
      this.recheck.add(key);
      this.wake();
      return "done";
    }
    // Started however it was found (a retry parked before a clear, say): no queue holds it any more.
    this.waitLogged.delete(key);
    this.unpark(key);
    rt.row.startMs = mode === "start" ? now : (row.startMs ?? now);
    this.emitTi(row, tryNumber, "running");
    log.info(
      mode === "resume"
        ? `Resuming ${tiLabel(row)} after deferral (try ${tryNumber})`
        : mode === "reclaim"
          ? `Running try ${tryNumber} of ${row.maxTries + 1} again after its runner stopped`
          : `Starting try ${tryNumber} of ${row.maxTries + 1}`,
    );
    // A reclaimed try that had resumed from a deferral resumes again (same method and event).
    const resumeFrom = resume || (mode === "reclaim" && row.nextMethod) ? row : undefined;
    this.supervise("The try", rt.row, ["running"], () => this.executeTry(rt, resumeFrom));
    return "started";
  }

  /** The context a task instance's code runs in (execute, resume methods, onKill). */
  private taskContext(
    task: BaseOperator,
    row: TaskInstanceRow,
    tryNumber: number,
    log: TaskLogger,
    signal: AbortSignal,
  ): Context {
    const ti = new RuntimeTaskInstance({
      ...this.tiKey(row.taskId, row.mapIndex),
      tryNumber,
      maxTries: row.maxTries,
      task,
      log,
      store: this.store,
      nowMs: () => this.clock.nowMs(),
    });
    const logicalDate = new Date(this.run.logicalDateMs);
    const dagRun: DagRunInfo = {
      dagId: this.run.dagId,
      runId: this.run.runId,
      logicalDate,
      conf: this.conf,
      runType: this.run.runType,
      state: "running",
    };
    return {
      dag: this.dag,
      task,
      ti,
      taskInstance: ti,
      runId: this.run.runId,
      logicalDate,
      dataIntervalStart: new Date(this.run.dataIntervalStartMs ?? this.run.logicalDateMs),
      dataIntervalEnd: new Date(this.run.dataIntervalEndMs ?? this.run.logicalDateMs),
      ...dateStrings(logicalDate),
      params: { ...this.dag.params, ...task.params, ...this.conf },
      conf: this.conf,
      dagRun,
      signal,
      clock: this.clock,
    };
  }

  /**
   * Gives the operator of a task instance killed while no try of it runs here
   * (its trigger fired and it had not resumed, or its runner died) its
   * `onKill()`, in the try's context (so it can read the try's XComs, e.g.
   * the job to cancel). Failures are logged only: the try fails either way.
   */
  private async killWithoutTry(
    row: TaskInstanceRow,
    reason: TaskKilledError,
    log: TaskLogger,
  ): Promise<void> {
    if (!this.dag.hasTask(row.taskId)) return;
    const abort = new AbortController();
    abort.abort(reason);
    try {
      const task = this.dag.getTask(row.taskId).copyForTaskInstance();
      await this.applyMapping(task, row.mapIndex);
      const context = this.taskContext(task, row, row.tryNumber, log, abort.signal);
      log.warn(`Killing ${tiLabel(row)} try ${row.tryNumber}: ${reason.message}`);
      await runWithContext(context, async () => {
        await task.onKill();
      });
    } catch (e) {
      log.error(`onKill failed: ${errorText(e)}`);
    }
  }

  private async executeTry(rt: RunningTry, resumeFrom: TaskInstanceRow | undefined): Promise<void> {
    const row = rt.row;
    let timeout: AbortController | undefined;
    try {
      const task = this.dag.getTask(row.taskId).copyForTaskInstance();
      rt.task = task;
      await this.applyMapping(task, row.mapIndex);
      const context = this.taskContext(task, row, rt.tryNumber, rt.log, rt.abort.signal);
      rt.context = context;
      const ti = context.ti;
      if (task.executionTimeout !== undefined) {
        timeout = new AbortController();
        const seconds = task.executionTimeout;
        // One deadline per try, from its start: a resume or a reclaim gets only what is left.
        const leftMs = Math.max(0, executionDeadlineMs(task, row.startMs)! - this.clock.nowMs());
        const fire = this.clock.sleep(leftMs, timeout.signal).then(
          () => true,
          () => false, // aborted: the try ended first
        );
        this.supervise("The execution timeout", row, ["running"], async () => {
          if (await fire)
            await this.killTry(rt, "timeout", `Task timed out after ${seconds} seconds (executionTimeout)`);
        });
      }
      const result = await runWithContext(context, async () => {
        await task.renderTemplateFields(context, this.env);
        if (resumeFrom?.nextMethod) {
          const next = (resumeFrom.nextKwargs ? deserializeValue(resumeFrom.nextKwargs) : {}) as {
            kwargs?: Record<string, unknown>;
            event?: unknown;
          };
          const method = (task as unknown as Record<string, unknown>)[resumeFrom.nextMethod];
          if (typeof method !== "function") {
            throw new RuntimeError(
              "dag",
              `task "${task.taskId}" deferred to method "${resumeFrom.nextMethod}", which it does not have`,
            );
          }
          return (await (method as (c: Context, e: unknown, k: Record<string, unknown>) => unknown).call(
            task,
            context,
            next.event,
            next.kwargs ?? {},
          )) as unknown;
        }
        return await task.execute(context);
      });
      if (rt.killed) return;
      rt.settling = true;
      if (result !== undefined && task.doXcomPush) await ti.xcomPush("return_value", result);
      await this.finish(rt, "success");
    } catch (err) {
      if (rt.killed) return;
      rt.settling = true;
      if (isTaskDeferred(err)) await this.deferTry(rt, err);
      else if (isTaskSkipped(err)) {
        rt.log.info(`Skipping: ${err.message}`);
        await this.finish(rt, "skipped");
      } else {
        rt.log.error(`Task failed: ${errorText(err)}`);
        await this.flushLogs();
        await this.handleFailure(rt.row, err, isTaskFatalError(err), ["running"], rt.log);
      }
    } finally {
      timeout?.abort();
      if (!rt.killed) this.release(rt.key);
    }
  }

  private async finish(rt: RunningTry, state: "success" | "skipped"): Promise<void> {
    await this.flushLogs();
    const ok = await applyOutcome(this.store, { kind: state, row: rt.row, nowMs: this.clock.nowMs() });
    if (!ok) return;
    rt.log.info(`Marking task as ${state.toUpperCase()}`);
    this.emitTi(rt.row, rt.tryNumber, state);
  }

  private async deferTry(rt: RunningTry, deferral: TaskDeferred): Promise<void> {
    const row = rt.row;
    let classpath: string;
    let kwargs: Record<string, unknown>;
    try {
      [classpath, kwargs] = deferral.trigger.serialize();
      // Re-created from the registry by the triggerer (here or after a restart), so check that now.
      createTrigger(classpath, JSON.parse(JSON.stringify(kwargs)) as Record<string, unknown>);
    } catch (err) {
      rt.log.error(`Cannot defer: ${errorText(err)}`);
      await this.handleFailure(row, err, true, ["running"], rt.log);
      return;
    }
    const now = this.clock.nowMs();
    const trigger: TriggerRow = {
      id: randomUUID(),
      ...this.tiKey(row.taskId, row.mapIndex),
      classpath,
      kwargs: JSON.stringify(kwargs),
      createdMs: now,
      timeoutMs: earliest(
        deferral.timeout !== undefined ? now + deferral.timeout * 1000 : undefined,
        executionDeadlineMs(this.dag.getTask(row.taskId), row.startMs),
      ),
    };
    await this.flushLogs();
    const ok = await applyOutcome(this.store, {
      kind: "defer",
      row,
      trigger,
      nextMethod: deferral.methodName,
      nextKwargs: serializeValue({ kwargs: deferral.kwargs }, "defer kwargs"),
      nowMs: now,
    });
    if (!ok) return;
    crashPoint("runner.deferred");
    rt.log.info(`Pausing task as DEFERRED (trigger ${classpath}, resume in ${deferral.methodName})`);
    this.emitTi(row, rt.tryNumber, "deferred");
  }

  /** Airflow's handle_failure: UP_FOR_RETRY while `tryNumber <= maxTries` and not fatal, else FAILED. */
  private async handleFailure(
    row: TaskInstanceRow,
    err: unknown,
    fatal: boolean,
    expectStates: TaskInstanceState[],
    log: TaskLogger,
  ): Promise<void> {
    const task = this.dag.hasTask(row.taskId) ? this.dag.getTask(row.taskId) : undefined;
    const decision = decideFailure(row, task, fatal);
    const outcome: TaskOutcome = {
      kind: "failure",
      row,
      task,
      error: errorText(err),
      fatal,
      expectStates,
      nowMs: this.clock.nowMs(),
    };
    await this.flushLogs();
    if (!(await applyOutcome(this.store, outcome))) return;
    log.info(
      decision.state === "up_for_retry"
        ? `Marking task as UP_FOR_RETRY (try ${row.tryNumber} failed; next try in ${decision.delaySeconds}s)`
        : `Marking task as FAILED${fatal ? " (fatal error: no retry)" : ""}`,
    );
    this.emitTi(row, row.tryNumber, decision.state);
    this.wake();
  }

  private async killTry(
    rt: RunningTry,
    mode: "external" | "kill" | "timeout",
    reason: string,
  ): Promise<void> {
    if (rt.killed) return;
    rt.killed = true;
    const err = mode === "timeout" ? new TaskTimeoutError(reason) : new TaskKilledError(reason);
    rt.abort.abort(err);
    rt.log.warn(`Killing ${tiLabel(rt.row)} try ${rt.tryNumber}: ${reason}`);
    try {
      const task = rt.task;
      // In the try's context, as during execute: onKill may read the try's XComs.
      if (task && rt.context) await runWithContext(rt.context, async () => task.onKill());
      else await task?.onKill();
    } catch (e) {
      rt.log.error(`onKill failed: ${errorText(e)}`);
    }
    if (mode === "external") {
      await this.flushLogs();
      const current = await this.store.getTaskInstance(rt.row);
      if (current) {
        await applyOutcome(this.store, {
          kind: "external",
          row: rt.row,
          current,
          error: reason,
          nowMs: this.clock.nowMs(),
        });
        this.emitTi(rt.row, rt.tryNumber, current.tryNumber === rt.tryNumber ? current.state : "failed");
      }
    } else {
      await this.handleFailure(rt.row, err, false, ["running"], rt.log);
    }
    this.release(rt.key);
  }

  /** What a trigger sees of its task instance: state and XComs, read from the store (any process). */
  private triggerTaskInstance(taskId: string, mapIndex: number, tryNumber: number): TriggerTaskInstance {
    const key = this.tiKey(taskId, mapIndex);
    return {
      ...key,
      tryNumber,
      currentState: async () => (await this.store.getTaskInstance(key))?.state ?? "none",
      xcomPull: async (options) => {
        if (typeof options?.key !== "string" || options.key === "") {
          throw new RuntimeError(
            "invalid_argument",
            `trigger xcomPull: key must be a non-empty string, e.g. { key: "job_context" }`,
          );
        }
        return pullXCom(this.store, key, options, tryNumber);
      },
    };
  }

  private startTrigger(trow: TriggerRow, ti: TaskInstanceRow): void {
    const log = this.loggerFor(ti.taskId, ti.mapIndex, ti.tryNumber);
    let trigger: BaseTrigger;
    try {
      trigger = createTrigger(trow.classpath, JSON.parse(trow.kwargs) as Record<string, unknown>);
    } catch (err) {
      log.error(`Cannot re-create trigger: ${errorText(err)}`);
      this.supervise("Failing the deferral", ti, ["deferred"], async () => {
        await this.handleFailure(ti, err, false, ["deferred"], log);
        await this.store.deleteTrigger(trow.id);
      });
      return;
    }
    const abort = new AbortController();
    trigger.signal = abort.signal;
    trigger.clock = this.clock;
    trigger.taskInstance = this.triggerTaskInstance(ti.taskId, ti.mapIndex, ti.tryNumber);
    const active: ActiveTrigger = { row: trow, trigger, abort, removed: false };
    this.triggers.set(trow.id, active);
    const key = keyOf(trow);
    this.triggersByKey.set(key, (this.triggersByKey.get(key) ?? new Set()).add(trow.id));
    const firstEvent = async (): Promise<TriggerEvent | undefined> => {
      for await (const ev of trigger.run()) return ev;
      return undefined;
    };
    this.supervise("The trigger", ti, ["deferred"], () =>
      firstEvent().then(
        (ev) => this.onTriggerEvent(active, ti, ev),
        (err: unknown) => this.onTriggerError(active, ti, err),
      ),
    );
  }

  private async onTriggerEvent(
    active: ActiveTrigger,
    ti: TaskInstanceRow,
    ev: TriggerEvent | undefined,
  ): Promise<void> {
    if (active.removed) return;
    const log = this.loggerFor(ti.taskId, ti.mapIndex, ti.tryNumber);
    if (!ev) return this.onTriggerError(active, ti, new Error("trigger ended without an event"));
    const current = await this.store.getTaskInstance(ti);
    const next = current?.nextKwargs ? (deserializeValue(current.nextKwargs) as Record<string, unknown>) : {};
    const ok = await applyOutcome(this.store, {
      kind: "fire",
      row: ti,
      triggerId: active.row.id,
      nextKwargs: serializeValue({ ...next, event: ev.payload }, "trigger event"),
      nowMs: this.clock.nowMs(),
    });
    if (ok) {
      crashPoint("runner.fired");
      log.info(`Trigger fired: resuming task`);
      this.emitTi(ti, ti.tryNumber, "scheduled");
    }
    await this.removeTrigger(active.row.id);
  }

  private async onTriggerError(active: ActiveTrigger, ti: TaskInstanceRow, err: unknown): Promise<void> {
    if (active.removed) return;
    const log = this.loggerFor(ti.taskId, ti.mapIndex, ti.tryNumber);
    log.error(`Trigger failed: ${errorText(err)}`);
    await this.handleFailure(ti, err, false, ["deferred"], log);
    await this.removeTrigger(active.row.id);
  }

  private async removeTriggerOrOrphan(trow: TriggerRow): Promise<void> {
    if (this.triggers.has(trow.id)) await this.removeTrigger(trow.id);
    else await this.cleanupOrphanTrigger(trow);
  }

  /** Stops a trigger, runs its cleanup (it may read the task's state) and deletes it. */
  private async removeTrigger(id: string): Promise<void> {
    const active = this.triggers.get(id);
    if (!active || active.removed) return;
    active.removed = true;
    active.abort.abort(new TaskKilledError("trigger removed"));
    try {
      await active.trigger.cleanup();
    } catch (err) {
      this.loggerFor(
        active.row.taskId,
        active.row.mapIndex,
        active.trigger.taskInstance?.tryNumber ?? 0,
      ).error(`Trigger cleanup failed: ${errorText(err)}`);
    }
    await this.store.deleteTrigger(id);
    this.triggers.delete(id);
    const key = keyOf(active.row);
    const ids = this.triggersByKey.get(key);
    ids?.delete(id);
    if (ids?.size === 0) this.triggersByKey.delete(key);
    // The task may have deferred again meanwhile: its new trigger is looked at in the next pass.
    this.recheck.add(key);
    this.wake();
  }

  /** A stored trigger whose task is no longer deferred and that is not running here (after a restart). */
  private async cleanupOrphanTrigger(trow: TriggerRow): Promise<void> {
    const key = this.tiKey(trow.taskId, trow.mapIndex);
    try {
      const trigger = createTrigger(trow.classpath, JSON.parse(trow.kwargs) as Record<string, unknown>);
      const ti = await this.store.getTaskInstance(key);
      trigger.clock = this.clock;
      trigger.taskInstance = this.triggerTaskInstance(key.taskId, key.mapIndex, ti?.tryNumber ?? 0);
      await trigger.cleanup();
    } catch (err) {
      this.loggerFor(trow.taskId, trow.mapIndex, 0).error(`Trigger cleanup failed: ${errorText(err)}`);
    }
    await this.store.deleteTrigger(trow.id);
    this.wake();
  }
}
