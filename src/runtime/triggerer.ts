import { SetMultimap } from "../common/set-multimap.js";
import { DeadlineHeap } from "./deadline-heap.js";
import { RuntimeError, TaskKilledError, TaskTimeoutError } from "./errors.js";
import type { OutcomeRecorder } from "./outcome-recorder.js";
import type { Pacer } from "./pacer.js";
import { tiKeyOf, type RunMirror } from "./run-mirror.js";
import { errorText, executionDeadlineMs, tiLabel, type RunScope } from "./run-scope.js";
import { pullXCom, pushXCom } from "./runtime-task-instance.js";
import { deserializeValue, serializeValue } from "./serde.js";
import type { TaskInstanceState } from "./state.js";
import type { Store, TaskInstanceRow, TiKey, TriggerRow } from "./store/store.js";
import {
  BaseTrigger,
  createTrigger,
  TaskEndEvent,
  type TriggerEvent,
  type TriggerTaskInstance,
  type TriggerXComPullOptions,
} from "./trigger.js";
import type { TryExecutor } from "./try-executor.js";

/** What a trigger sees of its task instance: state and XComs, read from the store (any process). */
export function triggerTaskInstance(store: Store, key: TiKey, tryNumber: number): TriggerTaskInstance {
  return new StoredTriggerTaskInstance(store, key, tryNumber);
}

/**
 * A class, not an object of closures: one is kept per waiting trigger, and
 * methods on the prototype cost nothing per instance.
 */
class StoredTriggerTaskInstance implements TriggerTaskInstance {
  readonly dagId: string;
  readonly taskId: string;
  readonly runId: string;
  readonly mapIndex: number;

  constructor(
    private readonly store: Store,
    key: TiKey,
    readonly tryNumber: number,
  ) {
    this.dagId = key.dagId;
    this.taskId = key.taskId;
    this.runId = key.runId;
    this.mapIndex = key.mapIndex;
  }

  async currentState(): Promise<TaskInstanceState> {
    return (await this.store.getTaskInstance(this.key()))?.state ?? "none";
  }

  async xcomPush(key: string, value: unknown): Promise<void> {
    await pushXCom(this.store, this, this.tryNumber, key, value, Date.now(), "trigger xcomPush");
  }

  async xcomPull(options: TriggerXComPullOptions): Promise<unknown> {
    if (typeof options?.key !== "string" || options.key === "") {
      throw new RuntimeError(
        "invalid_argument",
        `trigger xcomPull: key must be a non-empty string, e.g. { key: "job_context" }`,
      );
    }
    return pullXCom(this.store, this.key(), options, this.tryNumber);
  }

  private key(): TiKey {
    return { dagId: this.dagId, runId: this.runId, taskId: this.taskId, mapIndex: this.mapIndex };
  }
}

/**
 * The first event a trigger yields; undefined when it ends without one (see
 * {@link BaseTrigger.firstEvent}). A trigger from another copy of this
 * module that predates that method is read through its iterator.
 */
export function firstEvent(trigger: BaseTrigger): Promise<TriggerEvent | undefined> {
  if (typeof trigger.firstEvent === "function") return trigger.firstEvent();
  return BaseTrigger.prototype.firstEvent.call(trigger);
}

/** The `nextKwargs` of a resume after `ev`: what the deferral passed, with the event added. */
export function firedKwargs(current: TaskInstanceRow | undefined, ev: TriggerEvent): string {
  const next = current?.nextKwargs ? (deserializeValue(current.nextKwargs) as Record<string, unknown>) : {};
  return serializeValue({ ...next, event: ev.payload }, "trigger event");
}

/**
 * A trigger row without its kwargs, for one kept while its trigger runs
 * here: the trigger was made from them, and they were the largest part of
 * what a runner held per waiting task. Its cleanup is the running
 * trigger's, so they are not read again.
 */
function withoutKwargs(trow: TriggerRow): TriggerRow {
  return {
    id: trow.id,
    dagId: trow.dagId,
    runId: trow.runId,
    taskId: trow.taskId,
    mapIndex: trow.mapIndex,
    classpath: trow.classpath,
    kwargs: "",
    createdMs: trow.createdMs,
    timeoutMs: trow.timeoutMs,
    triggererId: trow.triggererId ?? null,
  };
}

/**
 * The reason a removed trigger's waits end with: one error for all of them, as an error's stack trace cost more
 * than the rest of a removal when 100,000 tasks ended in minutes.
 */
const TRIGGER_REMOVED = new TaskKilledError("trigger removed");

/** The states a trigger's failure is recorded in: one array for every waiting trigger's supervision. */
const WHILE_DEFERRED: TaskInstanceState[] = ["deferred"];

interface ActiveTrigger {
  /** Its row, without kwargs (see {@link withoutKwargs}). */
  row: TriggerRow;
  trigger: BaseTrigger;
  removed: boolean;
}

/** What the run's triggerer needs of the run's driver. */
export interface RunTriggererHooks {
  /** True while a try of the task instance runs in this process (its trigger row is not an orphan yet). */
  runsHere(ti: TaskInstanceRow): boolean;
  /** True while a try of the task instance (by key) is held by this process, settling included. */
  tryRunsHere(key: string): boolean;
  /** Runs background work of a task instance; its error fails the try (see the driver's `supervise`). */
  supervise(
    what: string,
    row: TaskInstanceRow,
    expectStates: TaskInstanceState[],
    work: () => Promise<void>,
  ): void;
  /** The next pass looks at the task instance again. */
  recheck(key: string): void;
  wake(): void;
  /** True once the run is shutting down: no new trigger starts. */
  stopped(): boolean;
  /**
   * Makes this process the one that runs (or cleans up) the trigger; false
   * when another live process holds it (an `armada-airflow triggerer`), or
   * when this process runs no triggers (`scheduler --no-triggerer`).
   */
  claim(trow: TriggerRow): Promise<boolean>;
}

/**
 * The triggerer of one DAG run (Airflow's triggerer, for the runs this
 * process drives): runs the triggers of the run's deferred task instances
 * concurrently in this process's event loop and fires each one's first
 * event (the task becomes SCHEDULED and the driver resumes it). It also
 * enforces deferral timeouts and kills requested while deferred, and owes
 * every trigger that ends its `cleanup()` before its row is deleted.
 */
export class RunTriggerer {
  private readonly triggers = new Map<string, ActiveTrigger>();
  /** Active trigger ids by task instance key. */
  private readonly triggersByKey = new SetMultimap<string, string>();
  /** Trigger timeouts, by trigger id. */
  private readonly triggerTimeouts = new DeadlineHeap<string>();
  /**
   * Triggers of deferred task instances that another process runs (or will):
   * this run still enforces their timeouts and kill requests, the holder
   * fires them and owes their cleanup.
   */
  private readonly watched = new Map<string, TriggerRow>();
  private triggersLoaded = false;
  /** Task instances that deferred in this process since the last pass, with the trigger rows stored. */
  private readonly deferredHere = new Map<string, TriggerRow>();

  constructor(
    private readonly scope: RunScope,
    private readonly mirror: RunMirror,
    private readonly recorder: OutcomeRecorder,
    private readonly executor: TryExecutor,
    private readonly hooks: RunTriggererHooks,
  ) {}

  /** Triggers running now. */
  get size(): number {
    return this.triggers.size;
  }

  /**
   * One pass: starts new triggers, removes those whose task is no longer
   * deferred, enforces timeouts. `changed` are the task instances changed
   * since the last pass. Returns the next deferral timeout, if any.
   */
  async pass(changed: Map<string, TaskInstanceRow>, now: number, pace: Pacer): Promise<number | undefined> {
    if (!this.triggersLoaded) {
      // Once per run: triggers left by an earlier runner (afterwards, only changed task instances have new ones).
      this.triggersLoaded = true;
      const { dagId, runId } = this.scope.run;
      for (const trow of await this.scope.store.listTriggers({ dagId, runId })) {
        await this.examine(trow, now);
        await pace.step();
      }
    } else {
      const keys = new Map<string, TaskInstanceRow | undefined>(changed);
      for (const key of this.deferredHere.keys()) if (!keys.has(key)) keys.set(key, this.mirror.get(key));
      for (const [key, row] of keys) {
        // Active ones (to remove when the task left DEFERRED) and stored ones (a new deferral's, even
        // when the task left DEFERRED again before this pass saw it: its trigger is owed a cleanup).
        const trows = new Map<string, TriggerRow>();
        for (const id of this.triggersByKey.get(key)) trows.set(id, this.triggers.get(id)!.row);
        // A deferral made here brought its trigger row: only one made elsewhere is read. The note is kept
        // while its try still runs here (its write may not have committed; the try's release rechecks the
        // key). Taken by a pass that found the try running, it left the stored trigger to a pass reading
        // DEFERRED, and a mark-failed landing before that read left it to none: its cleanup (the job's
        // cancel) never ran.
        const deferredHere = this.deferredHere.get(key);
        const settling = deferredHere !== undefined && this.hooks.tryRunsHere(key);
        if (deferredHere && !settling) {
          this.deferredHere.delete(key);
          trows.set(deferredHere.id, deferredHere);
        } else if (!deferredHere && row?.state === "deferred")
          for (const t of await this.scope.store.listTriggersOf(row)) trows.set(t.id, t);
        for (const trow of trows.values()) await this.examine(trow, now);
        await pace.step();
      }
    }
    for (const id of this.triggerTimeouts.popDue(now)) {
      const trow = this.triggers.get(id)?.row ?? this.watched.get(id);
      if (trow) await this.examine(trow, now);
    }
    return this.triggerTimeouts.peekTime();
  }

  /**
   * A try of `key` is deferring here (noted as its transition is made): the
   * next pass looks at its stored trigger whatever the task's state by then
   * (another process may have marked it failed before that pass read it as
   * DEFERRED). A pass before the commit finds the try still running here and
   * leaves the trigger to the pass that reads the deferral.
   */
  noteDeferred(key: string, trigger: TriggerRow): void {
    this.deferredHere.set(key, trigger);
  }

  /** The deferral noted for `key` with trigger `id` did not happen (its transition wrote nothing). */
  forgetDeferred(key: string, id: string): void {
    if (this.deferredHere.get(key)?.id === id) this.deferredHere.delete(key);
  }

  /** Stops every trigger of the run (with `cleanup()`), as on shutdown. */
  async removeAll(): Promise<void> {
    await Promise.all([...this.triggers.keys()].map((id) => this.remove(id)));
  }

  /** Starts, keeps, times out or removes one stored trigger, by the state of its task instance. */
  private async examine(trow: TriggerRow, now: number): Promise<void> {
    let ti = this.mirror.get(tiKeyOf(trow));
    const active = this.triggers.get(trow.id);
    if (!active && ti?.state !== "deferred") {
      // The mirror may be a pass behind: read the row itself before calling the trigger an orphan.
      ti = await this.scope.store.getTaskInstance(trow);
      if (ti && this.hooks.runsHere(ti)) return;
    }
    if (!ti || ti.state !== "deferred") {
      await this.removeOrOrphan(trow, active !== undefined);
      return;
    }
    const log = this.scope.loggerFor(ti.taskId, ti.mapIndex, ti.tryNumber);
    if (ti.killRequested) {
      log.warn("Kill requested (tasks kill) while deferred");
      await this.recorder.failed(
        ti,
        new TaskKilledError("kill requested (tasks kill) while deferred"),
        false,
        ["deferred"],
        log,
      );
      await this.removeOrOrphan(trow, active !== undefined);
      return;
    }
    if (trow.timeoutMs !== null && trow.timeoutMs <= now) {
      const task = this.scope.taskOf(ti.taskId);
      const execDeadline = executionDeadlineMs(task, ti.startMs);
      if (execDeadline !== undefined && execDeadline <= trow.timeoutMs) {
        // The try's one deadline (from its start, across deferrals and restarts), not the deferral's own.
        const err = new TaskTimeoutError(
          `Task timed out after ${task!.executionTimeout} seconds (executionTimeout, counted from the start of try ${ti.tryNumber}) while deferred`,
        );
        log.error(err.message);
        // The work (an Armada job) must not outlive the try: onKill releases it even when a retry follows.
        await this.executor.killWithoutTry(ti, err, log);
        await this.recorder.failed(ti, err, false, ["deferred"], log);
        await this.removeOrOrphan(trow, active !== undefined);
        return;
      }
      const err = new TaskTimeoutError(
        `Trigger timeout: the deferral of ${tiLabel(ti)} exceeded its timeout`,
      );
      log.error(err.message);
      await this.recorder.failed(ti, err, false, ["deferred"], log);
      await this.removeOrOrphan(trow, active !== undefined);
      return;
    }
    if (!active && !this.hooks.stopped() && !this.watched.has(trow.id)) {
      if (await this.hooks.claim(trow)) this.start(trow, ti);
      else this.watched.set(trow.id, trow); // kept whole: its cleanup may fall to this process
      if (trow.timeoutMs !== null) this.triggerTimeouts.push(trow.timeoutMs, trow.id);
    }
  }

  private start(trow: TriggerRow, ti: TaskInstanceRow): void {
    const log = this.scope.loggerFor(ti.taskId, ti.mapIndex, ti.tryNumber);
    let trigger: BaseTrigger;
    try {
      trigger = createTrigger(trow.classpath, JSON.parse(trow.kwargs) as Record<string, unknown>);
    } catch (err) {
      log.error(`Cannot re-create trigger: ${errorText(err)}`);
      this.hooks.supervise("Failing the deferral", ti, ["deferred"], async () => {
        await this.recorder.failed(ti, err, false, ["deferred"], log);
        await this.scope.store.deleteTrigger(trow.id);
      });
      return;
    }
    trigger.clock = this.scope.clock;
    trigger.log = log;
    trigger.taskInstance = triggerTaskInstance(
      this.scope.store,
      this.scope.tiKey(ti.taskId, ti.mapIndex),
      ti.tryNumber,
    );
    const active: ActiveTrigger = { row: withoutKwargs(trow), trigger, removed: false };
    this.triggers.set(trow.id, active);
    const key = tiKeyOf(trow);
    this.triggersByKey.add(key, trow.id);
    this.waitForEvent(active, ti);
  }

  /**
   * Waits for the trigger's first event. A method of its own so that its
   * callbacks' scope holds only what they use (one is kept per waiting
   * task; in `start` it held the whole stored row, kwargs and all). The
   * event's handling is supervised (its failure fails the try) once it
   * comes, not for the whole wait: a supervision's promise and callback
   * were kept per waiting task too.
   */
  private waitForEvent(active: ActiveTrigger, ti: TaskInstanceRow): void {
    let event: Promise<TriggerEvent | undefined>;
    try {
      event = firstEvent(active.trigger);
    } catch (err) {
      event = Promise.reject(err);
    }
    event.then(
      (ev) => this.hooks.supervise("The trigger", ti, WHILE_DEFERRED, () => this.onEvent(active, ti, ev)),
      (err: unknown) =>
        this.hooks.supervise("The trigger", ti, WHILE_DEFERRED, () => this.onError(active, ti, err)),
    );
  }

  private async onEvent(
    active: ActiveTrigger,
    ti: TaskInstanceRow,
    ev: TriggerEvent | undefined,
  ): Promise<void> {
    if (active.removed) return;
    const log = this.scope.loggerFor(ti.taskId, ti.mapIndex, ti.tryNumber);
    if (!ev) return this.onError(active, ti, new Error("trigger ended without an event"));
    if (TaskEndEvent.isEnd(ev)) {
      // No resume: the trigger's event ends the task (its row goes with the transition).
      const ended = await this.recorder.endedByTrigger(ti, log, active.row.id, ev);
      await this.remove(active.row.id, ended);
      return;
    }
    // `ti` is the deferred row this trigger started for: its next kwargs are this deferral's.
    const fired = await this.recorder.fired(ti, log, active.row.id, firedKwargs(ti, ev));
    await this.remove(active.row.id, fired);
  }

  private async onError(active: ActiveTrigger, ti: TaskInstanceRow, err: unknown): Promise<void> {
    if (active.removed) return;
    const log = this.scope.loggerFor(ti.taskId, ti.mapIndex, ti.tryNumber);
    log.error(`Trigger failed: ${errorText(err)}`);
    await this.recorder.failed(ti, err, false, ["deferred"], log);
    await this.remove(active.row.id);
  }

  /**
   * The trigger's task left DEFERRED: its cleanup is run here, unless another
   * process holds the trigger. `wasActive`: it ran here when the caller
   * looked, so it is never an orphan, even if it fired and was removed while
   * the caller waited on a write (its one cleanup ran then).
   */
  private async removeOrOrphan(trow: TriggerRow, wasActive: boolean): Promise<void> {
    this.watched.delete(trow.id);
    if (wasActive || this.triggers.has(trow.id)) await this.remove(trow.id);
    else if (await this.hooks.claim(trow)) await this.cleanupOrphan(trow);
  }

  /**
   * Stops a trigger, runs its cleanup (it may read the task's state) and
   * deletes it, unless the transition that fired it has (`deleted`).
   */
  private async remove(id: string, deleted = false): Promise<void> {
    const active = this.triggers.get(id);
    if (!active || active.removed) return;
    active.removed = true;
    active.trigger.cancel(TRIGGER_REMOVED);
    try {
      await active.trigger.cleanup();
    } catch (err) {
      this.scope
        .loggerFor(active.row.taskId, active.row.mapIndex, active.trigger.taskInstance?.tryNumber ?? 0)
        .error(`Trigger cleanup failed: ${errorText(err)}`);
    }
    if (!deleted) await this.scope.store.deleteTrigger(id);
    this.triggers.delete(id);
    const key = tiKeyOf(active.row);
    this.triggersByKey.delete(key, id);
    // The task may have deferred again meanwhile: its new trigger is looked at in the next pass.
    this.hooks.recheck(key);
    this.hooks.wake();
  }

  /** A stored trigger whose task is no longer deferred and that is not running here (after a restart). */
  private async cleanupOrphan(trow: TriggerRow): Promise<void> {
    const key = this.scope.tiKey(trow.taskId, trow.mapIndex);
    try {
      const trigger = createTrigger(trow.classpath, JSON.parse(trow.kwargs) as Record<string, unknown>);
      const ti = await this.scope.store.getTaskInstance(key);
      trigger.clock = this.scope.clock;
      trigger.taskInstance = triggerTaskInstance(this.scope.store, key, ti?.tryNumber ?? 0);
      await trigger.cleanup();
    } catch (err) {
      this.scope.loggerFor(trow.taskId, trow.mapIndex, 0).error(`Trigger cleanup failed: ${errorText(err)}`);
    }
    await this.scope.store.deleteTrigger(trow.id);
    this.hooks.wake();
  }
}
