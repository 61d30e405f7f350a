/**
 * Fault injection for tests: make the next calls of a method fail, slow a
 * method down, cut event streams short, or push a job into a bad end.
 */
import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { ErrorCode } from "../common/error-code.js";
import { status } from "@grpc/grpc-js";

/** gRPC method names the dev server serves (short form, e.g. `SubmitJobs`). */
export const GRPC_METHODS = [
  "SubmitJobs",
  "CancelJobs",
  "CancelJobSet",
  "ReprioritizeJobs",
  "PreemptJobs",
  "Health",
  "CreateQueue",
  "CreateQueues",
  "UpdateQueue",
  "UpdateQueues",
  "DeleteQueue",
  "GetQueue",
  "GetQueues",
  "CordonQueue",
  "UncordonQueue",
  "PreemptOnQueue",
  "CancelOnQueue",
  "GetJobStatus",
  "GetJobStatusUsingExternalJobUri",
  "GetJobDetails",
  "GetJobErrors",
  "GetJobRunDetails",
  "GetActiveQueues",
  "GetJobSetEvents",
  "Watch",
  "CreateRetryPolicy",
  "UpdateRetryPolicy",
  "DeleteRetryPolicy",
  "GetRetryPolicy",
  "GetRetryPolicies",
] as const;

/** A gRPC method name, short form. */
export type GrpcMethodName = (typeof GRPC_METHODS)[number];

/** What a test can break on purpose. */
export interface FaultInjector {
  /**
   * The next `n` calls of `method` (short name like `SubmitJobs`, or the full
   * path `/api.Submit/SubmitJobs`) fail with gRPC status `code`.
   */
  failNext(method: string, n: number, code: status, message?: string): void;
  /** Every call of `method` waits `ms` of server clock time before it is handled (0 removes it). */
  latency(method: string, ms: number): void;
  /** The next `streams` event streams (default 1) end with UNAVAILABLE after sending `k` messages. */
  dropEventStreamAfter(k: number, streams?: number): void;
  /** Preempts a leased, pending or running job. Throws when the job is not in such a state. */
  preemptJob(jobId: string, reason?: string): void;
  /** Fails a job that has not finished, with `reason`. Throws when the job is unknown or finished. */
  failJob(jobId: string, reason: string): void;
  /**
   * Writes a wrong event to the job's job set stream (stored and sent to
   * watchers, not persisted): the job is said to have ended `kind` while
   * nothing about it changes. For testing that clients check before acting.
   */
  reportEvent(jobId: string, kind: "succeeded" | "failed" | "cancelled"): void;
  /** From now on the job's events are lost: never written to its job set's stream (the query API still follows it). */
  loseEvents(jobId: string): void;
  /** Changes how long the query API answers UNKNOWN after a submit. */
  setIngestionDelay(ms: number): void;
  /** Removes every pending call fault, latency and stream drop. */
  clear(): void;
}

/** Normalizes `SubmitJobs` or `/api.Submit/SubmitJobs` to the short name; throws for unknown methods. */
export function methodName(method: string): GrpcMethodName {
  const short = method.includes("/") ? method.slice(method.lastIndexOf("/") + 1) : method;
  if (!(GRPC_METHODS as readonly string[]).includes(short)) {
    throw new ArmadaAirflowError(
      ErrorCode.InvalidArgument,
      `unknown gRPC method "${method}"; use one of: ${GRPC_METHODS.join(", ")}`,
    );
  }
  return short as GrpcMethodName;
}

/** Call-level faults (the job-level ones are wired in by the server). */
export class CallFaults {
  private readonly failures = new Map<
    GrpcMethodName,
    { remaining: number; code: status; message: string }[]
  >();
  private readonly latencies = new Map<GrpcMethodName, number>();
  private drops: number[] = [];

  failNext(method: string, n: number, code: status, message?: string): void {
    if (!Number.isInteger(n) || n < 1)
      throw new ArmadaAirflowError(
        ErrorCode.InvalidArgument,
        `failNext: n must be a positive integer, got ${n}`,
      );
    const name = methodName(method);
    const list = this.failures.get(name) ?? [];
    list.push({
      remaining: n,
      code,
      message: message ?? `injected fault: ${status[code] ?? code} for ${name}`,
    });
    this.failures.set(name, list);
  }

  latency(method: string, ms: number): void {
    if (!(ms >= 0))
      throw new ArmadaAirflowError(ErrorCode.InvalidArgument, `latency: ms must be >= 0, got ${ms}`);
    const name = methodName(method);
    if (ms === 0) this.latencies.delete(name);
    else this.latencies.set(name, ms);
  }

  dropEventStreamAfter(k: number, streams = 1): void {
    if (!Number.isInteger(k) || k < 0)
      throw new ArmadaAirflowError(
        ErrorCode.InvalidArgument,
        `dropEventStreamAfter: k must be an integer >= 0, got ${k}`,
      );
    for (let i = 0; i < streams; i++) this.drops.push(k);
  }

  clear(): void {
    this.failures.clear();
    this.latencies.clear();
    this.drops = [];
  }

  /** The failure to answer this call with, consuming one, if any. */
  takeFailure(method: GrpcMethodName): { code: status; details: string } | undefined {
    const list = this.failures.get(method);
    const head = list?.[0];
    if (!head) return undefined;
    if (--head.remaining === 0) list!.shift();
    return { code: head.code, details: head.message };
  }

  /** The latency to add to a call of `method`. */
  latencyOf(method: GrpcMethodName): number {
    return this.latencies.get(method) ?? 0;
  }

  /** For a new event stream: after how many messages to drop it, if at all. */
  takeStreamDrop(): number | undefined {
    return this.drops.shift();
  }
}
