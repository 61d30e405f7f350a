/**
 * `armada-airflow/testing`: an in-process Armada-compatible dev server for
 * users' own tests (with fault injection and a ManualClock-friendly lifecycle).
 */
export {
  startDevServer,
  type DevServer,
  type DevServerOptions,
  type DevTlsOptions,
  type DevFaultOptions,
  type DevAuthOptions,
  type FaultInjector,
  type GrpcMethodName,
  GRPC_METHODS,
  type JobRecord,
  type RunRecord,
  type JobStateName,
  type RunStateName,
  type ClusterConfig,
  type NodeConfig,
  type LifecycleTiming,
  DEFAULT_TIMING,
  DEFAULT_CLUSTERS,
  DURATION_ANNOTATION,
  EXIT_CODE_ANNOTATION,
} from "../devserver/index.js";
export { type Clock, ManualClock, systemClock } from "../common/clock.js";
export { clearConfigCache } from "../runtime/config.js";
export { resolveRuntimeConfig, withRuntimeConfig, type RuntimeConfig } from "../runtime/runtime-config.js";
