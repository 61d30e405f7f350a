import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { ErrorCode } from "../common/error-code.js";
import { inspect } from "node:util";
import {
  type ArmadaAuth,
  type AuthCallContext,
  type SerializedAuth,
  literalSecretNotRestorable,
  registerAuthType,
} from "./armada-auth.js";
import { SecretSource } from "./secret-source.js";
import { maskSecret } from "../common/secrets-masker.js";

/**
 * HTTP Basic credentials sent as `authorization: Basic base64(user:password)`
 * (Armada's basic auth). The password is never serialized; use
 * {@link BasicAuth.fromEnv} for channel args that must be restored elsewhere.
 */
export class BasicAuth implements ArmadaAuth {
  /** The user name (not secret; serialized). */
  readonly username: string;
  readonly #password: SecretSource;

  /** @param password the password (kept in memory only), or a {@link SecretSource}. */
  constructor(username: string, password: string | SecretSource) {
    if (typeof username !== "string" || username.length === 0 || username.includes(":")) {
      throw new ArmadaAirflowError(
        ErrorCode.InvalidArgument,
        "BasicAuth username must be a non-empty string without ':'",
      );
    }
    this.username = username;
    this.#password =
      password instanceof SecretSource ? password : SecretSource.literal(password, "BasicAuth password");
    if (typeof password === "string")
      maskSecret(Buffer.from(`${username}:${password}`, "utf8").toString("base64"));
  }

  /** Password read from environment variable `passwordEnv` at each call. */
  static fromEnv(username: string, passwordEnv: string): BasicAuth {
    return new BasicAuth(username, SecretSource.env(passwordEnv, "BasicAuth.fromEnv"));
  }

  async getRequestMetadata(_call: AuthCallContext): Promise<Record<string, string>> {
    const pw = this.#password.reveal("BasicAuth password");
    const credential = Buffer.from(`${this.username}:${pw}`, "utf8").toString("base64");
    // The header form is as secret as the password: base64 hides nothing.
    maskSecret(credential);
    return { authorization: `Basic ${credential}` };
  }

  serialize(): SerializedAuth {
    return { type: "basic", username: this.username, ...this.#password.serializeAs("passwordEnv") };
  }

  equals(other: ArmadaAuth): boolean {
    return (
      other instanceof BasicAuth && other.username === this.username && this.#password.equals(other.#password)
    );
  }

  toJSON(): SerializedAuth {
    return this.serialize();
  }

  [inspect.custom](): string {
    return `BasicAuth(${this.username}, ${this.#password.envVar ? `env ${this.#password.envVar}` : "[secret]"})`;
  }
}

registerAuthType("basic", (d) => {
  if (typeof d.username !== "string")
    throw new ArmadaAirflowError(ErrorCode.Serde, 'Serialized BasicAuth needs a string "username"');
  if (typeof d.passwordEnv === "string") return BasicAuth.fromEnv(d.username, d.passwordEnv);
  throw literalSecretNotRestorable("BasicAuth", "password");
});
