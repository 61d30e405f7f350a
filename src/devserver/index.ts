/** The Armada dev server: an Armada-compatible server for local runs and tests. */
export { startDevServer, type DevServer } from "./dev-server.js";
export {
  type DevServerOptions,
  type DevTlsOptions,
  type DevFaultOptions,
  DEFAULT_CLUSTERS,
} from "./options.js";
export type { DevAuthOptions } from "./auth.js";
export type { FaultInjector, GrpcMethodName } from "./faults.js";
export { GRPC_METHODS } from "./faults.js";
export type { JobRecord, RunRecord, JobStateName, RunStateName } from "./job-record.js";
export type { ClusterConfig, NodeConfig } from "./scheduler.js";
export type { LifecycleTiming } from "./dev-armada.js";
export { DEFAULT_TIMING } from "./dev-armada.js";
export { DURATION_ANNOTATION, EXIT_CODE_ANNOTATION } from "./simulate-executor.js";
export type { FailureCategory, FailureCategoryRule, ExitCodeMatcher } from "./failure-categories.js";
export {
  DEFAULT_FAILURE_CATEGORIES,
  DEFAULT_FAILURE_CATEGORY,
  INTERNAL_FAILURE_CATEGORY,
} from "./failure-categories.js";
export { DEFAULT_NAMESPACES } from "./cluster-objects.js";
export { DEFAULT_PRIORITY_CLASSES } from "./submit-refusals.js";
