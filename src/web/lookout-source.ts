/**
 * What the Lookout pages read: a narrow view of the dev server's state, so the
 * pages can be rendered (and tested) without a gRPC server.
 */
import type { EventStreamMessage } from "../gen/armada/event.js";
import type { JobRecord } from "../devserver/job-record.js";

/** One container's log lines. */
export interface ContainerLog {
  container: string;
  lines: { timeMs: number; text: string }[];
}

/** Read access for the pages. */
export interface LookoutSource {
  /** Every job, oldest first. */
  jobs(): readonly JobRecord[];
  /** A job by id. */
  job(id: string): JobRecord | undefined;
  /** The events of one job, in order. */
  jobEvents(job: JobRecord): EventStreamMessage[];
  /** The job's pod logs, or undefined when it has no pod (never ran, or deleted). */
  logs(job: JobRecord): ContainerLog[] | undefined;
}
