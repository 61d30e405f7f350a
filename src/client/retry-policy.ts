import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { ErrorCode } from "../common/error-code.js";
import { status as GrpcStatus } from "@grpc/grpc-js";

/**
 * How read calls retry transient failures: exponential backoff on the
 * client's clock. Writes (SubmitJobs, cancel, queue changes) never retry.
 */
export interface RetryPolicy {
  /** Attempts in total, the first included. @default 5 */
  maxAttempts: number;
  /** Wait before the second attempt. @default 200 */
  initialBackoffMs: number;
  /** Upper bound of one wait. @default 5_000 */
  maxBackoffMs: number;
  /** Growth of the wait per attempt. @default 2 */
  multiplier: number;
  /** Random spread of each wait, as a fraction (0 = none), so many clients do not retry in step. @default 0.2 */
  jitter: number;
  /** gRPC codes worth another attempt. @default [UNAVAILABLE, RESOURCE_EXHAUSTED] */
  retryableCodes: readonly number[];
}

/** The defaults of {@link RetryPolicy}. */
export const defaultRetryPolicy: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 5,
  initialBackoffMs: 200,
  maxBackoffMs: 5_000,
  multiplier: 2,
  jitter: 0.2,
  retryableCodes: Object.freeze([GrpcStatus.UNAVAILABLE, GrpcStatus.RESOURCE_EXHAUSTED]),
});

/** Fills in defaults and checks the values once, at construction. */
export function resolveRetryPolicy(p: Partial<RetryPolicy> | undefined): Readonly<RetryPolicy> {
  const r = { ...defaultRetryPolicy, ...(p ?? {}) };
  const check = (name: keyof RetryPolicy, ok: boolean, want: string) => {
    if (!ok)
      throw new ArmadaAirflowError(
        ErrorCode.InvalidArgument,
        `ArmadaClient retry.${name} must be ${want}, got ${JSON.stringify(r[name])}`,
      );
  };
  check("maxAttempts", Number.isInteger(r.maxAttempts) && r.maxAttempts >= 1, "an integer >= 1");
  check("initialBackoffMs", Number.isFinite(r.initialBackoffMs) && r.initialBackoffMs >= 0, "a number >= 0");
  check(
    "maxBackoffMs",
    Number.isFinite(r.maxBackoffMs) && r.maxBackoffMs >= r.initialBackoffMs,
    "a number >= initialBackoffMs",
  );
  check("multiplier", Number.isFinite(r.multiplier) && r.multiplier >= 1, "a number >= 1");
  check("jitter", Number.isFinite(r.jitter) && r.jitter >= 0 && r.jitter <= 1, "a number in [0, 1]");
  check("retryableCodes", Array.isArray(r.retryableCodes), "a list of gRPC status codes");
  return Object.freeze({ ...r, retryableCodes: Object.freeze([...r.retryableCodes]) });
}

/** The wait before attempt `failures + 1`, after `failures` consecutive failures. */
export function backoffMs(policy: RetryPolicy, failures: number, random: () => number = Math.random): number {
  const base = Math.min(
    policy.maxBackoffMs,
    policy.initialBackoffMs * policy.multiplier ** Math.max(0, failures - 1),
  );
  const spread = base * policy.jitter;
  return Math.max(0, Math.round(base - spread + random() * 2 * spread));
}
