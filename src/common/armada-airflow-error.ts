/**
 * The base of every error armada-airflow raises on purpose: the Armada
 * client's `ArmadaError`, the runtime's `RuntimeError`, the operator's
 * `ArmadaOperator*Error`s, the dev server's request errors, and this class
 * itself for the rest. A caller can catch the family as one and switch on
 * {@link ArmadaAirflowError.errorCode}.
 */
import { ErrorCode } from "./error-code.js";

// The class names of an instance's chain (its own class up to this base), kept
// under a process-wide symbol so that `instanceof` holds across two copies of
// the module (a DAG file importing dist/ while the runner runs from src/).
const FAMILY = Symbol.for("armada-airflow.ArmadaAirflowError");

function classChain(target: abstract new (...args: never[]) => unknown): string[] {
  const names: string[] = [];
  for (let c: unknown = target; typeof c === "function" && c !== Error; c = Object.getPrototypeOf(c)) {
    names.push((c as { name: string }).name);
    if (c === ArmadaAirflowError) break;
  }
  return names;
}

/** Options of {@link ArmadaAirflowError}. */
export interface ArmadaAirflowErrorOptions {
  /** The error this one explains (kept as the standard `cause`). */
  cause?: unknown;
}

/** An error with a code from {@link ErrorCode}, a message that names the fix, and an optional `cause`. */
export class ArmadaAirflowError extends Error {
  /**
   * The family's code. Subclasses keep their own, older `code` fields beside
   * it (`ArmadaError.code` is the gRPC status number, `RuntimeError.code` the
   * same string as this).
   */
  readonly errorCode: ErrorCode;

  constructor(errorCode: ErrorCode, message: string, options?: ArmadaAirflowErrorOptions) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = "ArmadaAirflowError";
    this.errorCode = errorCode;
    Object.defineProperty(this, FAMILY, { value: classChain(new.target) });
  }

  /**
   * `instanceof` for this class and every subclass that also holds for an
   * instance made by another copy of the module (matched by class name
   * within the family).
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    if (typeof value !== "object" || value === null) return false;
    const chain = (value as { [FAMILY]?: unknown })[FAMILY];
    return Array.isArray(chain) && chain.includes(this.name);
  }
}
