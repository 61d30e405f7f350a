import type { BaseOperator } from "./base-operator.js";
import type { DAG } from "./dag.js";
import { DEFAULT_POOL } from "./pools.js";
import { tiKeyOf, type RunMirror } from "./run-mirror.js";
import { FINISHED_STATES, type DagRunState } from "./state.js";
import type { TaskInstanceRow } from "./store/store.js";
import { decideTriggerRule, emptyUpstreamSummary, type UpstreamSummary } from "./trigger-rules.js";

/** What one pass of the scheduling loop asks the driver to do, in order. */
export type PlanAction =
  /** The task is no longer in the DAG (its file changed before a resume): REMOVED, as in Airflow. */
  | { kind: "remove"; row: TaskInstanceRow }
  /** The task has no instances yet: create them (a mapped task expands once its upstream allows). */
  | { kind: "create"; task: BaseOperator; upstream: UpstreamSummary }
  /** Start a try (`start`: a new try, `resume`: a deferred try whose trigger fired). */
  | { kind: "start"; row: TaskInstanceRow; mode: "start" | "resume" }
  /** The trigger rule will never let the task instance run. */
  | { kind: "mark"; row: TaskInstanceRow; state: "skipped" | "upstream_failed" };

/** What a `start` action came to: started, settled otherwise, or it waits for a limit or a pool. */
export type StartResult = "started" | "done" | "limit" | "pool";

/** What a pass found, for the driver's wait. */
export interface PassSummary {
  /** The earliest time a retry falls due. */
  nextRetryMs: number | undefined;
  /** A task waits for a slot: the run is to be woken when a try of this process ends. */
  waitsForSlot: boolean;
}

const emptySummary = emptyUpstreamSummary();

/**
 * The scheduling decisions of one DAG run (Airflow's scheduler, for one
 * run): from the run's task instances (the {@link RunMirror}) and its DAG,
 * which task instances to create, start, resume, skip or remove. It does no
 * I/O; the driver carries out its actions.
 *
 * A pass is a generator rather than a list because what it decides next
 * depends on what a start came to (a pool that turned out full makes the
 * rest of that pool wait), and so that it stops at the first task instance
 * of a task that has to wait: a pass costs the number of changes and
 * tasks, not task instances, whatever the size of the run.
 */
export class RunPlanner {
  /**
   * Retries and resumes that found no slot (the run's `maxActiveTasks`, the
   * process's parallelism, or their pool), by pool, oldest first: each pass
   * looks at these queues' heads before anything new, and stops at the first
   * that still has to wait, so waiting tasks cost nothing per pass.
   */
  private readonly parked = new Map<string, Map<string, "start" | "resume">>();
  /** The pool each parked key waits in, and for what. */
  private readonly parkedPool = new Map<string, { pool: string; mode: "start" | "resume" }>();
  /** What the current pass found: pools without room, and whether the run's or process's limit was reached. */
  private full = new Set<string>();
  private limited = false;
  /** The tasks this run runs, in dependency order. */
  readonly taskIds: string[];

  constructor(
    private readonly dag: DAG,
    private readonly mirror: RunMirror,
    private readonly only: ReadonlySet<string> | undefined,
  ) {
    this.taskIds = dag.topologicalOrder().filter((id) => !only || only.has(id));
  }

  /**
   * One pass over the task instances that `changed` since the last one (and
   * whatever the mirror says is due at `now`). `runsHere` says whether a try
   * of a task instance runs in this process now.
   */
  *pass(
    changed: ReadonlyMap<string, TaskInstanceRow>,
    now: number,
    runsHere: (key: string) => boolean,
  ): Generator<PlanAction, PassSummary, StartResult | undefined> {
    for (const [key, t] of changed) {
      if (!this.dag.hasTask(t.taskId) && !FINISHED_STATES.has(t.state) && !runsHere(key))
        yield { kind: "remove", row: t };
    }

    this.full = new Set();
    this.limited = false;
    yield* this.startParked(now, runsHere);

    for (const taskId of this.taskIds) {
      const task = this.dag.getTask(taskId);
      const upstream = () => (this.only ? emptySummary : this.mirror.summaryOf(task.upstreamTaskIds));
      if (!this.mirror.hasTask(taskId)) {
        yield { kind: "create", task, upstream: upstream() };
        continue;
      }
      const none = this.mirror.noneOf(taskId);
      if (none.size === 0) continue;
      // Every instance of a task has the same upstream, so one decision serves them all.
      const decision = decideTriggerRule(task.triggerRule, upstream());
      if (decision === "wait") continue;
      // The live set: only a refresh changes it, and none happens during the pass.
      for (const key of none) {
        const row = this.mirror.get(key)!;
        if (runsHere(key)) continue;
        if (decision === "run") {
          // All instances of a task wait for the same slot: the rest wait too (and cost nothing).
          if ((yield* this.admit(row, "start")) === "waits") break;
        } else {
          yield { kind: "mark", row, state: decision === "skip" ? "skipped" : "upstream_failed" };
        }
      }
    }
    for (const key of this.mirror.dueRetries(now)) {
      if (runsHere(key)) {
        this.mirror.retryLater(key);
        continue;
      }
      const row = this.mirror.get(key)!;
      if (this.only && !this.only.has(row.taskId)) continue;
      if ((yield* this.admit(row, "start")) === "waits") this.park(row, "start");
    }
    const nextRetryMs = this.mirror.nextRetryMs();
    // Resumes: a task instance that became SCHEDULED is a changed row (or a recheck, when a try of it
    // was still settling here); one that found no slot waits in its pool's queue.
    for (const [key, row] of changed) {
      if (row.state !== "scheduled" || runsHere(key) || this.parkedPool.get(key)?.mode === "resume") continue;
      this.unpark(key);
      if (this.only && !this.only.has(row.taskId)) continue;
      if ((yield* this.admit(row, "resume")) === "waits") this.park(row, "resume");
    }
    // Slots freed by this process wake the run; other processes' are seen on the heartbeat's wake.
    return { nextRetryMs, waitsForSlot: this.limited || this.full.size > 0 || this.parked.size > 0 };
  }

  /**
   * A start this pass said "started" for was refused by its pool once
   * written (see `StartWrites`): it waits as a refusal seen at once would
   * have made it wait. A resume or a retry is parked (a new task instance
   * is found again by the next pass, as its task's other waiting ones are).
   */
  refusedForPool(row: TaskInstanceRow, mode: "start" | "resume"): void {
    if (mode === "resume" || row.state === "up_for_retry") this.park(row, mode);
  }

  /** A try of `key` started (however it was found): no queue holds it any more. */
  started(key: string): void {
    this.unpark(key);
  }

  /** True when every task (of `onlyTaskIds`, when given) has instances and all of them are final. */
  allFinished(): boolean {
    if (!this.taskIds.every((id) => this.mirror.hasTask(id))) return false;
    const relevant = this.only ? this.taskIds : [...this.mirror.taskIds()];
    return relevant.every((id) => this.mirror.unfinished(id) === 0);
  }

  /** The state of a run whose task instances are all final: FAILED when a leaf task failed, as in Airflow. */
  finalState(): DagRunState {
    const leaves = this.only
      ? this.taskIds
      : this.taskIds.filter((id) => this.dag.getTask(id).downstreamTaskIds.size === 0);
    const failed = leaves.some(
      (id) => this.mirror.count(id, "failed") + this.mirror.count(id, "upstream_failed") > 0,
    );
    return failed ? "failed" : "success";
  }

  /** The parked retries and resumes that now get a slot, oldest first in each pool. */
  private *startParked(
    now: number,
    runsHere: (key: string) => boolean,
  ): Generator<PlanAction, void, StartResult | undefined> {
    for (const [pool, queue] of this.parked) {
      if (this.limited) return;
      if (this.full.has(pool)) continue;
      for (const [key, mode] of queue) {
        const row = this.mirror.get(key);
        const ready =
          row !== undefined &&
          !runsHere(key) &&
          (mode === "resume"
            ? row.state === "scheduled"
            : row.state === "up_for_retry" && (row.nextRetryMs ?? 0) <= now);
        // Changed meanwhile (marked, cleared, a later retry time): the mirror's own queues have it.
        if (!ready) {
          this.unpark(key);
          continue;
        }
        if ((yield* this.admit(row, mode)) === "waits") break;
        this.unpark(key);
      }
    }
  }

  /** A start unless this pass found its slot taken already; "waits" when it has to wait for one. */
  private *admit(
    row: TaskInstanceRow,
    mode: "start" | "resume",
  ): Generator<PlanAction, "started" | "done" | "waits", StartResult | undefined> {
    const pool = this.poolOf(row);
    if (this.limited || this.full.has(pool)) return "waits";
    const r = (yield { kind: "start", row, mode }) ?? "done";
    if (r === "limit") this.limited = true;
    else if (r === "pool") this.full.add(pool);
    return r === "limit" || r === "pool" ? "waits" : r;
  }

  private poolOf(row: TaskInstanceRow): string {
    return this.dag.hasTask(row.taskId) ? this.dag.getTask(row.taskId).pool : DEFAULT_POOL;
  }

  private park(row: TaskInstanceRow, mode: "start" | "resume"): void {
    const key = tiKeyOf(row);
    if (this.parkedPool.has(key)) return;
    const pool = this.poolOf(row);
    this.parkedPool.set(key, { pool, mode });
    let queue = this.parked.get(pool);
    if (!queue) this.parked.set(pool, (queue = new Map()));
    queue.set(key, mode);
  }

  private unpark(key: string): void {
    const entry = this.parkedPool.get(key);
    if (entry === undefined) return;
    this.parkedPool.delete(key);
    const queue = this.parked.get(entry.pool);
    queue?.delete(key);
    if (queue?.size === 0) this.parked.delete(entry.pool);
  }
}
