import { type Clock, systemClock } from "../common/clock.js";
import { brandSymbol, hasBrand } from "./brand.js";
import type { XComPullOptions } from "./context.js";
import { RuntimeError } from "./errors.js";
import type { TaskInstanceState } from "./state.js";
import { stderrLogger, type TaskLogger } from "./task-logger.js";

const TRIGGER = brandSymbol("BaseTrigger");
const TRIGGER_EVENT = brandSymbol("TriggerEvent");

/** What a trigger fires; its `payload` is passed to the resumed task method as `event`. */
export class TriggerEvent<T = unknown> {
  readonly payload: T;
  constructor(payload: T) {
    this.payload = payload;
    Object.defineProperty(this, TRIGGER_EVENT, { value: true });
  }

  /** True for a TriggerEvent from any module copy. */
  static is(value: unknown): value is TriggerEvent {
    return hasBrand(value, TRIGGER_EVENT);
  }
}

const TASK_END_EVENT = brandSymbol("TaskEndEvent");

/** The states a trigger can end its task in ({@link TaskEndEvent}). */
export type TaskEndState = "success" | "skipped";

/**
 * An event that ends the task instead of resuming it (Airflow's
 * `BaseTaskEndEvent`, its `end_from_trigger`): the triggerer writes the
 * event's `xcoms` at the deferred try and moves the task from DEFERRED to
 * `state` with the trigger's row deleted, in place of a resume. For a
 * trigger that has already learned everything the resumed method would
 * have done (the job it waited on succeeded): the resume (a task slot, the
 * operator's copy, a status call, three transitions) was most of what a
 * runner spent per task once 100,000 jobs ended in a few minutes. Its
 * payload is `{ state }`, so a task method resumed with it (a runtime that
 * predates it) still sees what happened.
 */
export class TaskEndEvent extends TriggerEvent<{ state: TaskEndState }> {
  /** XComs to write at the deferred try before its state (`return_value`, say). */
  readonly xcoms: Readonly<Record<string, unknown>>;
  constructor(state: TaskEndState, xcoms: Record<string, unknown> = {}) {
    super({ state });
    this.xcoms = xcoms;
  }

  /** True for a TaskEndEvent from any module copy. */
  static isEnd(value: unknown): value is TaskEndEvent {
    return hasBrand(value, TASK_END_EVENT);
  }
}
Object.defineProperty(TaskEndEvent.prototype, TASK_END_EVENT, { value: true });

/** Ends the task as SUCCESS from its trigger (Airflow's `TaskSuccessEvent`), with `xcoms` written first. */
export class TaskSuccessEvent extends TaskEndEvent {
  constructor(xcoms: Record<string, unknown> = {}) {
    super("success", xcoms);
  }
}

/** Ends the task as SKIPPED from its trigger (Airflow's `TaskSkippedEvent`). */
export class TaskSkippedEvent extends TaskEndEvent {
  constructor(xcoms: Record<string, unknown> = {}) {
    super("skipped", xcoms);
  }
}

/** Which XComs a trigger reads: as {@link XComPullOptions}, but `key` must be given. */
export interface TriggerXComPullOptions extends XComPullOptions {
  key: string;
}

/** The task instance a trigger fires for, as the triggerer exposes it to the trigger. */
export interface TriggerTaskInstance {
  readonly dagId: string;
  readonly taskId: string;
  readonly runId: string;
  readonly mapIndex: number;
  readonly tryNumber: number;
  /** The task instance's state as stored now (read it in `cleanup()`: DEFERRED means a hand-over). */
  currentState(): Promise<TaskInstanceState>;
  /**
   * Reads XComs from the store, as `TaskInstance.xcomPull` does, with this
   * task instance's XComs read at the trigger's own try. Works in any
   * process (after `resume` too), so `cleanup()` can find what the deferring
   * task left, e.g. the external job to cancel.
   */
  xcomPull(options: TriggerXComPullOptions): Promise<unknown>;
  /**
   * Writes an XCom of this task instance at the trigger's own try, as
   * `TaskInstance.xcomPush` does: what a trigger learned that the task and
   * its links need before it resumes (the job a submit trigger created).
   * Optional: a task instance given by other code may not have it.
   */
  xcomPush?(key: string, value: unknown): Promise<void>;
}

/**
 * An asynchronous wait that a deferred task hands to the triggerer (Airflow's
 * `BaseTrigger`). The triggerer runs every trigger's `run()` concurrently in
 * one event loop; the first event resumes the task and ends the trigger.
 *
 * Before `run()` the triggerer sets {@link taskInstance} and {@link clock}
 * (the runner's clock: use it for time). It removes a trigger with
 * {@link cancel}, which aborts {@link signal}. After the trigger ends, for
 * any reason, it calls `cleanup()`.
 */
export abstract class BaseTrigger {
  /** Set by the triggerer before `run()`. */
  taskInstance: TriggerTaskInstance | undefined;
  /** The runner's clock. */
  clock: Clock = systemClock;
  /**
   * Where the trigger logs: set by the triggerer to its task's try log (as
   * Airflow's triggerer writes trigger logs into the task's log).
   */
  log: TaskLogger = stderrLogger;
  /**
   * Made on the first read of {@link signal}, not per trigger: a waiting
   * trigger is kept per deferred task, 100,000 of them in one runner, and a
   * controller (its signal, listener maps and their tables) was about a
   * kilobyte of each, for triggers that never read it.
   */
  private removal: AbortController | undefined;
  /** A signal the caller gave (see the setter): its abort cancels the trigger. */
  private given: AbortSignal | undefined;
  private cancelled = false;
  private cancelReason: unknown;

  /** Aborted when the trigger is removed (see {@link cancel}); pass it to every wait. */
  get signal(): AbortSignal {
    if (this.given && !this.cancelled) return this.given;
    if (!this.removal) {
      this.removal = new AbortController();
      if (this.cancelled) this.removal.abort(this.cancelReason);
    }
    return this.removal.signal;
  }

  /** Stops the trigger when `signal` aborts (a caller running `run()` itself, as a test does). */
  set signal(signal: AbortSignal) {
    this.given = signal;
    if (signal.aborted) this.cancel(signal.reason);
    else signal.addEventListener("abort", () => this.cancel(signal.reason), { once: true });
  }

  /** True once the trigger was removed. */
  get isCancelled(): boolean {
    return this.cancelled;
  }

  /**
   * Removes the trigger (the triggerer calls it; idempotent): aborts
   * {@link signal} with `reason` and calls {@link onCancel}, so a wait in
   * `run()` ends by throwing.
   */
  cancel(reason: unknown = new RuntimeError("killed", "trigger removed")): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.cancelReason = reason;
    this.removal?.abort(reason);
    this.onCancel(reason);
  }

  /** For a trigger that waits without {@link signal}: end the wait with `reason` (reject it). */
  protected onCancel(_reason: unknown): void {}

  /** Throws the reason the trigger was removed with, if it was. */
  protected throwIfCancelled(): void {
    if (this.cancelled) throw this.cancelReason;
  }

  /** `[classpath, kwargs]`: enough to re-create the trigger with the registry after a restart. */
  abstract serialize(): [string, Record<string, unknown>];

  /** Waits and yields events; the first one resumes the task. */
  abstract run(): AsyncIterable<TriggerEvent>;

  /**
   * The first event `run()` yields, or undefined when it ends without one;
   * `run()`'s iterator is closed after it (its `finally` blocks run), as
   * `for await ... return` would. The triggerer waits on this, and only the
   * first event counts: a trigger that can make its one event more cheaply
   * than through an iterator overrides it (one is kept per deferred task).
   */
  firstEvent(): Promise<TriggerEvent | undefined> {
    const events = this.run()[Symbol.asyncIterator]();
    return events.next().then(async (first) => {
      if (first.done) return undefined;
      await events.return?.();
      return first.value;
    });
  }

  /** Called once after the trigger is removed (fired, timed out, task killed or handed over). */
  async cleanup(): Promise<void> {}

  /** True for a trigger from any module copy. */
  static isTrigger(value: unknown): value is BaseTrigger {
    return hasBrand(value, TRIGGER);
  }
}

// The brand is on the prototype, not on each of (possibly 100,000) instances.
Object.defineProperty(BaseTrigger.prototype, TRIGGER, { value: true });

/** Builds a trigger from the kwargs its `serialize()` returned. */
export type TriggerFactory = (kwargs: Record<string, unknown>) => BaseTrigger;

const REGISTRY_KEY = Symbol.for("armada-airflow.trigger-registry");
const registry: Map<string, TriggerFactory> = ((globalThis as Record<symbol, unknown>)[REGISTRY_KEY] ??=
  new Map<string, TriggerFactory>()) as Map<string, TriggerFactory>;

/** Registers how to re-create triggers serialized under `classpath` (replaces an earlier registration). */
export function registerTrigger(classpath: string, fromKwargs: TriggerFactory): void {
  registry.set(classpath, fromKwargs);
}

/** Re-creates a serialized trigger; a clear error when its classpath is not registered. */
export function createTrigger(classpath: string, kwargs: Record<string, unknown>): BaseTrigger {
  const factory = registry.get(classpath);
  if (!factory) {
    throw new RuntimeError(
      "not_found",
      `no trigger registered for classpath "${classpath}"; call registerTrigger("${classpath}", fromKwargs) in a module the DAG file imports`,
    );
  }
  return factory(kwargs);
}

/**
 * Sleeps on `clock` until `targetMs` (epoch ms), honouring `signal`. Loops in
 * case the clock wakes early; waits past Node's timer limit are the clock's
 * concern (see systemClock).
 */
export async function sleepUntilTime(clock: Clock, targetMs: number, signal?: AbortSignal): Promise<void> {
  for (;;) {
    const remaining = targetMs - clock.nowMs();
    if (remaining <= 0) return;
    await clock.sleep(remaining, signal);
  }
}

/**
 * Fires once at `moment` (Airflow's `DateTimeTrigger`); the event payload is
 * the moment as an ISO string. With `endFromTrigger` (Airflow's
 * `end_from_trigger`) it ends the task as SUCCESS at the moment instead of
 * resuming it (a sensor that only waits for a time).
 */
export class DateTimeTrigger extends BaseTrigger {
  static readonly classpath = "airflow.triggers.temporal.DateTimeTrigger";
  readonly moment: Date;
  readonly endFromTrigger: boolean;
  constructor(moment: Date | string | number, options: { endFromTrigger?: boolean } = {}) {
    super();
    this.endFromTrigger = options.endFromTrigger === true;
    this.moment = new Date(moment);
    if (Number.isNaN(this.moment.getTime())) {
      throw new RuntimeError(
        "invalid_argument",
        `DateTimeTrigger moment must be a valid date, got ${String(moment)}`,
      );
    }
  }

  serialize(): [string, Record<string, unknown>] {
    return [
      DateTimeTrigger.classpath,
      { moment: this.moment.toISOString(), ...(this.endFromTrigger ? { end_from_trigger: true } : {}) },
    ];
  }

  async *run(): AsyncIterable<TriggerEvent> {
    await sleepUntilTime(this.clock, this.moment.getTime(), this.signal);
    yield this.endFromTrigger ? new TaskSuccessEvent() : new TriggerEvent(this.moment.toISOString());
  }
}

registerTrigger(
  DateTimeTrigger.classpath,
  (kwargs) =>
    new DateTimeTrigger(String(kwargs.moment), { endFromTrigger: kwargs.end_from_trigger === true }),
);
