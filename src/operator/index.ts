/**
 * The Armada operator and its parts: the operator itself, the trigger it
 * defers to, the hook, the job context, reattach policies, links, log
 * streaming and errors.
 */
export {
  ArmadaOperator,
  type ArmadaOperatorOptions,
  type ArmadaOperatorResult,
  XCOM_KEYS,
  DEFAULT_ANNOTATION_KEY_PREFIX,
  type ArmadaRetries,
  ARMADA_FAIL_FAST_ANNOTATION,
} from "./armada-operator.js";
export {
  ArmadaPollJobTrigger,
  type ArmadaPollJobTriggerOptions,
  type ArmadaJobWatch,
  POLL_JOB_TRIGGER_CLASSPATH,
} from "./poll-job-trigger.js";
export {
  ArmadaSubmitJobTrigger,
  type ArmadaJobSubmission,
  type SubmitFailedEvent,
  SUBMIT_JOB_TRIGGER_CLASSPATH,
} from "./submit-job-trigger.js";
export type { JobWatchPlan } from "./job-watch-plan.js";
export {
  ArmadaHook,
  type ArmadaHookApi,
  type ArmadaHookOptions,
  type ExistingJob,
  type JobInfo,
  type SubmitJobRequest,
  closeArmadaHookClients,
} from "./hook.js";
export { ArmadaConnectionPool, type ArmadaChannel, type ArmadaChannelOptions } from "./connection-pool.js";
export { type StatusCheckOptions } from "./status-batcher.js";
export { type ArmadaTracking } from "./tracking.js";
export { type JobEventSubscription } from "./job-set-watch.js";
export { RunningJobContext, type RunningJobContextInit, type JobContextXCom } from "./running-job-context.js";
export {
  ArmadaOperatorJobFailedError,
  ArmadaOperatorJobFailedFatalError,
  ArmadaOperatorInputError,
  ArmadaOperatorSubmitError,
  ArmadaOperatorQueueNotFoundError,
  ArmadaOperatorCancelError,
  JOB_FAILED_ERROR_CLASSPATH,
  JOB_FAILED_FATAL_ERROR_CLASSPATH,
  type SerializedJobFailedError,
} from "./errors.js";
export {
  reattachPolicy,
  resolveReattachPolicy,
  neverReattach,
  alwaysReattach,
  runningOrSucceededReattach,
  externalJobUri,
  type ReattachPolicy,
  type ReattachPolicyName,
  type ReattachPolicyFunction,
} from "./reattach-policy.js";
export {
  lookoutUrl,
  linkXComKey,
  UrlFromLogsExtractor,
  LOOKOUT_URL_XCOM_KEY,
  JOB_ID_PLACEHOLDER,
  type ExtraLinks,
  type LinkSink,
} from "./links.js";
export {
  KubernetesPodLogManager,
  armadaPodName,
  type KubernetesPodLogManagerOptions,
  type FetchContainerLogsRequest,
  type K8sTokenSource,
} from "./pod-log-manager.js";
export { type JobRequest, type JobRequestFactory, type JobRequestJson } from "./job-request.js";
export { type LogSink } from "./task-log.js";
export {
  armadaEnvironment,
  type ArmadaEnvironment,
  type ArmadaEnvironmentOptions,
} from "./armada-environment.js";
