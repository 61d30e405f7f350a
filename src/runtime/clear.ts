/**
 * `tasks clear`: task instances of a run go back to no state so that they
 * run again in a new try, with their retries counted afresh (Airflow's rule:
 * `maxTries = tryNumber + retries`). A finished run is queued again. Every
 * change is a compare-and-set through the store, so a runner driving the run
 * sees it (a running try is killed, a deferred task's trigger removed with
 * its cleanup) and nothing a runner wrote meanwhile is overwritten.
 */
import type { DAG } from "./dag.js";
import { RuntimeError } from "./errors.js";
import type { TaskInstanceState } from "./state.js";
import type { DagRunRow, Store, TaskInstanceRow } from "./store/store.js";

/** Which task instances {@link clearTaskInstances} clears. */
export interface ClearSelection {
  /** Tasks whose id this regular expression finds (default: every task). */
  taskRegex?: string;
  /** Also every task downstream of those, transitively. */
  downstream?: boolean;
  /** Also every task upstream of those, transitively. */
  upstream?: boolean;
  /** Only instances that failed (FAILED, UPSTREAM_FAILED). */
  onlyFailed?: boolean;
}

const FAILED: TaskInstanceState[] = ["failed", "upstream_failed"];

/** The task ids a selection names in `dag`; errors name the option at fault. */
export function selectTasks(dag: DAG, selection: ClearSelection): Set<string> {
  let re: RegExp | undefined;
  if (selection.taskRegex !== undefined) {
    try {
      re = new RegExp(selection.taskRegex);
    } catch (err) {
      throw new RuntimeError(
        "invalid_argument",
        `--task ${JSON.stringify(selection.taskRegex)} is not a valid regular expression: ${(err as Error).message}`,
      );
    }
  }
  const roots = dag.taskIds.filter((id) => !re || re.test(id));
  if (roots.length === 0) {
    throw new RuntimeError(
      "not_found",
      `--task ${JSON.stringify(selection.taskRegex)} matches no task of DAG "${dag.dagId}"; its tasks: ${dag.taskIds.join(", ")}`,
    );
  }
  const out = new Set(roots);
  const walk = (direction: "upstreamTaskIds" | "downstreamTaskIds") => {
    const seen = new Set(roots);
    const todo = [...roots];
    while (todo.length) {
      for (const next of dag.getTask(todo.pop()!)[direction]) {
        if (seen.has(next)) continue;
        seen.add(next);
        out.add(next);
        todo.push(next);
      }
    }
  };
  if (selection.downstream) walk("downstreamTaskIds");
  if (selection.upstream) walk("upstreamTaskIds");
  return out;
}

/**
 * Clears the selected task instances of `run`; returns them as they were.
 * `dag` gives the dependencies and each task's `retries`.
 */
export async function clearTaskInstances(
  store: Store,
  dag: DAG,
  run: DagRunRow,
  selection: ClearSelection,
  nowMs = Date.now(),
): Promise<TaskInstanceRow[]> {
  const taskIds = selectTasks(dag, selection);
  const cleared: TaskInstanceRow[] = [];
  for (const ti of await store.listTaskInstances(run.dagId, run.runId)) {
    if (!taskIds.has(ti.taskId)) continue;
    let current: TaskInstanceRow | undefined = ti;
    // A runner may change the row between the read and the write: read again and decide again.
    for (let attempt = 0; current && attempt < 5; attempt++) {
      if (selection.onlyFailed && !FAILED.includes(current.state)) break;
      if (current.state === "none") break;
      const retries = dag.hasTask(current.taskId) ? dag.getTask(current.taskId).retries : 0;
      const ok = await store.updateTaskInstance(
        current,
        {
          state: "none",
          maxTries: current.tryNumber + retries,
          nextMethod: null,
          nextKwargs: null,
          nextRetryMs: null,
          endMs: null,
          runnerId: null,
          killRequested: false,
          updatedMs: nowMs,
        },
        { states: [current.state], tryNumber: current.tryNumber },
      );
      if (ok) {
        cleared.push(current);
        break;
      }
      current = await store.getTaskInstance(current);
    }
  }
  if (cleared.length > 0 && (run.state === "success" || run.state === "failed")) {
    // As Airflow: the run goes back to QUEUED, for the scheduler (or `resume`) to run again.
    await store.updateDagRun(run.dagId, run.runId, { state: "queued", endMs: null });
  }
  return cleared;
}
