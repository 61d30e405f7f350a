import { crashPoint } from "../common/crash-point.js";
import { applyOutcome, applyTaskEnd, decideFailure, type TaskOutcome } from "./outcome.js";
import { errorText, type RunScope } from "./run-scope.js";
import type { TaskInstanceState } from "./state.js";
import type { TaskInstanceRow, TriggerRow } from "./store/store.js";
import type { TaskLogger } from "./task-logger.js";
import type { TaskEndEvent } from "./trigger.js";

/**
 * Records the outcomes of one run's tries, each through {@link applyOutcome}
 * (one atomic store transition): the task logs written so far are flushed
 * first, so that a reader who sees the new state also sees the lines that
 * led to it; then the outcome is said in the task's log and as an event. An
 * outcome that lost its compare-and-set (another process or an earlier
 * outcome won) says nothing.
 */
export class OutcomeRecorder {
  constructor(
    private readonly scope: RunScope,
    /** Called after a failure is recorded: the run looks at its task instances again. */
    private readonly wake: () => void,
  ) {}

  /** The try ended well: SUCCESS or SKIPPED. `row` is the running row. */
  async finished(row: TaskInstanceRow, log: TaskLogger, state: "success" | "skipped"): Promise<void> {
    await this.scope.flushLogs();
    const ok = await applyOutcome(this.scope.store, { kind: state, row, nowMs: this.scope.clock.nowMs() });
    if (!ok) return;
    log.info(`Marking task as ${state.toUpperCase()}`);
    this.scope.emitTi(row, row.tryNumber, state);
  }

  /** The try deferred: DEFERRED with its trigger stored in the same transition; false when that lost. */
  async deferred(
    row: TaskInstanceRow,
    log: TaskLogger,
    deferral: { trigger: TriggerRow; methodName: string; nextKwargs: string; nowMs: number },
  ): Promise<boolean> {
    await this.scope.flushLogs();
    const ok = await applyOutcome(this.scope.store, {
      kind: "defer",
      row,
      trigger: deferral.trigger,
      nextMethod: deferral.methodName,
      nextKwargs: deferral.nextKwargs,
      nowMs: deferral.nowMs,
    });
    if (!ok) return false;
    crashPoint("runner.deferred");
    log.info(
      `Pausing task as DEFERRED (trigger ${deferral.trigger.classpath}, resume in ${deferral.methodName})`,
    );
    this.scope.emitTi(row, row.tryNumber, "deferred");
    return true;
  }

  /** A trigger fired: SCHEDULED to resume, its trigger row deleted in the same transition (true then). */
  async fired(row: TaskInstanceRow, log: TaskLogger, triggerId: string, nextKwargs: string): Promise<boolean> {
    const ok = await applyOutcome(this.scope.store, {
      kind: "fire",
      row,
      triggerId,
      nextKwargs,
      nowMs: this.scope.clock.nowMs(),
    });
    if (!ok) return false;
    crashPoint("runner.fired");
    log.info(`Trigger fired: resuming task`);
    this.scope.emitTi(row, row.tryNumber, "scheduled");
    return true;
  }

  /**
   * The trigger ended the task ({@link TaskEndEvent}): its XComs, then
   * DEFERRED to the event's state with the trigger row deleted (true then).
   */
  async endedByTrigger(row: TaskInstanceRow, log: TaskLogger, triggerId: string, ev: TaskEndEvent): Promise<boolean> {
    await this.scope.flushLogs();
    if (!(await applyTaskEnd(this.scope.store, row, triggerId, ev, this.scope.clock.nowMs()))) return false;
    crashPoint("runner.ended-by-trigger");
    const state = ev.payload.state;
    log.info(`Trigger ended the task: marking task as ${state.toUpperCase()}`);
    this.scope.emitTi(row, row.tryNumber, state);
    return true;
  }

  /** Airflow's handle_failure: UP_FOR_RETRY while `tryNumber <= maxTries` and not fatal, else FAILED. */
  async failed(
    row: TaskInstanceRow,
    err: unknown,
    fatal: boolean,
    expectStates: TaskInstanceState[],
    log: TaskLogger,
  ): Promise<void> {
    const task = this.scope.taskOf(row.taskId);
    const decision = decideFailure(row, task, fatal);
    const outcome: TaskOutcome = {
      kind: "failure",
      row,
      task,
      error: errorText(err),
      fatal,
      expectStates,
      nowMs: this.scope.clock.nowMs(),
    };
    await this.scope.flushLogs();
    if (!(await applyOutcome(this.scope.store, outcome))) return;
    log.info(
      decision.state === "up_for_retry"
        ? `Marking task as UP_FOR_RETRY (try ${row.tryNumber} failed; next try in ${decision.delaySeconds}s)`
        : `Marking task as FAILED${fatal ? " (fatal error: no retry)" : ""}`,
    );
    this.scope.emitTi(row, row.tryNumber, decision.state);
    this.wake();
  }

  /**
   * Another process changed the task instance under a try running here
   * (mark-failed, clear); the try was killed: its try row records the state
   * set from outside.
   */
  async changedOutside(row: TaskInstanceRow, tryNumber: number, reason: string): Promise<void> {
    await this.scope.flushLogs();
    const current = await this.scope.store.getTaskInstance(row);
    if (!current) return;
    await applyOutcome(this.scope.store, {
      kind: "external",
      row,
      current,
      error: reason,
      nowMs: this.scope.clock.nowMs(),
    });
    this.scope.emitTi(row, tryNumber, current.tryNumber === tryNumber ? current.state : "failed");
  }

  /** The kill a FAILED task instance owed was delivered (its `onKill()` ran). */
  async killSettled(row: TaskInstanceRow): Promise<void> {
    await this.scope.flushLogs();
    await applyOutcome(this.scope.store, { kind: "settle", row, nowMs: this.scope.clock.nowMs() });
  }
}
