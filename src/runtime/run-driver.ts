import { randomUUID } from "node:crypto";
import type { Clock } from "../common/clock.js";
import type { BaseOperator } from "./base-operator.js";
import type { DAG } from "./dag.js";
import { TaskKilledError, TaskTimeoutError, type TaskDeferred } from "./errors.js";
import { applyOutcome } from "./outcome.js";
import { OutcomeRecorder } from "./outcome-recorder.js";
import { Pacer } from "./pacer.js";
import { RunPlanner, type PlanAction, type StartResult } from "./planner.js";
import { DEFAULT_POOL, PoolSlotsUnavailable } from "./pools.js";
import { recoverRun } from "./recovery.js";
import { RunMirror, tiKeyOf } from "./run-mirror.js";
import { StartWrites } from "./start-writes.js";
import { RunScope, errorText, executionDeadlineMs, tiLabel, type RunnerEvent } from "./run-scope.js";
import { serializeValue } from "./serde.js";
import type { DagRunState, TaskInstanceState } from "./state.js";
import type { DagRunRow, Store, TaskInstanceRow, TriggerRow } from "./store/store.js";
import { stderrLogger, type TaskLogger } from "./task-logger.js";
import type { TemplateEnv } from "./template.js";
import { decideTriggerRule, type UpstreamSummary } from "./trigger-rules.js";
import { createTrigger } from "./trigger.js";
import { RunTriggerer } from "./triggerer.js";
import type { RuntimeConfig } from "./runtime-config.js";
import { TryExecutor, type RunningTry, type TryResult } from "./try-executor.js";
import { mappedLists } from "./task-mapping.js";

/** What a run's driver needs of the runner (the process) it works for. */
export interface RunOwner {
  readonly id: string;
  readonly store: Store;
  readonly clock: Clock;
  readonly heartbeatMs: number;
  /** The settings the run's tasks see as `context.runtimeConfig`. */
  readonly config: RuntimeConfig;
  /** Tries running at once in this process at most (0: no limit). */
  readonly parallelism: number;
  readonly maxActiveTasksPerDag: number;
  /** Tries running in this process now. */
  readonly runningTries: number;
  /** False with `scheduler --no-triggerer`: triggers are left to an `armada-airflow triggerer`. */
  readonly runsTriggers: boolean;
  isRunnerAlive(id: string): Promise<boolean>;
  reserveTry(force?: boolean): boolean;
  unreserveTry(): void;
  tryEnded(): void;
  waitForSlot(driver: RunDriver): void;
}

const keyOf = tiKeyOf;

const earliest = (...times: (number | undefined)[]): number | null => {
  const defined = times.filter((t): t is number => t !== undefined);
  return defined.length ? Math.min(...defined) : null;
};

/**
 * Drives one DAG run (Airflow's scheduler loop and supervisor, for one run):
 * each pass reads what changed, lets the run's {@link RunTriggerer} start
 * and end triggers, carries out the {@link RunPlanner}'s actions (a try
 * starting is run by the {@link TryExecutor}), and records every outcome
 * through the {@link OutcomeRecorder}; {@link recoverRun} first takes over
 * what a dead runner left.
 */
export class RunDriver {
  private readonly running = new Map<string, RunningTry>();
  /** The run's task instances as last read; each wake reads only what changed. */
  private readonly mirror: RunMirror;
  /** Task instances skipped by a wake because a try of theirs ran here; looked at again once it ends. */
  private readonly recheck = new Set<string>();
  /** Pools that refused a start lately: their starts are written one by one (see {@link StartWrites}). */
  private readonly crowdedPools = new Set<string>();
  /** Task instances whose wait was logged (once each). */
  private readonly waitLogged = new Set<string>();
  /** Task instances of this run running at once at most ({@link DAG.maxActiveTasks}). */
  private readonly maxActiveTasks: number;
  private readonly scope: RunScope;
  private readonly recorder: OutcomeRecorder;
  private readonly executor: TryExecutor;
  private readonly planner: RunPlanner;
  private readonly triggerer: RunTriggerer;
  private dirty = true;
  private wakeResolve: (() => void) | undefined;
  private stopped = false;
  /** A background failure that could not even be recorded as a failed try: ends the run loudly. */
  private fatal: unknown;

  constructor(
    private readonly runner: RunOwner,
    private readonly dag: DAG,
    private readonly run: DagRunRow,
    onlyTaskIds: string[] | undefined,
    env: TemplateEnv,
    emit: (e: RunnerEvent) => void,
  ) {
    this.scope = new RunScope(runner, dag, run, onlyTaskIds, emit);
    this.mirror = new RunMirror(runner.store, run.dagId, run.runId);
    this.maxActiveTasks = dag.maxActiveTasks ?? runner.maxActiveTasksPerDag;
    this.recorder = new OutcomeRecorder(this.scope, () => this.wake());
    this.executor = new TryExecutor(this.scope, env, {
      supervise: (what, row, work) => this.supervise(what, row, ["running"], work),
      timedOut: (rt, reason) => this.killTry(rt, "timeout", reason),
    });
    this.planner = new RunPlanner(dag, this.mirror, this.scope.only);
    this.triggerer = new RunTriggerer(this.scope, this.mirror, this.recorder, this.executor, {
      runsHere: (ti) => this.running.has(keyOf(ti)) || (ti.state === "running" && ti.runnerId === runner.id),
      tryRunsHere: (key) => this.running.has(key),
      supervise: (what, row, expect, work) => this.supervise(what, row, expect, work),
      recheck: (key) => this.recheck.add(key),
      wake: () => this.wake(),
      stopped: () => this.stopped,
      claim: async (trow) => {
        if (!runner.runsTriggers) return false;
        if (trow.triggererId === runner.id) return true;
        const ids = [trow.id];
        const won = await this.store.claimTriggers({
          holder: runner.id,
          ids,
          isHolderAlive: (id) => runner.isRunnerAlive(id),
        });
        return won.length > 0;
      },
    });
  }

  private get store(): Store {
    return this.scope.store;
  }

  private get clock(): Clock {
    return this.scope.clock;
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
      const log = this.scope.loggerFor(row.taskId, row.mapIndex, row.tryNumber);
      log.error(`${what} of ${tiLabel(row)} failed: ${errorText(err)}`);
      try {
        const current = await this.store.getTaskInstance(row);
        if (current && expectStates.includes(current.state))
          await this.recorder.failed(current, err, false, expectStates, log);
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

  async flushLogs(): Promise<void> {
    await this.scope.flushLogs();
  }

  /** Takes over what a dead runner left of the run (see {@link recoverRun}). */
  async recover(): Promise<void> {
    await recoverRun(this.scope, this.recorder, this.executor, {
      reclaim: async (ti) => this.startTry(ti, "reclaim"),
    });
  }

  async shutdown(reason: string): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.running.values()].map((rt) => this.killTry(rt, "kill", reason)));
    for (const ti of await this.store.listTaskInstancesInStates(this.run.dagId, this.run.runId, [
      "deferred",
    ])) {
      const log = this.scope.loggerFor(ti.taskId, ti.mapIndex, ti.tryNumber);
      log.warn(`Killing deferred task: ${reason}`);
      await this.recorder.failed(ti, new TaskKilledError(reason), false, ["deferred"], log);
    }
    await this.triggerer.removeAll();
    this.wake();
  }

  async drive(): Promise<DagRunState | "interrupted"> {
    for (;;) {
      if (this.fatal !== undefined) throw this.fatal;
      const deadline = await this.tick();
      if (deadline === "done") break;
      if (this.stopped && this.running.size === 0 && this.triggerer.size === 0) {
        await this.flushLogs();
        this.scope.emitRun("interrupted");
        return "interrupted";
      }
      await this.waitForWork(deadline);
    }
    const final = (await this.store.getDagRun(this.run.dagId, this.run.runId))!.state;
    this.scope.emitRun(final);
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

    const nextTimeout = await this.triggerer.pass(changed, now, pace);
    if (nextTimeout !== undefined) soon(nextTimeout);

    if (this.stopped) return undefined;

    const plan = this.planner.pass(changed, now, (key) => this.running.has(key));
    const starts = new StartWrites();
    let step = plan.next();
    while (!step.done) {
      const action = step.value;
      // A start is decided without a wait where it can be, so the pass's starts reach the store together.
      const done = action.kind === "start" ? this.startTry(action.row, action.mode, starts) : this.perform(action, now);
      const result = done instanceof Promise ? await done : done;
      if (action.kind === "start" || action.kind === "mark") {
        const turn = pace.step();
        if (turn) await turn;
      }
      step = plan.next(result);
    }
    // The pass's starts were written together (sharing commits); the pass is over once all are.
    await starts.settled();
    for (const pool of starts.usedPools) if (!starts.refusedPools.has(pool)) this.crowdedPools.delete(pool);
    for (const pool of starts.refusedPools) this.crowdedPools.add(pool);
    const summary = step.value;
    if (summary.nextRetryMs !== undefined) soon(summary.nextRetryMs);
    if (summary.waitsForSlot || starts.refusedPools.size > 0) this.runner.waitForSlot(this);

    // Finished when every task instance is in a final state.
    if (this.running.size === 0 && this.triggerer.size === 0 && this.planner.allFinished()) {
      // The mirror is as of the start of this pass: make sure nothing changed since.
      if ((await this.mirror.refresh()).length > 0) {
        this.wake();
        return deadline;
      }
      if (!this.planner.allFinished()) return deadline;
      const state = this.planner.finalState();
      await this.flushLogs();
      await this.store.updateDagRun(this.run.dagId, this.run.runId, { state, endMs: this.clock.nowMs() });
      return "done";
    }
    return deadline;
  }

  /** Carries out one action of the planner but a start. */
  private async perform(action: Exclude<PlanAction, { kind: "start" }>, now: number): Promise<undefined> {
    switch (action.kind) {
      case "create":
        await this.createTaskInstances(action.task, action.upstream);
        return undefined;
      case "remove":
      case "mark": {
        const t = action.row;
        const state = action.kind === "remove" ? "removed" : action.state;
        if (
          await this.store.updateTaskInstance(
            t,
            { state, endMs: now, updatedMs: now },
            { states: [action.kind === "remove" ? t.state : "none"] },
          )
        ) {
          this.scope.emitTi(t, t.tryNumber, state);
          this.wake();
        }
        return undefined;
      }
    }
  }

  /** Says once in a task instance's log why it waits. */
  private logWait(row: TaskInstanceRow, tryNumber: number, why: string): void {
    const key = keyOf(row);
    if (this.waitLogged.has(key)) return;
    this.waitLogged.add(key);
    this.scope
      .loggerFor(row.taskId, row.mapIndex, tryNumber)
      .info(why.charAt(0).toUpperCase() + why.slice(1));
  }

  /** A task instance marked FAILED (`tasks mark-failed`) while no try ran here: its operator gets `onKill()`. */
  private async settleKilled(snap: TaskInstanceRow): Promise<void> {
    // Re-read: a try killed just before has had its onKill and cleared the flag.
    const row = await this.store.getTaskInstance(snap);
    if (!row || row.state !== "failed" || !row.killRequested) return;
    const log = this.scope.loggerFor(row.taskId, row.mapIndex, row.tryNumber);
    await this.executor.killWithoutTry(
      row,
      new TaskKilledError("marked failed (tasks mark-failed) with no try running"),
      log,
    );
    await this.recorder.killSettled(row);
  }

  private async createTaskInstances(task: BaseOperator, upstream: UpstreamSummary): Promise<void> {
    const now = this.clock.nowMs();
    const { dagId, runId } = this.scope.run;
    // Key fields written out, not spread: V8 (Node 20) adds each property after a spread slowly, about
    // 1 µs each, and this runs once per mapped instance (about a second for 100,000 instances, spread).
    const base = (mapIndex: number, state: TaskInstanceState): TaskInstanceRow => ({
      dagId,
      runId,
      taskId: task.taskId,
      mapIndex,
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
    const decision = this.scope.only ? "run" : decideTriggerRule(task.triggerRule, upstream);
    if (decision === "wait") return;
    if (decision !== "run") {
      await this.store.insertTaskInstances([base(-1, decision === "skip" ? "skipped" : "upstream_failed")]);
      this.wake();
      return;
    }
    let lengths: number[];
    try {
      lengths = (await mappedLists(this.store, task, this.scope.tiKey(task.taskId, -1))).map((l) => l.length);
    } catch (err) {
      const row = base(-1, "failed");
      await this.store.insertTaskInstances([row]);
      this.scope.loggerFor(task.taskId, -1, 0).error(`Cannot expand mapped task: ${errorText(err)}`);
      this.scope.emitTi(row, 0, "failed");
      this.wake();
      return;
    }
    const n = lengths.reduce((a, b) => a * b, 1);
    const rows = n === 0 ? [base(-1, "skipped")] : Array.from({ length: n }, (_, i) => base(i, "none"));
    await this.store.insertTaskInstances(rows);
    this.wake();
  }

  /**
   * Starts a try: a new one (`start`), a deferred one resuming (`resume`),
   * or one a dead runner left running, run again (`reclaim`).
   *
   * Given `starts` (a pass of the planner), the try's start is written
   * without waiting for it: it says "started" once the limits that are
   * known here (the run's task slots, the runner's) let it, takes its slot
   * at once, and its write joins the pass's other starts, which then share
   * commits instead of taking one commit's wait each, one after another (at
   * a burst of resumes that wait was most of a resume's latency). The try
   * runs only once its write has committed. A start its write refuses (its
   * pool full, or the task instance changed meanwhile) gives its slot back
   * and waits as it would have (see {@link StartWrites}).
   */
  private startTry(
    row: TaskInstanceRow,
    mode: "start" | "resume" | "reclaim",
    starts?: StartWrites,
  ): StartResult | Promise<StartResult> {
    const key = keyOf(row);
    if (this.running.has(key) || this.stopped) return "done";
    if (row.killRequested) return this.killedBeforeStart(row, mode === "resume");
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
    const log = this.scope.loggerFor(row.taskId, row.mapIndex, tryNumber);
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
      timeout: undefined,
    };
    this.running.set(key, rt);
    const written = this.writeStart(rt, row, mode, log);
    if (!starts || mode === "reclaim") return written;
    const pool = this.scope.taskOf(row.taskId)?.pool ?? DEFAULT_POOL;
    starts.usedPools.add(pool);
    if (this.crowdedPools.has(pool)) {
      // One by one: the planner stops this pass's starts in the pool at its first refusal.
      return written.then((result) => {
        if (result === "pool") starts.refusedPools.add(pool);
        return result;
      });
    }
    starts.add(
      written.then((result) => {
        if (result !== "pool") return;
        starts.refusedPools.add(pool);
        this.planner.refusedForPool(row, mode);
      }),
    );
    return "started";
  }

  /** A task instance with a kill requested before its try could start: it fails, as its try would have. */
  private async killedBeforeStart(row: TaskInstanceRow, resume: boolean): Promise<StartResult> {
    const log = this.scope.loggerFor(row.taskId, row.mapIndex, row.tryNumber);
    log.warn("Kill requested (tasks kill) before the task could resume");
    const err = new TaskKilledError("kill requested (tasks kill)");
    // The trigger fired, so its cleanup left the external work to the
    // resuming try; that try will not run, so the operator must release it.
    if (resume) await this.executor.killWithoutTry(row, err, log);
    await this.recorder.failed(row, err, false, [row.state], log);
    return "done";
  }

  /** Records the start of the try `rt` (registered as running) and runs it; what the start came to. */
  private async writeStart(
    rt: RunningTry,
    row: TaskInstanceRow,
    mode: "start" | "resume" | "reclaim",
    log: TaskLogger,
  ): Promise<StartResult> {
    const { key, tryNumber } = rt;
    const resume = mode === "resume";
    const task = this.scope.taskOf(row.taskId);
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
      await this.recorder.failed(row, err, true, [row.state], log);
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
    this.planner.started(key);
    rt.row.startMs = mode === "start" ? now : (row.startMs ?? now);
    this.scope.emitTi(row, tryNumber, "running");
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

  /** Runs the try and records what became of it. */
  private async executeTry(rt: RunningTry, resumeFrom: TaskInstanceRow | undefined): Promise<void> {
    try {
      const result = await this.executor.run(rt, resumeFrom);
      if (result) await this.record(rt, result);
    } finally {
      rt.timeout?.abort();
      if (!rt.killed) this.release(rt.key);
    }
  }

  private async record(rt: RunningTry, result: TryResult): Promise<void> {
    switch (result.kind) {
      case "success":
      case "skipped":
        return this.recorder.finished(rt.row, rt.log, result.kind);
      case "deferred":
        return this.deferTry(rt, result.deferral);
      case "failed":
        return this.recorder.failed(rt.row, result.error, result.fatal, ["running"], rt.log);
    }
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
      await this.recorder.failed(row, err, true, ["running"], rt.log);
      return;
    }
    const now = this.clock.nowMs();
    const trigger: TriggerRow = {
      id: randomUUID(),
      dagId: row.dagId,
      runId: row.runId,
      taskId: row.taskId,
      mapIndex: row.mapIndex,
      classpath,
      kwargs: JSON.stringify(kwargs),
      createdMs: now,
      // Held by this process from the start when it runs triggers: a triggerer on the same database leaves it.
      triggererId: this.runner.runsTriggers ? this.runner.id : null,
      timeoutMs: earliest(
        deferral.timeout !== undefined ? now + deferral.timeout * 1000 : undefined,
        executionDeadlineMs(this.dag.getTask(row.taskId), row.startMs),
      ),
    };
    // Noted before the transition commits, not after: a pass that reads the committed deferral first
    // would start the trigger itself, and a note made after that would name a trigger already gone.
    this.triggerer.noteDeferred(rt.key, trigger);
    let deferred = false;
    try {
      deferred = await this.recorder.deferred(row, rt.log, {
        trigger,
        methodName: deferral.methodName,
        nextKwargs: serializeValue({ kwargs: deferral.kwargs }, "defer kwargs"),
        nowMs: now,
      });
    } finally {
      if (!deferred) this.triggerer.forgetDeferred(rt.key, trigger.id);
    }
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
    await this.executor.killRunning(rt);
    if (mode === "external") await this.recorder.changedOutside(rt.row, rt.tryNumber, reason);
    else await this.recorder.failed(rt.row, err, false, ["running"], rt.log);
    this.release(rt.key);
  }
}
