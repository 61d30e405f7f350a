/**
 * What the dev server remembers about a job and its runs. Exposed read-only to
 * tests through `DevServer.jobs()` so they can assert on what the server saw.
 */
import type { JobStateName as ApiJobStateName } from "../client/job-states.js";
import type { Job } from "../gen/armada/submit.js";
import type { GangInfo } from "./gangs.js";

/** The state names a dev server job can be in: the API's, less `UNKNOWN` (the server always knows). */
export type JobStateName = Exclude<ApiJobStateName, "UNKNOWN">;

/** Run state names, as the `JobRunState` enum spells them (without the `RUN_STATE_` prefix). */
export type RunStateName =
  "LEASED" | "PENDING" | "RUNNING" | "SUCCEEDED" | "FAILED" | "PREEMPTED" | "CANCELLED" | "LEASE_RETURNED";

/** States in which a job holds a lease on a node. */
export const ACTIVE_RUN_JOB_STATES: ReadonlySet<JobStateName> = new Set(["LEASED", "PENDING", "RUNNING"]);

/** One attempt to run a job on a node. */
export interface RunRecord {
  runId: string;
  jobId: string;
  cluster: string;
  node: string;
  state: RunStateName;
  leasedAt: Date;
  pendingAt?: Date;
  startedAt?: Date;
  finishedAt?: Date;
  /** Exit code per container, once the run has finished. */
  exitCodes?: Record<string, number>;
  /** Why the run ended, when it did not succeed. */
  reason?: string;
  /** The error categorizer's category of a failed run (also on its failed event). */
  failureCategory?: string;
  /** The matching rule's subcategory ("" when it has none). */
  failureSubcategory?: string;
  /** Port -> address a local user reaches it at, for the job's ingress and NodePort service ports. */
  ingressAddresses?: Record<number, string>;
}

/** A job the server accepted (rejected jobs included). */
export interface JobRecord {
  id: string;
  queue: string;
  jobSetId: string;
  namespace: string;
  priority: number;
  clientId: string;
  owner: string;
  state: JobStateName;
  externalJobUri: string;
  annotations: Record<string, string>;
  labels: Record<string, string>;
  submittedAt: Date;
  lastTransitionAt: Date;
  cancelledAt?: Date;
  cancelReason?: string;
  cancelUser?: string;
  /** Why the job failed, was preempted or rejected (what `GetJobErrors` answers). */
  error?: string;
  runs: RunRecord[];
  /** The job as the server stored it (pod specs, resources, ...). */
  spec: Job;
  /** Total requests of the pod, used by the scheduler (`gpus`: `nvidia.com/gpu`, absent for none). */
  resources: { cpuMillis: number; memoryBytes: number; gpus?: number };
  /** Why the scheduler cannot place the job now (shown on its Lookout page while it waits). */
  schedulingReason?: string;
  /** The gang the job belongs to, if any. */
  gang?: GangInfo;
  /** Nodes (`cluster/node`) a retry must not use (a retry rule's `avoidSameNode`). */
  avoidNodes?: string[];
}
