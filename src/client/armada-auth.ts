import { inspect } from "node:util";

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
    throw new Error(`Serialized auth must be an object with a string "type", got ${JSON.stringify(data)}`);
  }
  const d = data as SerializedAuth;
  const factory = authTypes.get(d.type);
  if (!factory) {
    throw new Error(
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
  return new Error(
    `Cannot restore ${kind} from serialized channel args: its ${what} was given as a literal value, and literal secrets are never serialized. ` +
      `Construct it with ${fix} (the variable is read where the client runs), or use a TokenRetriever registered with registerTokenRetriever().`,
  );
}

/**
 * A secret that is either held in memory (never serialized) or read from an
 * environment variable each time it is needed (serialized by name).
 * Printing it shows only where it comes from.
 */
export class SecretSource {
  readonly #literal: string | undefined;
  /** Environment variable the secret is read from, when not a literal. */
  readonly envVar: string | undefined;

  private constructor(literal: string | undefined, envVar: string | undefined) {
    this.#literal = literal;
    this.envVar = envVar;
  }

  /** A secret given as a value. `what` names it in errors (e.g. "BearerTokenAuth token"). */
  static literal(value: unknown, what: string): SecretSource {
    if (typeof value !== "string" || value.length === 0) {
      throw new TypeError(`${what} must be a non-empty string`);
    }
    return new SecretSource(value, undefined);
  }

  /** A secret read from environment variable `name` when used. */
  static env(name: unknown, what: string): SecretSource {
    if (typeof name !== "string" || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new TypeError(
        `${what}: environment variable name must look like MY_VAR, got ${JSON.stringify(name)}`,
      );
    }
    return new SecretSource(undefined, name);
  }

  /** Whether the secret is a literal (so it cannot be serialized). */
  get isLiteral(): boolean {
    return this.#literal !== undefined;
  }

  /** The secret value; throws naming the variable when it is unset. */
  reveal(what: string): string {
    if (this.#literal !== undefined) return this.#literal;
    const v = process.env[this.envVar!];
    if (v === undefined || v === "") {
      throw new Error(
        `${what}: environment variable ${this.envVar} is not set (or empty); set it where the client runs.`,
      );
    }
    return v;
  }

  /** Same source; literals compare by value (in memory only). */
  equals(other: SecretSource): boolean {
    return this.envVar === other.envVar && this.#literal === other.#literal;
  }

  /** Serialized reference: `{ <key>Env: name }` or `{ secretNotSerialized: true }`. */
  serializeAs(envKey: string): Record<string, unknown> {
    return this.envVar !== undefined ? { [envKey]: this.envVar } : { secretNotSerialized: true };
  }

  toJSON(): unknown {
    return this.envVar !== undefined ? { env: this.envVar } : "[secret]";
  }

  [inspect.custom](): string {
    return this.envVar !== undefined ? `SecretSource(env ${this.envVar})` : "SecretSource([secret])";
  }
}
