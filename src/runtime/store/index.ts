/**
 * `armada-airflow/store`: the task store under the runtime (SQLite or
 * PostgreSQL through Kysely), its rows, the transitions a task outcome makes
 * in it, pools, and the commands that act on stored task instances. For
 * tools and tests built on the runtime; a DAG file does not need it.
 */
export { openStore } from "./open-store.js";
export { KyselyStore, type StoreLocation } from "./kysely-store.js";
export type {
  Store,
  DagRunRow,
  TaskInstanceRow,
  TaskTryRow,
  XComRow,
  TriggerRow,
  LogRow,
  RunnerRow,
  TiKey,
  TaskInstancePatch,
  TaskTransition,
  TransitionKind,
  PoolRow,
  PoolUsage,
} from "./store.js";
export { DEFAULT_POOL, DEFAULT_POOL_SLOTS, PoolSlotsUnavailable, type PoolRefusal } from "../pools.js";
export {
  applyOutcome,
  transitionFor,
  decideFailure,
  type TaskOutcome,
  type FailureDecision,
} from "../outcome.js";
export { markTaskFailed, requestTaskKill } from "../task-commands.js";
