/**
 * The failure category of a job's latest failed run. Armada's query API
 * (`GetJobErrors`, job and run details) carries no category; only the failed
 * event on the job set's event stream does. Reading a job set's whole stream
 * for each failed job would cost O(jobs) per job, so one reader per channel
 * remembers, per job set, how far it read and the latest failed event of each
 * job: every event is read once per process, however many tasks ask.
 */
import type { ArmadaClient } from "../client/armada-client.js";
import type { JobFailedEvent } from "../gen/armada/event.js";

/** What the latest failed event of a job said. */
export interface JobFailure {
  reason: string;
  failureCategory: string;
  failureSubcategory: string;
  /** True when Armada said it will run the job again (its retry engine). */
  retryable: boolean;
  clusterId: string;
}

interface JobSetPosition {
  lastMessageId: string;
  failures: Map<string, JobFailure>;
  reading: Promise<void> | undefined;
}

/** See the module comment. */
export class JobFailureReader {
  private readonly jobSets = new Map<string, JobSetPosition>();

  constructor(private readonly client: () => ArmadaClient) {}

  /** The latest failed event of `jobId` in the job set, reading only events not read before. */
  async latestFailure(queue: string, jobSetId: string, jobId: string): Promise<JobFailure | undefined> {
    const key = `${queue}\u0000${jobSetId}`;
    let pos = this.jobSets.get(key);
    if (!pos) {
      pos = { lastMessageId: "", failures: new Map(), reading: undefined };
      this.jobSets.set(key, pos);
    }
    // Callers at the same time share one read; a caller after it starts its own from where it ended.
    pos.reading ??= this.readMore(queue, jobSetId, pos).finally(() => {
      pos.reading = undefined;
    });
    await pos.reading;
    return pos.failures.get(jobId);
  }

  private async readMore(queue: string, id: string, pos: JobSetPosition): Promise<void> {
    const stream = this.client().getJobSetEvents({
      queue,
      id,
      fromMessageId: pos.lastMessageId,
      watch: false,
    });
    for await (const m of stream) {
      if (m.id) pos.lastMessageId = m.id;
      const ev = m.message?.events;
      if (ev?.$case !== "failed") continue;
      const f: JobFailedEvent = ev.value;
      pos.failures.set(f.jobId, {
        reason: f.reason,
        failureCategory: f.failureCategory,
        failureSubcategory: f.failureSubcategory,
        retryable: f.retryable,
        clusterId: f.clusterId,
      });
    }
  }
}
