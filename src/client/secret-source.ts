import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { ErrorCode } from "../common/error-code.js";
import { inspect } from "node:util";
import { maskSecret } from "../common/secrets-masker.js";

/**
 * A secret that is either held in memory (never serialized) or read from an
 * environment variable each time it is needed (serialized by name).
 * Printing it shows only where it comes from. Every value it holds or reads is
 * registered with the process-wide secrets masker, so it is masked wherever
 * it would be printed (task logs, XCom, errors).
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
      throw new ArmadaAirflowError(ErrorCode.InvalidArgument, `${what} must be a non-empty string`);
    }
    maskSecret(value);
    return new SecretSource(value, undefined);
  }

  /** A secret read from environment variable `name` when used. */
  static env(name: unknown, what: string): SecretSource {
    if (typeof name !== "string" || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new ArmadaAirflowError(
        ErrorCode.InvalidArgument,
        `${what}: environment variable name must look like MY_VAR, got ${JSON.stringify(name)}`,
      );
    }
    // Masked from now on, not only from the first call: a task may print its environment before any RPC.
    maskSecret(process.env[name]);
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
      throw new ArmadaAirflowError(
        ErrorCode.Config,
        `${what}: environment variable ${this.envVar} is not set (or empty); set it where the client runs.`,
      );
    }
    // The variable may have changed since construction (a rotated token).
    maskSecret(v);
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
