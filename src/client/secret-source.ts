import { inspect } from "node:util";

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
