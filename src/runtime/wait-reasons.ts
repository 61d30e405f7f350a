/**
 * Why a task instance that could run does not run yet: the limit it waits
 * for (the run's `maxActiveTasks`, its runner's `[core] parallelism`, or a
 * pool), worked out on demand from the store as Airflow's task instance
 * details list the dependencies that block a task. The runner itself records
 * nothing for this, so waiting costs it no writes.
 */
import type { DAG } from "./dag.js";
import { DEFAULT_POOL, describeRefusal } from "./pools.js";
import type { TaskInstanceState } from "./state.js";
import type { DagRunRow, Store, TaskInstanceRow } from "./store/store.js";
import { addToSummary, decideTriggerRule, emptyUpstreamSummary } from "./trigger-rules.js";
import { tiKeyOf } from "./run-mirror.js";

/** What {@link explainWaits} needs besides the run. */
export interface WaitContext {
  store: Store;
  dag: DAG;
  run: DagRunRow;
  /** The run's task instances (all of them). */
  taskInstances: TaskInstanceRow[];
  nowMs: number;
  /** `[core] parallelism` as this process reads it (0: no limit). */
  parallelism: number;
  /** `[core] max_active_tasks_per_dag`, for DAGs that do not set `maxActiveTasks`. */
  maxActiveTasksDefault: number;
}

/** Why each waiting task instance waits, by {@link tiKeyOf} key; instances that do not wait on a limit are absent. */
export async function explainWaits(c: WaitContext): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (c.run.state !== "running") return out;
  const byTask = new Map<string, Map<TaskInstanceState, number>>();
  let running = 0;
  for (const t of c.taskInstances) {
    const counts = byTask.get(t.taskId) ?? new Map<TaskInstanceState, number>();
    counts.set(t.state, (counts.get(t.state) ?? 0) + 1);
    byTask.set(t.taskId, counts);
    if (t.state === "running") running++;
  }
  const ready = new Map<string, boolean>();
  const isReady = (taskId: string): boolean => {
    let r = ready.get(taskId);
    if (r === undefined) {
      const summary = emptyUpstreamSummary();
      for (const up of c.dag.getTask(taskId).upstreamTaskIds) {
        const counts = byTask.get(up);
        if (!counts) {
          summary.total += 1;
          summary.missing += 1;
        } else for (const [state, n] of counts) addToSummary(summary, state, n);
      }
      r = decideTriggerRule(c.dag.getTask(taskId).triggerRule, summary) === "run";
      ready.set(taskId, r);
    }
    return r;
  };
  const waiting = c.taskInstances.filter(
    (t) =>
      c.dag.hasTask(t.taskId) &&
      (t.state === "scheduled" ||
        (t.state === "up_for_retry" && (t.nextRetryMs ?? 0) <= c.nowMs) ||
        (t.state === "none" && isReady(t.taskId))),
  );
  if (waiting.length === 0) return out;

  const maxActive = c.dag.maxActiveTasks ?? c.maxActiveTasksDefault;
  if (running >= maxActive) {
    const why = `waiting for a task slot of the DAG run (${running}/${maxActive} running, maxActiveTasks)`;
    for (const t of waiting) out.set(tiKeyOf(t), why);
    return out;
  }
  if (c.parallelism > 0 && c.run.runnerId) {
    const ofRunner = await c.store.countRunningOf(c.run.runnerId);
    if (ofRunner >= c.parallelism) {
      const why = `waiting for a slot of its runner ${c.run.runnerId} (${ofRunner}/${c.parallelism} running, [core] parallelism)`;
      for (const t of waiting) out.set(tiKeyOf(t), why);
      return out;
    }
  }
  const pools = new Map((await c.store.listPools()).map((p) => [p.name, p]));
  const usage = new Map((await c.store.poolUsage()).map((u) => [u.pool, u]));
  for (const t of waiting) {
    const task = c.dag.getTask(t.taskId);
    const name = task.pool ?? DEFAULT_POOL;
    const pool = pools.get(name);
    if (!pool) {
      out.set(tiKeyOf(t), describeRefusal(name, { kind: "unknown" }));
      continue;
    }
    const u = usage.get(name);
    const occupied = (u?.running ?? 0) + (pool.includeDeferred ? (u?.deferred ?? 0) : 0);
    if (occupied + task.poolSlots > pool.slots) {
      out.set(
        tiKeyOf(t),
        describeRefusal(name, { kind: "full", occupied, total: pool.slots, needed: task.poolSlots }),
      );
    }
  }
  return out;
}
