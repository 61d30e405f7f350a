/**
 * Per-job-set event streams: events in the order they happened, each with an
 * opaque id a client can resume from, and live subscribers for `watch`.
 */
import type { EventMessage, EventStreamMessage } from "../gen/armada/event.js";

/** A job set's events and watchers. */
interface JobSetStream {
  events: EventStreamMessage[];
  watchers: Set<(msg: EventStreamMessage) => void>;
}

/** Thrown when a resume id was not issued by this server for that job set. */
export class UnknownMessageIdError extends Error {}

/** All job sets' events, keyed by queue and job set id. */
export class EventLog {
  private readonly sets = new Map<string, JobSetStream>();
  /** Jobs whose events are lost (fault injection): never appended. */
  readonly lostJobs = new Set<string>();

  /** Appends an event and hands it to the job set's watchers; returns the stored message. */
  append(queue: string, jobSetId: string, message: EventMessage): EventStreamMessage {
    const set = this.set(queue, jobSetId);
    const msg: EventStreamMessage = { id: formatId(set.events.length + 1), message };
    set.events.push(msg);
    for (const w of set.watchers) w(msg);
    return msg;
  }

  /** Restores a stored event (on load) without notifying anyone. */
  restore(queue: string, jobSetId: string, msg: EventStreamMessage): void {
    this.set(queue, jobSetId).events.push(msg);
  }

  /** Whether the job set has any event. */
  has(queue: string, jobSetId: string): boolean {
    return (this.sets.get(key(queue, jobSetId))?.events.length ?? 0) > 0;
  }

  /**
   * Events of a job set after `fromMessageId` ("" = from the start). Throws
   * {@link UnknownMessageIdError} for an id this job set never had.
   */
  after(queue: string, jobSetId: string, fromMessageId: string): EventStreamMessage[] {
    const events = this.sets.get(key(queue, jobSetId))?.events ?? [];
    if (!fromMessageId) return events.slice();
    const seq = parseId(fromMessageId);
    if (seq === undefined || seq > events.length) {
      throw new UnknownMessageIdError(
        `from_message_id "${fromMessageId}" is not an event id of job set "${jobSetId}" in queue "${queue}"`,
      );
    }
    return events.slice(seq);
  }

  /** Calls `fn` for each new event of the job set until the returned function is called. */
  watch(queue: string, jobSetId: string, fn: (msg: EventStreamMessage) => void): () => void {
    const set = this.set(queue, jobSetId);
    set.watchers.add(fn);
    return () => set.watchers.delete(fn);
  }

  private set(queue: string, jobSetId: string): JobSetStream {
    const k = key(queue, jobSetId);
    let set = this.sets.get(k);
    if (!set) {
      set = { events: [], watchers: new Set() };
      this.sets.set(k, set);
    }
    return set;
  }
}

function key(queue: string, jobSetId: string): string {
  return `${queue}\u0000${jobSetId}`;
}

// Ids look like Redis stream ids ("<seq>-0"); clients must treat them as opaque.
function formatId(seq: number): string {
  return `${seq}-0`;
}

function parseId(id: string): number | undefined {
  const m = /^(\d+)-0$/.exec(id);
  return m ? Number(m[1]) : undefined;
}
