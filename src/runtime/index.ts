/**
 * The task runtime's public API: the contract an Airflow-style operator and a
 * DAG file code against. The engine (the Runner, DAG loading, the task store
 * and its transitions) is not here: see `armada-airflow/runner` and
 * `armada-airflow/store`.
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
  TaskEndEvent,
  TaskSuccessEvent,
  TaskSkippedEvent,
  type TaskEndState,
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
  armadaAirflowHome,
  type ConfigSource,
} from "./config.js";
export { TemplateEnv, type TemplateEnvOptions, renderTemplate, defaultTemplateEnv } from "./template.js";
export { templateFieldProperty } from "./naming.js";
export { macros } from "./macros.js";
export { maskSecret, redactSecrets } from "./secrets-masker.js";
export { type TaskLogger, type LogLevel } from "./task-logger.js";
