import { DeadlineHeap } from "./deadline-heap.js";
import { FINISHED_STATES, type TaskInstanceState } from "./state.js";
import type { Store, TaskInstanceRow, TiKey } from "./store/store.js";
import { addToSummary, emptyUpstreamSummary, type UpstreamSummary } from "./trigger-rules.js";

/** The key of a task instance within its run. */
export const tiKeyOf = (k: Pick<TiKey, "taskId" | "mapIndex">): string => `${k.taskId}\u0000${k.mapIndex}`;

/** Most changed rows one read of the store takes (see {@link RunMirror.refresh}). */
const REFRESH_PAGE_ROWS = 2_000;

/** What the mirror keeps per task: counts by state, and the instances waiting to be scheduled. */
interface TaskEntry {
  byState: Map<TaskInstanceState, number>;
  /** Instances in NONE (their trigger rule decides when they start). */
  none: Set<string>;
}

/**
 * The runner's copy of one DAG run's task instances, kept current by reading
 * only what changed since the last look ({@link Store.listTaskInstancesChangedSince}),
 * whoever wrote it: this runner's tries and triggers, or another process
 * (`tasks kill`, `tasks mark-failed`, `tasks clear`). It also keeps what the
 * scheduling loop asks on every wake (state counts per task, the instances
 * in NONE, retry times) so that a wake costs the number of
 * changes and tasks (not task instances), whatever the size of the run.
 */
export class RunMirror {
  private readonly rows = new Map<string, TaskInstanceRow>();
  private readonly tasks = new Map<string, TaskEntry>();
  private readonly retries = new DeadlineHeap<string>();
  /** Highest change number seen; -1 until the first (full) read. */
  private cursor = -1;

  constructor(
    private readonly store: Store,
    private readonly dagId: string,
    private readonly runId: string,
  ) {}

  /**
   * Reads what changed since the last call (everything, the first time) and
   * returns the changed rows, latest version each.
   */
  async refresh(): Promise<TaskInstanceRow[]> {
    const latest = new Map<string, TaskInstanceRow>();
    const take = (rows: TaskInstanceRow[]) => {
      let cursor = Math.max(this.cursor, 0);
      for (const row of rows) {
        cursor = Math.max(cursor, row.changeSeq ?? 0);
        const key = tiKeyOf(row);
        latest.delete(key); // a row changed again since an earlier page: its latest version, in its place
        latest.set(key, row);
        this.apply(key, row);
      }
      this.cursor = cursor;
    };
    // In pages, a turn of the event loop between them: a mapped task's 100,000 new instances read in one
    // statement held the loop for about half a second. The first (full) read too, from before the first
    // change number: paging on the change counter misses nothing (commits become visible in its order),
    // where a page by key could miss a row changed after its page was read.
    for (;;) {
      const page = await this.store.listTaskInstancesChangedSince(
        this.dagId,
        this.runId,
        this.cursor,
        REFRESH_PAGE_ROWS,
      );
      take(page);
      if (page.length < REFRESH_PAGE_ROWS) break;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return [...latest.values()];
  }

  /** The latest row read of a task instance. */
  get(key: string): TaskInstanceRow | undefined {
    return this.rows.get(key);
  }

  /** True when the task has at least one task instance. */
  hasTask(taskId: string): boolean {
    return this.tasks.has(taskId);
  }

  /** Tasks that have task instances. */
  taskIds(): IterableIterator<string> {
    return this.tasks.keys();
  }

  /** Keys of the task's instances in NONE (a live set: copy it before changing rows). */
  noneOf(taskId: string): ReadonlySet<string> {
    return this.tasks.get(taskId)?.none ?? new Set();
  }

  /** Instances of `taskId` in `state`. */
  count(taskId: string, state: TaskInstanceState): number {
    return this.tasks.get(taskId)?.byState.get(state) ?? 0;
  }

  /** Instances of `taskId` not in a final state. */
  unfinished(taskId: string): number {
    const entry = this.tasks.get(taskId);
    if (!entry) return 0;
    let n = 0;
    for (const [state, c] of entry.byState) if (!FINISHED_STATES.has(state)) n += c;
    return n;
  }

  /** What a trigger rule needs of these upstream tasks (a task with no instance yet counts as missing). */
  summaryOf(upstreamTaskIds: Iterable<string>): UpstreamSummary {
    const summary = emptyUpstreamSummary();
    for (const up of upstreamTaskIds) {
      const entry = this.tasks.get(up);
      if (!entry) {
        summary.total += 1;
        summary.missing += 1;
        continue;
      }
      for (const [state, n] of entry.byState) addToSummary(summary, state, n);
    }
    return summary;
  }

  /**
   * Keys of UP_FOR_RETRY instances whose retry time has come, taken off the
   * retry queue (give one back with {@link retryLater} when it cannot start now).
   */
  dueRetries(nowMs: number): string[] {
    return this.retries.popDue(nowMs).filter((key) => {
      const row = this.rows.get(key);
      return row?.state === "up_for_retry" && (row.nextRetryMs ?? 0) <= nowMs;
    });
  }

  /** Puts an instance back on the retry queue. */
  retryLater(key: string): void {
    const row = this.rows.get(key);
    if (row?.state === "up_for_retry") this.retries.push(row.nextRetryMs ?? 0, key);
  }

  /** The earliest pending retry time, if any (may be of an entry no longer valid: harmless, one extra wake). */
  nextRetryMs(): number | undefined {
    return this.retries.peekTime();
  }

  private apply(key: string, row: TaskInstanceRow): void {
    const old = this.rows.get(key);
    if (old) this.unindex(key, old);
    this.rows.set(key, row);
    let entry = this.tasks.get(row.taskId);
    if (!entry) {
      entry = { byState: new Map(), none: new Set() };
      this.tasks.set(row.taskId, entry);
    }
    entry.byState.set(row.state, (entry.byState.get(row.state) ?? 0) + 1);
    if (row.state === "none") entry.none.add(key);
    const retryIsNew = old?.state !== "up_for_retry" || old.nextRetryMs !== row.nextRetryMs;
    if (row.state === "up_for_retry" && retryIsNew) this.retries.push(row.nextRetryMs ?? 0, key);
  }

  private unindex(key: string, old: TaskInstanceRow): void {
    const entry = this.tasks.get(old.taskId)!;
    const n = (entry.byState.get(old.state) ?? 1) - 1;
    if (n > 0) entry.byState.set(old.state, n);
    else entry.byState.delete(old.state);
    entry.none.delete(key);
  }
}
