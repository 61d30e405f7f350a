/**
 * armada-airflow/client: the Armada gRPC client — channel arguments, auth,
 * TLS, the ArmadaClient itself, its one error type (a member of the
 * ArmadaAirflowError family) and the job states of the API.
 */
export {
  ArmadaClient,
  type ArmadaClientOptions,
  type CallOptions,
  type JobSubmitRequestInput,
  type RetryInfo,
} from "./armada-client.js";
export {
  GrpcChannelArgs,
  GRPC_CHANNEL_ARGS_VERSION,
  type GrpcChannelArgsInit,
  type SerializedGrpcChannelArgs,
  type ChannelCompression,
  type ChannelOption,
} from "./channel-args.js";
export {
  ArmadaError,
  type ArmadaErrorContext,
  type ArmadaErrorInit,
  isAmbiguousSubmitFailure,
  grpcCodeName,
} from "./armada-error.js";
export { ArmadaAirflowError, type ArmadaAirflowErrorOptions } from "../common/armada-airflow-error.js";
export { ErrorCode } from "../common/error-code.js";
export {
  JobState,
  type JobStateName,
  isTerminalJobState,
  isActiveJobState,
  jobStateName,
  jobStateDisplayName,
  parseJobState,
  TERMINAL_JOB_STATES,
  ALL_JOB_STATES,
} from "./job-states.js";
export {
  type ArmadaAuth,
  type AuthCallContext,
  type SerializedAuth,
  registerAuthType,
  deserializeAuth,
} from "./armada-auth.js";
export { SecretSource } from "./secret-source.js";
export { BearerTokenAuth } from "./bearer-token-auth.js";
export { BasicAuth } from "./basic-auth.js";
export { TokenRetrieverAuth } from "./token-retriever-auth.js";
export {
  OidcClientCredentialsAuth,
  type OidcClientCredentialsOptions,
} from "./oidc-client-credentials-auth.js";
export {
  type TokenRetriever,
  type TokenRetrieverFactory,
  registerTokenRetriever,
  createTokenRetriever,
} from "./token-retriever.js";
export { type TlsConfig } from "./tls-config.js";
export { type RetryPolicy, defaultRetryPolicy } from "./retry-policy.js";
export { validateGrpcTarget } from "./grpc-target.js";
export { type JobRequestItemInput } from "./job-request-item-input.js";
export {
  type KubernetesObject,
  jobRequestItemFromKubernetes,
  jobRequestItemToKubernetes,
  podSpecFromKubernetes,
  podSpecToKubernetes,
  jobFromKubernetes,
  jobToKubernetes,
  parseKubernetesDocument,
} from "./kubernetes-job-request-item.js";
