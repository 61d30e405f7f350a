/**
 * `armada-airflow triggerer`: runs the triggers of every deferred task in the
 * store, whichever scheduler owns its run, and fires them (the task becomes
 * SCHEDULED; the scheduler that drives the run resumes it, as in Airflow).
 *
 * Triggerers claim triggers through the store's claim column
 * ({@link Store.claimTriggers}): each trigger runs in one triggerer; one that
 * dies (kill -9) is noticed as a dead runner is (pid on the same host, else
 * heartbeat age), and its triggers are claimed by the next. SQLite allows one
 * triggerer per database file.
 */
import type { Clock } from "../common/clock.js";
import type { DAG } from "../runtime/dag.js";
import { loadDag } from "../runtime/dag-loader.js";
import { RuntimeError, TaskKilledError } from "../runtime/errors.js";
import { applyOutcome, applyTaskEnd } from "../runtime/outcome.js";
import { Runner } from "../runtime/runner.js";
import type { RuntimeConfig } from "../runtime/runtime-config.js";
import { errorText, tiLabel } from "../runtime/run-scope.js";
import type { LogRow, Store, TriggerRow } from "../runtime/store/store.js";
import { createTaskLogger, type TaskLogger } from "../runtime/task-logger.js";
import { createTrigger, TaskEndEvent, type BaseTrigger, type TriggerEvent } from "../runtime/trigger.js";
import { firedKwargs, firstEvent, triggerTaskInstance } from "../runtime/triggerer.js";
import { takeSqliteServiceLock } from "./sqlite-service-lock.js";

/** Options of a {@link TriggererService}. */
export interface TriggererServiceOptions {
  store: Store;
  clock: Clock;
  /** Real milliseconds between looks at the store for new, ended and orphaned triggers. */
  pollIntervalMs: number;
  /** Heartbeat period (real milliseconds). */
  heartbeatMs?: number;
  /** A triggerer on another host with an older heartbeat is dead. */
  heartbeatTimeoutMs: number;
  /** Triggers run at once at most. @default 1000 */
  capacity?: number;
  /** Settings of the process's runner. @default the runtime's current config (`currentRuntimeConfig()`) */
  config?: RuntimeConfig;
  log: (line: string) => void;
}

interface RunningTrigger {
  row: TriggerRow;
  tryNumber: number;
  trigger: BaseTrigger;
  ended: boolean;
}

/** One triggerer process's work. */
export class TriggererService {
  /** Registers this process and answers liveness questions about others (it runs no DAG runs). */
  readonly runner: Runner;
  private readonly running = new Map<string, RunningTrigger>();
  /** DAGs by file: importing a DAG file registers its trigger classes; its tasks decide retries. */
  private readonly dags = new Map<string, DAG>();
  private readonly logQueue: LogRow[] = [];
  private stopping = false;
  private holdsLock = false;
  private wakeUp: (() => void) | undefined;
  private readonly capacity: number;

  constructor(private readonly options: TriggererServiceOptions) {
    this.runner = new Runner({
      store: options.store,
      clock: options.clock,
      config: options.config,
      heartbeatMs: options.heartbeatMs,
      staleAfterMs: options.heartbeatTimeoutMs,
    });
    this.capacity = options.capacity ?? 1000;
  }

  /** Triggers running now. */
  get size(): number {
    return this.running.size;
  }

  /** Registers the process and, on SQLite, takes the one-triggerer lock. */
  async start(): Promise<void> {
    await this.runner.start();
    this.holdsLock = await takeSqliteServiceLock(
      this.options.store,
      this.runner,
      this.options.clock,
      "triggerer",
    );
  }

  /** The loop, until {@link requestStop}. */
  async loop(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.round();
      } catch (err) {
        // A database that fails for a while must not end the service: say so and try again.
        this.options.log(`triggerer pass failed (will retry): ${errorText(err)}`);
      }
      if (this.stopping) break;
      await this.waitForWork();
    }
  }

  /** Stops taking work and wakes the loop (it returns). */
  requestStop(): void {
    this.stopping = true;
    this.wakeUp?.();
  }

  /**
   * Hands every running trigger over (no cleanup: the deferred tasks stay
   * deferred and the next triggerer runs their triggers), gives up the
   * claims, and unregisters.
   */
  async release(): Promise<void> {
    for (const r of this.running.values()) {
      r.ended = true;
      r.trigger.cancel(new TaskKilledError("the triggerer stopped"));
    }
    this.running.clear();
    await this.flushLogs().catch((err: unknown) =>
      this.options.log(`cannot store task logs: ${errorText(err)}`),
    );
    await this.options.store
      .releaseTriggers(this.runner.id)
      .catch((err: unknown) =>
        this.options.log(
          `cannot release its triggers (${errorText(err)}); they are taken over once it is seen dead`,
        ),
      );
    if (this.holdsLock) await this.options.store.releaseLock("triggerer", this.runner.id).catch(() => {});
    this.holdsLock = false;
    await this.runner.stop();
  }

  private async waitForWork(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((r) => {
      this.wakeUp = r;
      timer = setTimeout(r, this.options.pollIntervalMs);
    });
    clearTimeout(timer);
    this.wakeUp = undefined;
  }

  /**
   * One round: claims unheld triggers (and a dead triggerer's), starts the
   * ones whose task is deferred, ends those whose task left DEFERRED (with
   * cleanup), and drops those whose row went (their run was deleted).
   */
  private async round(): Promise<void> {
    const { store } = this.options;
    const free = this.capacity - this.running.size;
    if (free > 0)
      await store.claimTriggers({
        holder: this.runner.id,
        isHolderAlive: (id) => this.runner.isRunnerAlive(id),
        limit: free,
      });
    const held = await store.listTriggersHeldBy(this.runner.id);
    const seen = new Set<string>();
    for (const h of held) {
      if (this.stopping) return;
      seen.add(h.trigger.id);
      const r = this.running.get(h.trigger.id);
      if (r) {
        if (h.state !== "deferred" || h.tryNumber !== r.tryNumber) await this.end(r);
        continue;
      }
      if (h.state === "deferred" && h.tryNumber !== null) await this.begin(h.trigger, h.tryNumber);
      else await this.cleanupOrphan(h.trigger);
    }
    for (const r of [...this.running.values()]) {
      if (seen.has(r.row.id)) continue;
      r.ended = true;
      r.trigger.cancel(new TaskKilledError("trigger removed"));
      this.running.delete(r.row.id);
    }
    await this.flushLogs();
  }

  private loggerFor(row: TriggerRow, tryNumber: number): TaskLogger {
    return createTaskLogger((level, message) => {
      this.logQueue.push({
        dagId: row.dagId,
        runId: row.runId,
        taskId: row.taskId,
        mapIndex: row.mapIndex,
        tryNumber,
        tsMs: this.options.clock.nowMs(),
        level,
        message,
      });
    });
  }

  private async flushLogs(): Promise<void> {
    if (this.logQueue.length === 0) return;
    await this.options.store.appendLogs(this.logQueue.splice(0, this.logQueue.length));
  }

  /** The DAG of a trigger's run, loaded once per file (which registers its trigger classes). */
  private async dagOf(row: TriggerRow): Promise<DAG | undefined> {
    const run = await this.options.store.getDagRun(row.dagId, row.runId);
    if (!run?.dagFile) return undefined;
    const cached = this.dags.get(`${run.dagFile}\u0000${run.dagId}`);
    if (cached) return cached;
    const dag = await loadDag(run.dagFile, run.dagId);
    this.dags.set(`${run.dagFile}\u0000${run.dagId}`, dag);
    return dag;
  }

  private async recreate(row: TriggerRow): Promise<BaseTrigger> {
    try {
      return createTrigger(row.classpath, JSON.parse(row.kwargs) as Record<string, unknown>);
    } catch (err) {
      // Not registered yet: the DAG file's imports register it.
      if (!(RuntimeError.is(err) && err.code === "not_found")) throw err;
      await this.dagOf(row);
      return createTrigger(row.classpath, JSON.parse(row.kwargs) as Record<string, unknown>);
    }
  }

  private async begin(row: TriggerRow, tryNumber: number): Promise<void> {
    const log = this.loggerFor(row, tryNumber);
    let trigger: BaseTrigger;
    try {
      trigger = await this.recreate(row);
    } catch (err) {
      log.error(`Cannot re-create trigger: ${errorText(err)}`);
      await this.fail(row, tryNumber, err);
      await this.options.store.deleteTrigger(row.id);
      return;
    }
    trigger.clock = this.options.clock;
    trigger.log = log;
    const key = { dagId: row.dagId, runId: row.runId, taskId: row.taskId, mapIndex: row.mapIndex };
    trigger.taskInstance = triggerTaskInstance(this.options.store, key, tryNumber);
    const r: RunningTrigger = { row, tryNumber, trigger, ended: false };
    this.running.set(row.id, r);
    this.options.log(`running trigger ${row.classpath} of ${row.dagId} ${row.runId} ${tiLabel(row)}`);
    // In the runner's scope, as a scheduler runs its triggers: its config, and its Armada clients (closed when
    // the triggerer stops).
    this.runner
      .inScope(() => firstEvent(trigger))
      .then(
        (ev) => this.onEvent(r, ev),
        (err: unknown) => this.onError(r, err),
      )
      .catch((err: unknown) => {
        // Recording the outcome failed (database down): the claim stays, and the trigger runs again next round.
        this.options.log(`trigger of ${row.dagId} ${row.runId} ${tiLabel(row)}: ${errorText(err)}`);
        this.running.delete(row.id);
      });
  }

  private async onEvent(r: RunningTrigger, ev: TriggerEvent | undefined): Promise<void> {
    if (r.ended) return;
    if (!ev) return this.onError(r, new Error("trigger ended without an event"));
    const { store, clock } = this.options;
    const current = await store.getTaskInstance(r.row);
    // Still the deferral this trigger ran for: anything else (a mark-failed, a clear) took the task meanwhile.
    const waiting = current?.state === "deferred" && current.tryNumber === r.tryNumber ? current : undefined;
    if (waiting && TaskEndEvent.isEnd(ev)) {
      // The trigger's event ends the task: no resume (the trigger row goes with the transition).
      await this.flushLogs();
      if (await applyTaskEnd(store, waiting, r.row.id, ev, clock.nowMs())) {
        const state = ev.payload.state;
        this.loggerFor(r.row, r.tryNumber).info(
          `Trigger ended the task: marking task as ${state.toUpperCase()}`,
        );
        this.options.log(`trigger ended ${r.row.dagId} ${r.row.runId} ${tiLabel(r.row)} as ${state}`);
      }
    } else if (waiting) {
      // The fire deletes the trigger row in the same transaction; the run's owner resumes the task.
      const ok = await applyOutcome(store, {
        kind: "fire",
        row: waiting,
        triggerId: r.row.id,
        nextKwargs: firedKwargs(waiting, ev),
        nowMs: clock.nowMs(),
      });
      if (ok) {
        this.loggerFor(r.row, r.tryNumber).info(`Trigger fired: resuming task`);
        this.options.log(`fired trigger of ${r.row.dagId} ${r.row.runId} ${tiLabel(r.row)}`);
      }
    }
    await this.end(r);
  }

  private async onError(r: RunningTrigger, err: unknown): Promise<void> {
    if (r.ended) return;
    this.loggerFor(r.row, r.tryNumber).error(`Trigger failed: ${errorText(err)}`);
    await this.fail(r.row, r.tryNumber, err);
    await this.end(r);
  }

  /** Airflow's handle_failure for a deferred task whose trigger failed (the retry rule needs its task). */
  private async fail(row: TriggerRow, tryNumber: number, err: unknown): Promise<void> {
    const { store, clock } = this.options;
    const current = await store.getTaskInstance(row);
    if (!current || current.state !== "deferred" || current.tryNumber !== tryNumber) return;
    const dag = await this.dagOf(row).catch(() => undefined);
    await this.flushLogs();
    await applyOutcome(store, {
      kind: "failure",
      row: current,
      task: dag?.hasTask(row.taskId) ? dag.getTask(row.taskId) : undefined,
      error: errorText(err),
      fatal: false,
      expectStates: ["deferred"],
      nowMs: clock.nowMs(),
    });
  }

  /** Stops a trigger, runs its cleanup (it reads the task's state) and deletes its row. */
  private async end(r: RunningTrigger): Promise<void> {
    if (r.ended) return;
    r.ended = true;
    r.trigger.cancel(new TaskKilledError("trigger removed"));
    try {
      await this.runner.inScope(() => r.trigger.cleanup());
    } catch (err) {
      this.loggerFor(r.row, r.tryNumber).error(`Trigger cleanup failed: ${errorText(err)}`);
    }
    await this.options.store.deleteTrigger(r.row.id);
    this.running.delete(r.row.id);
  }

  /** A held trigger whose task is no longer deferred and that never ran here: its cleanup is owed. */
  private async cleanupOrphan(row: TriggerRow): Promise<void> {
    const { store, clock } = this.options;
    try {
      const trigger = await this.recreate(row);
      const ti = await store.getTaskInstance(row);
      trigger.clock = clock;
      const key = { dagId: row.dagId, runId: row.runId, taskId: row.taskId, mapIndex: row.mapIndex };
      trigger.taskInstance = triggerTaskInstance(store, key, ti?.tryNumber ?? 0);
      await this.runner.inScope(() => trigger.cleanup());
    } catch (err) {
      this.loggerFor(row, 0).error(`Trigger cleanup failed: ${errorText(err)}`);
    }
    await store.deleteTrigger(row.id);
  }
}
