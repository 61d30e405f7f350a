import { inspect } from "node:util";
import {
  type ArmadaAuth,
  type AuthCallContext,
  type SerializedAuth,
  literalSecretNotRestorable,
  registerAuthType,
} from "./armada-auth.js";
import { SecretSource } from "./secret-source.js";

/**
 * A static bearer token sent as `authorization: Bearer <token>`. Prefer
 * {@link BearerTokenAuth.fromEnv}: a literal token is never serialized, so
 * channel args holding one cannot be restored in another process.
 */
export class BearerTokenAuth implements ArmadaAuth {
  readonly #token: SecretSource;

  /** @param token the token (kept in memory only), or a {@link SecretSource}. */
  constructor(token: string | SecretSource) {
    this.#token =
      token instanceof SecretSource ? token : SecretSource.literal(token, "BearerTokenAuth token");
  }

  /** A token read from environment variable `envVar` at each call (serialized by name). */
  static fromEnv(envVar: string): BearerTokenAuth {
    return new BearerTokenAuth(SecretSource.env(envVar, "BearerTokenAuth.fromEnv"));
  }

  async getRequestMetadata(_call: AuthCallContext): Promise<Record<string, string>> {
    return { authorization: `Bearer ${this.#token.reveal("BearerTokenAuth")}` };
  }

  serialize(): SerializedAuth {
    return { type: "bearer", ...this.#token.serializeAs("tokenEnv") };
  }

  equals(other: ArmadaAuth): boolean {
    return other instanceof BearerTokenAuth && this.#token.equals(other.#token);
  }

  toJSON(): SerializedAuth {
    return this.serialize();
  }

  [inspect.custom](): string {
    return `BearerTokenAuth(${this.#token.envVar ? `env ${this.#token.envVar}` : "[secret]"})`;
  }
}

registerAuthType("bearer", (d) => {
  if (typeof d.tokenEnv === "string") return BearerTokenAuth.fromEnv(d.tokenEnv);
  throw literalSecretNotRestorable("BearerTokenAuth", "token");
});
