/**
 * Shares `SubmitJobs` calls between tasks: the items submitted to the same
 * queue and job set on one channel while they keep coming go in one call (up
 * to {@link SubmitBatcherOptions.maxItems}), so 10,000 mapped tasks cost tens
 * of calls instead of 10,000. A batch is sent once no item has joined it for
 * {@link SubmitBatcherOptions.windowMs}, or {@link SubmitBatcherOptions.maxWaitMs}
 * after its first item, whichever is sooner: a lone task waits only the short
 * gap, while a stream of tasks reaching submit one after another (a runner
 * starts them a few milliseconds apart) fills calls instead of sending one
 * per gap. How many items can be in a batch at once is bounded by how many
 * tasks run at once (`maxActiveTasks`, `[core] parallelism`, pool slots).
 * Each item keeps its own client id and gets its own answer (Armada answers item by item, in order), so the
 * no-duplicate guarantee stands item by item: a call whose outcome is
 * unknown fails every item of it with that error, and each task looks its
 * own job up by external job URI and client id before submitting again.
 */
import { ArmadaError, isAmbiguousSubmitFailure } from "../client/armada-error.js";
import { checkedJobRequestItem } from "../client/job-request-item-input.js";
import { settleInSlices } from "../common/settle-in-slices.js";
import type { JobSubmitRequestItem, JobSubmitResponse, JobSubmitResponseItem } from "../gen/armada/submit.js";

/** Makes one `SubmitJobs` call. */
export type SubmitJobsCall = (
  queue: string,
  jobSetId: string,
  items: JobSubmitRequestItem[],
) => Promise<JobSubmitResponse>;

/** Options of {@link SubmitBatcher}. */
export interface SubmitBatcherOptions {
  /** Items per call at most (Armada's own limit is far above). @default 500 */
  maxItems?: number;
  /** The quiet gap that ends a batch: sent once no item has joined for this long, in real milliseconds. @default 10 */
  windowMs?: number;
  /** Longest the first item of a batch waits for others, in real milliseconds. @default 200 */
  maxWaitMs?: number;
  /**
   * The quiet gap of patient items (see {@link SubmitBatcher.submit}), in real milliseconds: longer than the
   * event loop's longest stalls while a fan-out defers, so that a stall does not end a batch half full. @default 500
   */
  patientWindowMs?: number;
  /** Longest the first patient item of a batch waits for others, in real milliseconds. @default 2000 */
  patientMaxWaitMs?: number;
}

interface Pending {
  item: JobSubmitRequestItem;
  resolve: (answer: JobSubmitResponseItem) => void;
  reject: (err: unknown) => void;
}

interface Batch {
  /** The batch's quiet gap and longest wait (patient or not). */
  windowMs: number;
  maxWaitMs: number;
  queue: string;
  jobSetId: string;
  items: Pending[];
  timer: NodeJS.Timeout | undefined;
  /** When the first item joined (Date.now()). */
  firstAt: number;
  /** When the last item joined (Date.now()). */
  lastAt: number;
}

/** See the module comment. One instance per channel. */
export class SubmitBatcher {
  private readonly maxItems: number;
  private readonly windowMs: number;
  private readonly maxWaitMs: number;
  private readonly patientWindowMs: number;
  private readonly patientMaxWaitMs: number;
  private readonly open = new Map<string, Batch>();
  /** Calls made; for tests and diagnostics. */
  calls = 0;

  constructor(
    private readonly call: SubmitJobsCall,
    options: SubmitBatcherOptions = {},
  ) {
    this.maxItems = options.maxItems ?? 500;
    this.windowMs = options.windowMs ?? 10;
    this.maxWaitMs = Math.max(this.windowMs, options.maxWaitMs ?? 200);
    this.patientWindowMs = options.patientWindowMs ?? 500;
    this.patientMaxWaitMs = Math.max(this.patientWindowMs, options.patientMaxWaitMs ?? 2000);
  }

  /**
   * Submits one item with whatever else is being submitted to the same queue
   * and job set; resolves with Armada's answer for this item (its job id, or
   * its error), rejects with the error of the call. A `patient` item's
   * submitter holds nothing while it waits (a trigger, not a task in its
   * slot): it goes in batches of their own with a longer gap and wait
   * ({@link SubmitBatcherOptions.patientWindowMs}, `patientMaxWaitMs`), so
   * that a fan-out's submits fill calls.
   */
  submit(
    queue: string,
    jobSetId: string,
    item: JobSubmitRequestItem,
    patient = false,
  ): Promise<JobSubmitResponseItem> {
    return new Promise((resolve, reject) => {
      // Read and checked now, in this submitter's turn, not with the whole call's items when it is sent; a bad
      // item fails alone, here, as it would have failed its own call.
      try {
        item = checkedJobRequestItem(item, "jobRequestItems[0]");
      } catch (err) {
        reject(err);
        return;
      }
      const key = `${queue}\u0000${jobSetId}${patient ? "\u0000patient" : ""}`;
      const now = Date.now();
      let batch = this.open.get(key);
      if (!batch) {
        const windowMs = patient ? this.patientWindowMs : this.windowMs;
        const maxWaitMs = patient ? this.patientMaxWaitMs : this.maxWaitMs;
        batch = { windowMs, maxWaitMs, queue, jobSetId, items: [], timer: undefined, firstAt: now, lastAt: now };
        this.open.set(key, batch);
        this.arm(key, batch, windowMs);
      }
      batch.lastAt = now;
      batch.items.push({ item, resolve, reject });
      if (batch.items.length >= this.maxItems) {
        clearTimeout(batch.timer);
        this.send(key, batch);
      }
    });
  }

  /**
   * One timer per batch, re-armed when it rings early rather than reset on
   * every item (a stream of 500 items would otherwise make 500 timers).
   */
  private arm(key: string, batch: Batch, delayMs: number): void {
    batch.timer = setTimeout(() => {
      const now = Date.now();
      const due = Math.min(batch.lastAt + batch.windowMs, batch.firstAt + batch.maxWaitMs);
      if (now < due) this.arm(key, batch, due - now);
      else this.send(key, batch);
    }, delayMs);
  }

  private send(key: string, batch: Batch): void {
    if (this.open.get(key) === batch) this.open.delete(key);
    void this.deliver(batch.queue, batch.jobSetId, batch.items);
  }

  private async deliver(queue: string, jobSetId: string, items: Pending[]): Promise<void> {
    let res: JobSubmitResponse;
    try {
      this.calls++;
      res = await this.call(
        queue,
        jobSetId,
        items.map((p) => p.item),
      );
    } catch (err) {
      // A definite refusal of a whole call of several items (one bad item can refuse them all) created
      // nothing: each item is sent again alone, so only the bad one fails.
      if (items.length > 1 && !isAmbiguousSubmitFailure(err) && !isQueueMissing(err)) {
        await Promise.all(items.map((p) => this.deliver(queue, jobSetId, [p])));
        return;
      }
      for (const p of items) p.reject(err);
      return;
    }
    if (res.jobResponseItems.length !== items.length) {
      // Not an answer per item: a definite, unusable one (as before batching).
      const error = `Armada answered SubmitJobs with ${res.jobResponseItems.length} items; expected ${items.length}`;
      for (const p of items) p.resolve({ jobId: "", error });
      return;
    }
    const answers = res.jobResponseItems;
    settleInSlices(items, (p, i) => p.resolve(answers[i]!));
  }
}

/** PERMISSION_DENIED "could not find queue": the same for every item, no use splitting. */
function isQueueMissing(err: unknown): boolean {
  return err instanceof ArmadaError && err.code === 7;
}
