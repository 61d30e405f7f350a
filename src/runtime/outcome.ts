/**
 * Task outcomes as atomic store transitions. Every change of a task
 * instance's state that the runner makes is one of these, built here as a
 * pure value and written by {@link applyOutcome} in one transaction (the task
 * instance's compare-and-set, its try row and its trigger together).
 */
import type { BaseOperator } from "./base-operator.js";
import { retryDelaySeconds } from "./retry-delay.js";
import { pushXCom } from "./runtime-task-instance.js";
import type { TaskInstanceState } from "./state.js";
import type { Store, TaskInstanceRow, TaskTransition, TaskTryRow, TriggerRow } from "./store/store.js";
import type { TaskEndEvent, TaskEndState } from "./trigger.js";

/** How long the error text of a failed try may be in its try row. */
const TRY_ERROR_MAX_CHARS = 8000;

/** What happened to a task instance; each becomes one {@link TaskTransition}. */
export type TaskOutcome =
  /**
   * A new try starts (from NONE, UP_FOR_RETRY): try number + 1. With `pool`,
   * only when the pool has the slots (see {@link TaskTransition.pool}).
   */
  | { kind: "start"; row: TaskInstanceRow; runnerId: string; nowMs: number; pool?: PoolClaim }
  /** A deferred try resumes after its trigger fired (SCHEDULED), same try. */
  | { kind: "resume"; row: TaskInstanceRow; runnerId: string; nowMs: number; pool?: PoolClaim }
  /** A try whose runner died is taken over by this runner and run again as the same try. */
  | { kind: "reclaim"; row: TaskInstanceRow; runnerId: string; nowMs: number }
  /** The try ended well. `row` is the running row (its try number). */
  | { kind: "success" | "skipped"; row: TaskInstanceRow; nowMs: number }
  /** The try deferred: its trigger is stored with the state. */
  | {
      kind: "defer";
      row: TaskInstanceRow;
      trigger: TriggerRow;
      nextMethod: string;
      nextKwargs: string;
      nowMs: number;
    }
  /** The trigger fired: the task is SCHEDULED to resume, the trigger row goes. */
  | { kind: "fire"; row: TaskInstanceRow; triggerId: string; nextKwargs: string; nowMs: number }
  /** The trigger ended the task ({@link TaskEndEvent}): DEFERRED to `state`, the trigger row goes. */
  | { kind: "end"; row: TaskInstanceRow; state: TaskEndState; triggerId: string; nowMs: number }
  /**
   * The try failed (Airflow's handle_failure): UP_FOR_RETRY while retries
   * remain and the error is not fatal, else FAILED.
   */
  | {
      kind: "failure";
      row: TaskInstanceRow;
      task: BaseOperator | undefined;
      error: string;
      fatal: boolean;
      expectStates: TaskInstanceState[];
      nowMs: number;
    }
  /** Another process changed the task instance under a running try (mark-failed, clear): record the try's end. */
  | { kind: "external"; row: TaskInstanceRow; current: TaskInstanceRow; error: string; nowMs: number }
  /** A kill owed by a FAILED task instance was delivered (onKill ran): clear the flag. */
  | { kind: "settle"; row: TaskInstanceRow; nowMs: number };

/** The slots a starting try takes: `slots` of pool `name`. */
export interface PoolClaim {
  name: string;
  slots: number;
}

/** The result of {@link failureTransition}'s decision, for the log line. */
export interface FailureDecision {
  state: "up_for_retry" | "failed";
  /** Seconds until the next try (UP_FOR_RETRY). */
  delaySeconds: number;
}

/** Airflow's retry rule: a next try while `tryNumber <= maxTries` and the error is not fatal. */
export function decideFailure(
  row: TaskInstanceRow,
  task: BaseOperator | undefined,
  fatal: boolean,
): FailureDecision {
  const eligible = !fatal && row.maxTries > 0 && row.tryNumber <= row.maxTries;
  const delaySeconds = task
    ? retryDelaySeconds({
        retryDelay: task.retryDelay,
        retryExponentialBackoff: task.retryExponentialBackoff,
        maxRetryDelay: task.maxRetryDelay,
        tryNumber: row.tryNumber,
        key: `${row.dagId}#${row.taskId}#${row.runId}#${row.mapIndex}`,
      })
    : 0;
  return { state: eligible ? "up_for_retry" : "failed", delaySeconds };
}

const keyOf = (row: TaskInstanceRow) => ({
  dagId: row.dagId,
  runId: row.runId,
  taskId: row.taskId,
  mapIndex: row.mapIndex,
});

/**
 * A try row, its fields written out: V8 (Node 20) adds each property after a
 * spread slowly (about 1 µs each), and every transition makes one.
 */
const tryRowOf = (
  key: ReturnType<typeof keyOf>,
  tryNumber: number,
  state: TaskTryRow["state"],
  startMs: number,
  endMs: number | null,
  error: string | null,
): TaskTryRow => ({
  dagId: key.dagId,
  runId: key.runId,
  taskId: key.taskId,
  mapIndex: key.mapIndex,
  tryNumber,
  state,
  startMs,
  endMs,
  error,
});

/** The store transition of an outcome (pure). */
export function transitionFor(o: TaskOutcome): TaskTransition {
  const key = keyOf(o.row);
  const tryStartMs = o.row.startMs ?? o.nowMs;
  switch (o.kind) {
    case "reclaim":
      return {
        kind: "reclaim",
        key,
        expected: { states: [o.row.state], tryNumber: o.row.tryNumber },
        patch: { state: "running", runnerId: o.runnerId, updatedMs: o.nowMs },
        tryRow: tryRowOf(key, o.row.tryNumber, "running", tryStartMs, null, null),
      };
    case "start":
    case "resume": {
      const tryNumber = o.kind === "start" ? o.row.tryNumber + 1 : o.row.tryNumber;
      const startMs = o.kind === "start" ? o.nowMs : (o.row.startMs ?? o.nowMs);
      // killRequested is left as stored: a kill requested after `row` was read
      // then reaches the running try (onKill) instead of being lost.
      return {
        kind: o.kind,
        key,
        expected: { states: [o.row.state], tryNumber: o.row.tryNumber },
        patch: {
          state: "running",
          tryNumber,
          startMs,
          endMs: null,
          runnerId: o.runnerId,
          nextRetryMs: null,
          updatedMs: o.nowMs,
          ...(o.pool ? { pool: o.pool.name, poolSlots: o.pool.slots } : {}),
        },
        tryRow: tryRowOf(key, tryNumber, "running", startMs, null, null),
        ...(o.pool ? { pool: o.pool } : {}),
      };
    }
    case "success":
    case "skipped":
      return {
        kind: o.kind,
        key,
        expected: { states: ["running"], tryNumber: o.row.tryNumber },
        patch: {
          state: o.kind,
          endMs: o.nowMs,
          nextMethod: null,
          nextKwargs: null,
          runnerId: null,
          updatedMs: o.nowMs,
        },
        tryRow: tryRowOf(key, o.row.tryNumber, o.kind, tryStartMs, o.nowMs, null),
      };
    case "defer":
      return {
        kind: "defer",
        key,
        expected: { states: ["running"], tryNumber: o.row.tryNumber },
        patch: { state: "deferred", nextMethod: o.nextMethod, nextKwargs: o.nextKwargs, updatedMs: o.nowMs },
        tryRow: tryRowOf(key, o.row.tryNumber, "deferred", tryStartMs, null, null),
        trigger: { insert: o.trigger },
      };
    case "fire":
      return {
        kind: "fire",
        key,
        expected: { states: ["deferred"], tryNumber: o.row.tryNumber },
        patch: { state: "scheduled", nextKwargs: o.nextKwargs, updatedMs: o.nowMs },
        trigger: { deleteId: o.triggerId },
      };
    case "end":
      return {
        kind: "end",
        key,
        expected: { states: ["deferred"], tryNumber: o.row.tryNumber },
        patch: {
          state: o.state,
          endMs: o.nowMs,
          nextMethod: null,
          nextKwargs: null,
          runnerId: null,
          updatedMs: o.nowMs,
        },
        tryRow: tryRowOf(key, o.row.tryNumber, o.state, tryStartMs, o.nowMs, null),
        trigger: { deleteId: o.triggerId },
      };
    case "failure": {
      const d = decideFailure(o.row, o.task, o.fatal);
      return {
        kind: d.state === "up_for_retry" ? "retry" : "fail",
        key,
        expected: { states: o.expectStates, tryNumber: o.row.tryNumber },
        patch: {
          state: d.state,
          endMs: o.nowMs,
          nextMethod: null,
          nextKwargs: null,
          nextRetryMs: d.state === "up_for_retry" ? o.nowMs + d.delaySeconds * 1000 : null,
          runnerId: null,
          killRequested: false,
          updatedMs: o.nowMs,
        },
        tryRow: tryRowOf(
          key,
          o.row.tryNumber,
          d.state,
          tryStartMs,
          o.nowMs,
          o.error.slice(0, TRY_ERROR_MAX_CHARS),
        ),
      };
    }
    case "external":
      // onKill ran: the flag markTaskFailed set is settled. The try row takes the state set from outside.
      return {
        kind: "external",
        key,
        expected: { states: [o.current.state], tryNumber: o.current.tryNumber },
        patch: { killRequested: false, updatedMs: o.nowMs },
        tryRow: tryRowOf(
          key,
          o.row.tryNumber,
          o.current.tryNumber === o.row.tryNumber ? o.current.state : "failed",
          tryStartMs,
          o.nowMs,
          o.error,
        ),
      };
    case "settle":
      return {
        kind: "settle",
        key,
        expected: { states: ["failed"], tryNumber: o.row.tryNumber },
        patch: { killRequested: false, updatedMs: o.nowMs },
      };
  }
}

/**
 * Writes an outcome atomically; false when the task instance was no longer in
 * the expected state (another process or an earlier outcome won).
 */
export async function applyOutcome(store: Store, outcome: TaskOutcome): Promise<boolean> {
  return store.transition(transitionFor(outcome));
}

/**
 * Ends a deferred try as its trigger's {@link TaskEndEvent} says: the
 * event's XComs at the try first, then the transition (DEFERRED to its
 * state, the trigger row deleted). In that order because a crash between
 * the two leaves the task DEFERRED with its trigger, which fires again after
 * a restart and writes the same XComs again, where the other order could
 * leave a SUCCESS without its return value. False when the task was no
 * longer deferred at that try (a mark-failed won): XComs written by then
 * stay, as a try's own pushes do.
 */
export async function applyTaskEnd(
  store: Store,
  row: TaskInstanceRow,
  triggerId: string,
  ev: TaskEndEvent,
  nowMs: number,
): Promise<boolean> {
  await Promise.all(
    Object.entries(ev.xcoms).map(([key, value]) =>
      pushXCom(store, row, row.tryNumber, key, value, nowMs, "trigger event xcoms"),
    ),
  );
  return applyOutcome(store, { kind: "end", row, state: ev.payload.state, triggerId, nowMs });
}
