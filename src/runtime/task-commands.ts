import { RuntimeError } from "./errors.js";
import type { TaskInstanceState } from "./state.js";
import type { Store, TiKey } from "./store/store.js";

const ACTIVE: TaskInstanceState[] = ["running", "deferred", "scheduled", "queued"];
/** States whose external work no trigger cleanup will release once marked failed. */
const OWES_ON_KILL: TaskInstanceState[] = ["running", "queued", "scheduled"];

/**
 * `tasks mark-failed`: sets the task instance FAILED (no retry, as Airflow's
 * "mark failed"). The runner that owns it notices within one heartbeat: a
 * running try gets `onKill()`, a deferred one has its trigger removed (its
 * `cleanup()` sees FAILED). A task instance with no trigger left (RUNNING,
 * QUEUED, or SCHEDULED: its trigger fired, it had not resumed) is also flagged
 * so that its operator's `onKill()` is called exactly once: by the runner
 * running the try, or else by the runner that drives the run next (a live
 * one, or `resume` after the runner died). Returns the previous state.
 */
export async function markTaskFailed(store: Store, key: TiKey, nowMs = Date.now()): Promise<TaskInstanceState> {
  const ti = await store.getTaskInstance(key);
  if (!ti) throw new RuntimeError("not_found", `no task instance ${key.dagId}/${key.runId}/${key.taskId} map index ${key.mapIndex}`);
  if (ti.state === "failed") return ti.state;
  if (ti.state === "success" || ti.state === "skipped") {
    throw new RuntimeError("invalid_argument", `task instance ${key.taskId} already finished as ${ti.state}; only unfinished tasks can be marked failed`);
  }
  const ok = await store.updateTaskInstance(
    key,
    // On a FAILED row the flag means "owes onKill"; a deferred task's trigger cleanup releases its work instead.
    { state: "failed", endMs: nowMs, nextRetryMs: null, updatedMs: nowMs, killRequested: OWES_ON_KILL.includes(ti.state) },
    { states: [ti.state] },
  );
  if (!ok) return markTaskFailed(store, key, nowMs);
  return ti.state;
}

/**
 * `tasks kill`: asks the owning runner to kill the current try (`onKill()` or
 * trigger removal); the try then fails like any failure, so it ends
 * UP_FOR_RETRY when retries remain, else FAILED.
 */
export async function requestTaskKill(store: Store, key: TiKey, nowMs = Date.now()): Promise<TaskInstanceState> {
  const ti = await store.getTaskInstance(key);
  if (!ti) throw new RuntimeError("not_found", `no task instance ${key.dagId}/${key.runId}/${key.taskId} map index ${key.mapIndex}`);
  if (!ACTIVE.includes(ti.state)) {
    throw new RuntimeError("invalid_argument", `task instance ${key.taskId} is ${ti.state}, not running or deferred; nothing to kill`);
  }
  await store.updateTaskInstance(key, { killRequested: true, updatedMs: nowMs }, { states: ACTIVE });
  return ti.state;
}
