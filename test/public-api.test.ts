/**
 * The root export `armada-airflow` is the user-facing API and holds exactly
 * the names below. A new name must be added here on purpose; engine pieces
 * (the store, the Runner, the dev server) go to their own entries instead.
 */
import ts from "typescript";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import * as root from "armada-airflow";
import * as runner from "armada-airflow/runner";
import * as store from "armada-airflow/store";
import * as testing from "armada-airflow/testing";

/** Values (classes, functions, constants) of the root export. */
const ROOT_VALUES = [
  "ALL_JOB_STATES",
  "ARMADA_FAIL_FAST_ANNOTATION",
  "ArmadaAirflowError",
  "ArmadaClient",
  "ArmadaConnectionPool",
  "ArmadaError",
  "ArmadaHook",
  "ArmadaOperator",
  "ArmadaOperatorCancelError",
  "ArmadaOperatorInputError",
  "ArmadaOperatorJobFailedError",
  "ArmadaOperatorJobFailedFatalError",
  "ArmadaOperatorQueueNotFoundError",
  "ArmadaOperatorSubmitError",
  "ArmadaPollJobTrigger",
  "ArmadaSubmitJobTrigger",
  "BaseOperator",
  "BaseTrigger",
  "BasicAuth",
  "BearerTokenAuth",
  "DAG",
  "DEFAULT_ANNOTATION_KEY_PREFIX",
  "DagDefinitionError",
  "DagRunState",
  "DateTimeTrigger",
  "ErrorCode",
  "FINISHED_STATES",
  "GRPC_CHANNEL_ARGS_VERSION",
  "GrpcChannelArgs",
  "JOB_FAILED_ERROR_CLASSPATH",
  "JOB_FAILED_FATAL_ERROR_CLASSPATH",
  "JOB_ID_PLACEHOLDER",
  "JobState",
  "KubernetesPodLogManager",
  "LOOKOUT_URL_XCOM_KEY",
  "ManualClock",
  "OidcClientCredentialsAuth",
  "POLL_JOB_TRIGGER_CLASSPATH",
  "RunningJobContext",
  "SUBMIT_JOB_TRIGGER_CLASSPATH",
  "RuntimeError",
  "SecretSource",
  "TERMINAL_JOB_STATES",
  "TaskDeferred",
  "TaskEndEvent",
  "TaskFatalError",
  "TaskInstanceState",
  "TaskKilledError",
  "TaskSkipped",
  "TaskSkippedEvent",
  "TaskSuccessEvent",
  "TaskTimeoutError",
  "TemplateEnv",
  "TemplateRenderError",
  "TokenRetrieverAuth",
  "TriggerEvent",
  "TriggerRule",
  "UrlFromLogsExtractor",
  "XCOM_KEYS",
  "XComArg",
  "alwaysReattach",
  "applyDefaultArgs",
  "armadaAirflowHome",
  "armadaEnvironment",
  "armadaPodName",
  "chain",
  "closeArmadaHookClients",
  "createTokenRetriever",
  "createTrigger",
  "defaultRetryPolicy",
  "defaultTemplateEnv",
  "deserializeAuth",
  "deserializeValue",
  "externalJobUri",
  "getConfig",
  "getConfigBoolean",
  "getConfigNumber",
  "getCurrentContext",
  "grpcCodeName",
  "isActiveJobState",
  "isAmbiguousSubmitFailure",
  "isTaskDeferred",
  "isTaskFatalError",
  "isTaskSkipped",
  "isTerminalJobState",
  "jobFromKubernetes",
  "jobRequestItemFromKubernetes",
  "jobRequestItemToKubernetes",
  "jobStateDisplayName",
  "jobStateName",
  "jobToKubernetes",
  "linkXComKey",
  "lookoutUrl",
  "macros",
  "maskSecret",
  "neverReattach",
  "parseJobState",
  "parseKubernetesDocument",
  "podSpecFromKubernetes",
  "podSpecToKubernetes",
  "reattachPolicy",
  "redactSecrets",
  "registerAuthType",
  "registerSerializable",
  "registerTokenRetriever",
  "registerTrigger",
  "renderTemplate",
  "resolveReattachPolicy",
  "runningOrSucceededReattach",
  "serializeValue",
  "sleepUntilTime",
  "systemClock",
  "templateFieldProperty",
  "validateGrpcTarget",
];

/** Types and interfaces of the root export (only the compiler sees these). */
const ROOT_TYPES = [
  "ArmadaAirflowErrorOptions",
  "ArmadaAuth",
  "ArmadaChannel",
  "ArmadaChannelOptions",
  "ArmadaClientOptions",
  "ArmadaEnvironment",
  "ArmadaEnvironmentOptions",
  "ArmadaErrorContext",
  "ArmadaErrorInit",
  "ArmadaHookApi",
  "ArmadaHookOptions",
  "ArmadaJobSubmission",
  "ArmadaJobWatch",
  "ArmadaOperatorOptions",
  "ArmadaOperatorResult",
  "ArmadaPollJobTriggerOptions",
  "ArmadaRetries",
  "AuthCallContext",
  "BaseOperatorOptions",
  "CallOptions",
  "ChannelCompression",
  "ChannelOption",
  "Clock",
  "ConfigSource",
  "Context",
  "DagOptions",
  "DagRunInfo",
  "DeferRequest",
  "ExistingJob",
  "ExtraLinks",
  "FetchContainerLogsRequest",
  "GrpcChannelArgsInit",
  "JobContextXCom",
  "JobInfo",
  "JobRequest",
  "JobRequestFactory",
  "JobRequestItemInput",
  "JobRequestJson",
  "JobStateName",
  "JobSubmitRequestInput",
  "JobWatchPlan",
  "K8sTokenSource",
  "KubernetesObject",
  "KubernetesPodLogManagerOptions",
  "LinkSink",
  "LogLevel",
  "LogSink",
  "OidcClientCredentialsOptions",
  "OperatorLink",
  "ReattachPolicy",
  "ReattachPolicyFunction",
  "ReattachPolicyName",
  "RetryInfo",
  "RetryPolicy",
  "RunningJobContextInit",
  "RuntimeErrorCode",
  "ScheduleSpec",
  "SerializedAuth",
  "SerializedGrpcChannelArgs",
  "SerializedJobFailedError",
  "Serializer",
  "SubmitFailedEvent",
  "TaskEndState",
  "SubmitJobRequest",
  "TaskInstance",
  "TaskInstanceKey",
  "TaskLogger",
  "TemplateEnvOptions",
  "TlsConfig",
  "TokenRetriever",
  "TokenRetrieverFactory",
  "TriggerFactory",
  "TriggerTaskInstance",
  "TriggerXComPullOptions",
  "XComPullOptions",
];

/** The root export's type-only names, as the TypeScript compiler resolves them. */
function rootTypeNames(): string[] {
  const index = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../src/index.ts");
  const program = ts.createProgram([index], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    customConditions: ["source"],
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(index)!)!;
  return checker
    .getExportsOfModule(moduleSymbol)
    .filter((e) => {
      const target = e.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(e) : e;
      return (target.flags & ts.SymbolFlags.Value) === 0;
    })
    .map((e) => e.name)
    .sort();
}

describe("the public API", () => {
  it("exports exactly the documented values from the root", () => {
    expect(Object.keys(root).sort()).toEqual([...ROOT_VALUES].sort());
  });

  it("exports exactly the documented types from the root", () => {
    expect(rootTypeNames()).toEqual([...ROOT_TYPES].sort());
  });

  it("keeps engine pieces out of the root, on their own entries", () => {
    for (const name of [
      "KyselyStore",
      "openStore",
      "applyOutcome",
      "Runner",
      "loadDagFile",
      "startDevServer",
    ]) {
      expect(root, name).not.toHaveProperty(name);
    }
    expect(store.KyselyStore).toBeTypeOf("function");
    expect(store.applyOutcome).toBeTypeOf("function");
    expect(store.markTaskFailed).toBeTypeOf("function");
    expect(runner.Runner).toBeTypeOf("function");
    expect(runner.loadDagFile).toBeTypeOf("function");
    expect(testing.startDevServer).toBeTypeOf("function");
    expect(testing.clearConfigCache).toBeTypeOf("function");
  });
});
