import { readFileSync } from "node:fs";
import os from "node:os";
import { TaskKilledError } from "./errors.js";
import type { OutcomeRecorder } from "./outcome-recorder.js";
import type { RunScope } from "./run-scope.js";
import type { Store, TaskInstanceRow } from "./store/store.js";
import type { TryExecutor } from "./try-executor.js";

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

/**
 * True when the registered process `id` (a runner, scheduler or triggerer)
 * still runs: on this host its pid exists (a zombie left by kill -9 does not
 * count), elsewhere its heartbeat is younger than `staleAfterMs`.
 */
export async function isProcessAlive(store: Store, id: string, staleAfterMs: number): Promise<boolean> {
  const r = await store.getRunner(id);
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
  return Date.now() - r.heartbeatMs < staleAfterMs;
}

/** What recovery needs of the run's driver. */
export interface RecoveryHooks {
  /** Starts the same try again under this runner (a task whose work outlives its runner). */
  reclaim(ti: TaskInstanceRow): Promise<unknown>;
}

/**
 * Takes over the tries a dead runner left RUNNING (or QUEUED) in a run this
 * runner just claimed: a task whose work outlives the runner
 * ({@link BaseOperator.resumesAfterCrash}, e.g. an Armada job) runs the same
 * try again and follows that work; any other try is failed into its next
 * try, as Airflow fails a zombie (after `onKill()` when `tasks kill` asked
 * for it; without a kill request the work is left for the next try to
 * reattach to).
 */
export async function recoverRun(
  scope: RunScope,
  recorder: OutcomeRecorder,
  executor: TryExecutor,
  hooks: RecoveryHooks,
): Promise<void> {
  const { dagId, runId } = scope.run;
  for (const ti of await scope.store.listTaskInstancesInStates(dagId, runId, ["running", "queued"])) {
    const log = scope.loggerFor(ti.taskId, ti.mapIndex, ti.tryNumber);
    const stopped = `The runner executing try ${ti.tryNumber} stopped (crash or kill -9) before the try finished`;
    const task = scope.taskOf(ti.taskId);
    if (!ti.killRequested && scope.inScope(ti.taskId) && task?.resumesAfterCrash) {
      log.warn(`${stopped}; its work outlives the runner, so this runner follows it in the same try`);
      await hooks.reclaim(ti);
      continue;
    }
    log.error(stopped);
    if (ti.killRequested)
      await executor.killWithoutTry(ti, new TaskKilledError("kill requested (tasks kill)"), log);
    await recorder.failed(ti, new TaskKilledError(stopped), false, [ti.state], log);
  }
}
