/**
 * `armada-airflow/runner`: the runtime's engine for tools and tests that run
 * DAGs in-process (the CLI is built on it): the Runner, DAG file loading,
 * trigger-rule evaluation, and the settings a Runner is given (RuntimeConfig).
 */
export { Runner, type RunnerOptions, type RunnerEvent, type CreateDagRunOptions } from "./runner.js";
export { RunnerResources, type RunnerResource } from "./runner-resources.js";
export { evaluateTriggerRule, type TriggerDecision } from "./trigger-rules.js";
export { loadDag, loadDagFile, findDagFiles, type ModuleImporter } from "./dag-loader.js";
export {
  resolveRuntimeConfig,
  currentRuntimeConfig,
  withRuntimeConfig,
  type RuntimeConfig,
  type CoreConfig,
  type SchedulerConfig,
  type TriggererConfig,
  type DatabaseConfig,
  type ArmadaOperatorConfig,
  type OperatorsConfig,
} from "./runtime-config.js";
