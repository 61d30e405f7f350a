import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { ErrorCode } from "../common/error-code.js";
/** What the transport tells an auth plugin about the call it is authorizing. */
export interface AuthCallContext {
  /** `https://host/api.Submit` style URL of the service being called. */
  serviceUrl: string;
  /** RPC name, e.g. `SubmitJobs`. */
  methodName: string;
}

/**
 * JSON form of an auth plugin. Never contains a secret: a secret is stored as
 * a reference (an environment variable name, a registered retriever) or not
 * at all (`secretNotSerialized: true`), in which case it cannot be restored.
 */
export interface SerializedAuth {
  /** Auth kind, e.g. `bearer`, `basic`, `token-retriever`, `oidc-client-credentials`. */
  type: string;
  [key: string]: unknown;
}

/**
 * A gRPC call-credentials plugin: produces request metadata (headers) for each
 * call. Used as `GrpcChannelArgs.auth`; the channel is then TLS.
 */
export interface ArmadaAuth {
  /** Headers to add to one call, e.g. `{ authorization: "Bearer ..." }`. */
  getRequestMetadata(call: AuthCallContext): Promise<Record<string, string>>;
  /** JSON form without any secret (see {@link SerializedAuth}). */
  serialize(): SerializedAuth;
  /** Same configuration (including secrets, compared in memory only). Defaults to identity. */
  equals?(other: ArmadaAuth): boolean;
}

type AuthFactory = (data: SerializedAuth) => ArmadaAuth;
const authTypes = new Map<string, AuthFactory>();

/**
 * Makes `deserializeAuth` able to restore auth of `type` (the built-in types
 * register themselves). Use it for your own {@link ArmadaAuth} implementations.
 */
export function registerAuthType(type: string, factory: AuthFactory): void {
  authTypes.set(type, factory);
}

/** Restores an auth plugin from its {@link SerializedAuth} form; throws naming the type when unknown. */
export function deserializeAuth(data: unknown): ArmadaAuth {
  if (typeof data !== "object" || data === null || typeof (data as SerializedAuth).type !== "string") {
    throw new ArmadaAirflowError(
      ErrorCode.Serde,
      `Serialized auth must be an object with a string "type", got ${JSON.stringify(data)}`,
    );
  }
  const d = data as SerializedAuth;
  const factory = authTypes.get(d.type);
  if (!factory) {
    throw new ArmadaAirflowError(
      ErrorCode.Serde,
      `Unknown auth type "${d.type}" in serialized channel args; known: ${[...authTypes.keys()].sort().join(", ")}. ` +
        `Register custom auth with registerAuthType("${d.type}", factory) before deserializing.`,
    );
  }
  return factory(d);
}

/**
 * Error raised on deserialization of an auth whose secret was given as a
 * literal and therefore was never written out.
 */
export function literalSecretNotRestorable(
  kind: string,
  what: string,
  fix = `${kind}.fromEnv("ENV_VAR_NAME")`,
): Error {
  return new ArmadaAirflowError(
    ErrorCode.Serde,
    `Cannot restore ${kind} from serialized channel args: its ${what} was given as a literal value, and literal secrets are never serialized. ` +
      `Construct it with ${fix} (the variable is read where the client runs), or use a TokenRetriever registered with registerTokenRetriever().`,
  );
}
