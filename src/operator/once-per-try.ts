/**
 * Warnings said once per task try. A deferrable task runs as a fresh
 * operator copy at every poll, so state kept on the operator ("already
 * warned") is lost between polls; this process-wide record keeps it for the
 * whole try. Bounded: the oldest entries go first, so a runner with many
 * tasks does not grow it without end (a warning may then repeat, never get
 * lost).
 */
import type { TaskInstanceKey } from "../runtime/context.js";

const MAX_ENTRIES = 20_000;
const KEY = Symbol.for("armada-airflow.once-per-try");
// Shared by module copies (src/ and dist/), as the other registries are.
const said: Map<string, true> = ((globalThis as Record<symbol, unknown>)[KEY] ??= new Map<
  string,
  true
>()) as Map<string, true>;

/**
 * True the first time `topic` comes up for this try of the task instance
 * (then say it), false afterwards.
 */
export function firstTimeThisTry(ti: TaskInstanceKey & { tryNumber: number }, topic: string): boolean {
  const key = `${ti.dagId}\u0000${ti.runId}\u0000${ti.taskId}\u0000${ti.mapIndex}\u0000${ti.tryNumber}\u0000${topic}`;
  if (said.has(key)) return false;
  said.set(key, true);
  if (said.size > MAX_ENTRIES) said.delete(said.keys().next().value!);
  return true;
}
