/**
 * The task runtime: the contract an Airflow-style operator codes against.
 */
export {
  BaseOperator,
  type BaseOperatorOptions,
  type OperatorLink,
  XComArg,
  applyDefaultArgs,
} from "./base-operator.js";
export { DAG, type DagOptions, chain } from "./dag.js";
export type { ScheduleSpec } from "./schedule.js";
export {
  type Context,
  type TaskInstance,
  type TaskInstanceKey,
  type DagRunInfo,
  type XComPullOptions,
  getCurrentContext,
} from "./context.js";
export {
  RuntimeError,
  type RuntimeErrorCode,
  TaskFatalError,
  isTaskFatalError,
  TaskSkipped,
  isTaskSkipped,
  TaskDeferred,
  isTaskDeferred,
  type DeferRequest,
  TaskTimeoutError,
  TaskKilledError,
  TemplateRenderError,
  DagDefinitionError,
} from "./errors.js";
export { TaskInstanceState, DagRunState, TriggerRule, FINISHED_STATES } from "./state.js";
export {
  BaseTrigger,
  TriggerEvent,
  type TriggerTaskInstance,
  type TriggerXComPullOptions,
  type TriggerFactory,
  registerTrigger,
  createTrigger,
  DateTimeTrigger,
  sleepUntilTime,
} from "./trigger.js";
export { registerSerializable, serializeValue, deserializeValue, type Serializer } from "./serde.js";
export {
  getConfig,
  getConfigBoolean,
  getConfigNumber,
  clearConfigCache,
  armadaAirflowHome,
  type ConfigSource,
} from "./config.js";
export { TemplateEnv, type TemplateEnvOptions, renderTemplate, defaultTemplateEnv } from "./template.js";
export { templateFieldProperty } from "./naming.js";
export { macros } from "./macros.js";
export { maskSecret, redactSecrets } from "./secrets-masker.js";
export { type TaskLogger, type LogLevel } from "./task-logger.js";
export { Runner, type RunnerOptions, type RunnerEvent, type CreateDagRunOptions } from "./runner.js";
export { evaluateTriggerRule, type TriggerDecision } from "./trigger-rules.js";
export { loadDag, loadDagFile, findDagFiles, type ModuleImporter } from "./dag-loader.js";
export { openStore } from "./store/open-store.js";
export { KyselyStore, type StoreLocation } from "./store/kysely-store.js";
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
} from "./store/store.js";
export { DEFAULT_POOL, DEFAULT_POOL_SLOTS, PoolSlotsUnavailable, type PoolRefusal } from "./pools.js";
export {
  applyOutcome,
  transitionFor,
  decideFailure,
  type TaskOutcome,
  type FailureDecision,
} from "./outcome.js";
export { markTaskFailed, requestTaskKill } from "./task-commands.js";
