/**
 * The seam between the dev server's lifecycle and what "running a pod" means:
 * a simulation (default) or real local processes.
 */
import type { Container } from "../gen/k8s.io/api/core/v1/generated.js";
import type { PodIdentity } from "./downward-api.js";
import type { JobRecord, RunRecord } from "./job-record.js";
import { podSpecsOf } from "./job-validation.js";

/** How a run ended. */
export interface RunResult {
  /** Exit code per container. */
  exitCodes: Record<string, number>;
  /** Why it failed, when a container exited non-zero. */
  reason?: string;
  /** Kubelet termination reason of containers that did not just exit (`OOMKilled`). */
  terminationReasons?: Record<string, string>;
}

/** What an executor gets to run one job's pod. */
export interface RunContext {
  job: JobRecord;
  run: RunRecord;
  /** The pod as Kubernetes would show it (name, uid, labels, node, IP) for the downward API. */
  pod: PodIdentity;
  /** Clock time the pod starts running. */
  startAtMs: number;
  /** Calls `fn` at clock time `atMs` (simulation steps). */
  at(atMs: number, fn: (atMs: number) => void): void;
  /** Current clock time. */
  nowMs(): number;
  /** Writes a line to a container's log at `timeMs`. */
  log(container: string, text: string, timeMs: number): void;
  /** Reports that the pod ended at `atMs`; calls after a kill are ignored by the caller. */
  finish(result: RunResult, atMs: number): void;
}

/** A pod being run; `kill` stops it without reporting a result (cancel, preempt). */
export interface RunningPod {
  kill(): void;
}

/** Runs pods. */
export interface Executor {
  /** `simulate` or `process`. */
  readonly kind: "simulate" | "process";
  start(ctx: RunContext): RunningPod;
  /** Stops everything still running (server shutdown). */
  shutdown(): Promise<void>;
}

/** The containers of a job's (only) pod. */
export function containersOf(job: JobRecord): Container[] {
  return podSpecsOf(job.spec)[0]?.containers ?? [];
}
