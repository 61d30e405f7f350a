/**
 * The scheduler loop: keeps a folder's DAGs current, creates their runs when
 * the schedule says so, starts queued runs within `maxActiveRuns`, takes
 * over the runs of schedulers (or runners) that died, and drives its runs
 * with one {@link Runner}.
 *
 * Several schedulers may share one PostgreSQL database: a run is created
 * once (its run id and a unique index on DAG and logical date), started by
 * one (the claim locks the DAG's row, `FOR UPDATE SKIP LOCKED`) and driven
 * by one (the runner's compare-and-set claim of the run). SQLite allows one
 * scheduler per database file.
 */
import type { Clock } from "../common/clock.js";
import { dateStrings } from "../runtime/context.js";
import type { DAG } from "../runtime/dag.js";
import { RuntimeError } from "../runtime/errors.js";
import { Runner, type RunnerEvent } from "../runtime/runner.js";
import type { RuntimeConfig } from "../runtime/runtime-config.js";
import { redactSecrets } from "../runtime/secrets-masker.js";
import type { DagRunRow, Store } from "../runtime/store/store.js";
import { DagBag } from "./dag-bag.js";
import { OrphanSweeper, type OrphanSweepFunction } from "./orphan-sweeper.js";
import type { DataInterval, ScheduledRun } from "../runtime/schedule.js";
import { takeSqliteServiceLock } from "./sqlite-service-lock.js";

/** Options of a {@link Scheduler}. */
export interface SchedulerOptions {
  store: Store;
  dagsFolder: string;
  clock: Clock;
  /** Real milliseconds between looks at the database for other processes' changes. */
  pollIntervalMs: number;
  /** Real milliseconds between rescans of the DAGs folder (file watching makes most rescans immediate). */
  rescanIntervalMs: number;
  /** A runner on another host with an older heartbeat is dead. */
  heartbeatTimeoutMs: number;
  /** Runner heartbeat period (real milliseconds). */
  heartbeatMs?: number;
  pausedAtCreation: boolean;
  /** `maxActiveRuns` of DAGs that do not say. */
  maxActiveRunsDefault: number;
  /** Tries running at once in this process (`[core] parallelism`; 0: no limit). @default the runner's */
  parallelism?: number;
  /** `maxActiveTasks` of DAGs that do not say (`[core] max_active_tasks_per_dag`). @default the runner's */
  maxActiveTasksPerDag?: number;
  /**
   * Runs the triggers of deferred tasks in this process; false
   * (`--no-triggerer`) leaves them to `armada-airflow triggerer` processes.
   * @default true
   */
  runTriggers?: boolean;
  /** Settings of its runner and the tasks it runs. @default the runtime's current config (`currentRuntimeConfig()`) */
  config?: RuntimeConfig;
  /** Scheduler log lines. */
  log: (line: string) => void;
  onEvent?: (event: RunnerEvent) => void;
  /**
   * The periodic orphan sweep (see {@link OrphanSweeper}): every `intervalMs`
   * of `clock`, `sweep` cancels live Armada jobs no task instance follows.
   * @default none
   */
  orphanSweep?: { intervalMs: number; sweep: OrphanSweepFunction };
}

interface DagSchedule {
  /** The DAG object this was computed for (a new version starts over). */
  dag: DAG;
  /** The data interval of the last automated run. */
  last: DataInterval | undefined;
  /** What was last said about the next run (said again only when it changes). */
  announced: string | undefined;
  /** The next run when it is not due yet. */
  pending: ScheduledRun | undefined;
}

const runKey = (dagId: string, runId: string) => `${dagId}\u0000${runId}`;
const iso = (ms: number) => new Date(ms).toISOString();
const errorText = (err: unknown) => redactSecrets(err instanceof Error ? err.message : String(err));

/** One scheduler process's work. */
export class Scheduler {
  readonly runner: Runner;
  readonly bag: DagBag;
  private readonly driving = new Map<string, Promise<void>>();
  private readonly schedules = new Map<string, DagSchedule>();
  private stopping = false;
  private wakeUp: (() => void) | undefined;
  private rescanDue = true;
  private holdsLock = false;
  private woken = false;
  private readonly sweeper: OrphanSweeper | undefined;

  constructor(private readonly options: SchedulerOptions) {
    this.sweeper = options.orphanSweep
      ? new OrphanSweeper({ ...options.orphanSweep, clock: options.clock, log: options.log })
      : undefined;
    this.runner = new Runner({
      store: options.store,
      clock: options.clock,
      config: options.config,
      heartbeatMs: options.heartbeatMs,
      onEvent: options.onEvent,
      staleAfterMs: options.heartbeatTimeoutMs,
      parallelism: options.parallelism,
      maxActiveTasksPerDag: options.maxActiveTasksPerDag,
      runTriggers: options.runTriggers,
    });
    this.bag = new DagBag({
      folder: options.dagsFolder,
      store: options.store,
      pausedAtCreation: options.pausedAtCreation,
      log: options.log,
      nowMs: () => options.clock.nowMs(),
    });
  }

  /** Runs being driven by this scheduler now. */
  get activeRuns(): number {
    return this.driving.size;
  }

  /**
   * Registers the runner and, on SQLite, takes the one-scheduler lock; a
   * second scheduler on the same SQLite file is refused.
   */
  async start(): Promise<void> {
    await this.runner.start();
    this.holdsLock = await takeSqliteServiceLock(
      this.options.store,
      this.runner,
      this.options.clock,
      "scheduler",
    );
    try {
      await this.bag.refresh();
    } catch (err) {
      await this.release();
      throw err;
    }
    this.bag.watch(() => {
      this.rescanDue = true;
      this.wake();
    });
  }

  /** The loop, until {@link requestStop}. */
  async loop(): Promise<void> {
    let lastRescan = Date.now();
    while (!this.stopping) {
      let dueAt: number | undefined;
      try {
        if (this.rescanDue || Date.now() - lastRescan >= this.options.rescanIntervalMs) {
          this.rescanDue = false;
          lastRescan = Date.now();
          const changes = await this.bag.refresh();
          for (const id of [...changes.updated, ...changes.removed]) this.schedules.delete(id);
        }
        dueAt = await this.iteration();
      } catch (err) {
        // A database or folder that fails for a while must not end the service: say so and try again.
        this.options.log(`scheduling pass failed (will retry): ${errorText(err)}`);
      }
      if (this.stopping) break;
      await this.waitForWork(dueAt);
    }
  }

  /** Stops taking new work and wakes the loop (it returns). */
  requestStop(): void {
    this.stopping = true;
    this.wake();
  }

  /** Resolves once every run this scheduler drives has stopped, or after `ms` real milliseconds; true when none is left. */
  async drained(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((r) => (timer = setTimeout(r, ms)));
    await Promise.race([Promise.all([...this.driving.values()]), timeout]);
    clearTimeout(timer);
    return this.driving.size === 0;
  }

  /** Releases the SQLite lock and unregisters the runner (its runs are then seen as left behind). */
  async release(): Promise<void> {
    this.bag.unwatch();
    if (this.holdsLock) await this.options.store.releaseLock("scheduler", this.runner.id).catch(() => {});
    this.holdsLock = false;
    await this.sweeper?.idle();
    await this.runner.stop();
  }

  private wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  private async waitForWork(dueAt: number | undefined): Promise<void> {
    // Woken during the pass (a run ended, a file changed): look again at once.
    if (this.woken) {
      this.woken = false;
      return;
    }
    const ac = new AbortController();
    const waits: Promise<unknown>[] = [
      new Promise<void>((r) => (this.wakeUp = r)),
      new Promise<void>((r) => {
        const t = setTimeout(r, this.options.pollIntervalMs);
        ac.signal.addEventListener("abort", () => clearTimeout(t), { once: true });
      }),
    ];
    if (dueAt !== undefined) {
      const clock = this.options.clock;
      waits.push(clock.sleep(Math.max(0, dueAt - clock.nowMs()), ac.signal).catch(() => {}));
    }
    await Promise.race(waits);
    ac.abort();
    this.wakeUp = undefined;
    this.woken = false;
  }

  /** One pass; returns when the next run falls due (scheduler clock), if any. */
  private async iteration(): Promise<number | undefined> {
    const { store } = this.options;
    const dagRows = new Map((await store.listDags()).map((d) => [d.dagId, d]));
    const active = await store.listDagRuns({ states: ["queued", "running"] });
    const activeByDag = new Map<string, DagRunRow[]>();
    for (const r of active) {
      const list = activeByDag.get(r.dagId);
      if (list) list.push(r);
      else activeByDag.set(r.dagId, [r]);
    }
    let dueAt: number | undefined;
    for (const dag of this.bag.dags.values()) {
      if (this.stopping) return undefined;
      const paused = dagRows.get(dag.dagId)?.isPaused ?? true;
      const maxActive = dag.maxActiveRuns ?? this.options.maxActiveRunsDefault;
      const runs = activeByDag.get(dag.dagId) ?? [];
      let created = 0;
      if (!paused) {
        try {
          const r = await this.createDueRuns(dag, runs.length, maxActive);
          created = r.created;
          if (r.dueAt !== undefined) dueAt = dueAt === undefined ? r.dueAt : Math.min(dueAt, r.dueAt);
        } catch (err) {
          this.options.log(`DAG ${dag.dagId}: cannot create its next run: ${errorText(err)}`);
        }
      }
      // Only DAGs with an unclaimed queued run cost a claim transaction.
      if (
        created > 0 ||
        runs.some((r) => r.state === "queued" && r.runnerId === null && (!paused || r.runType === "backfill"))
      ) {
        await this.startRuns(dag, paused, maxActive);
      }
    }
    await this.adoptOrphans(active);
    if (this.sweeper && !this.stopping) {
      const sweepAt = this.sweeper.tick();
      dueAt = dueAt === undefined ? sweepAt : Math.min(dueAt, sweepAt);
    }
    return dueAt;
  }

  /** Creates the runs that are due (within `maxActiveRuns`); returns when the next one falls due. */
  private async createDueRuns(
    dag: DAG,
    activeCount: number,
    maxActive: number,
  ): Promise<{ dueAt?: number; created: number }> {
    const { store, clock, log } = this.options;
    let s = this.schedules.get(dag.dagId);
    if (!s || s.dag !== dag) {
      const latest = await store.latestScheduledRun(dag.dagId);
      s = { dag, last: latest ? intervalOf(latest) : undefined, announced: s?.announced, pending: undefined };
      this.schedules.set(dag.dagId, s);
    }
    // Not due yet: nothing to compute again (what comes next changes only with a new run or a new DAG version).
    if (s.pending && s.pending.runAfterMs > clock.nowMs()) return { dueAt: s.pending.runAfterMs, created: 0 };
    const restriction = { earliestMs: dag.startDateMs, latestMs: dag.endDateMs, catchup: dag.catchup };
    let active = activeCount;
    let created = 0;
    for (;;) {
      const now = clock.nowMs();
      const next = dag.timetable.nextRun(s.last, restriction, now);
      if (!next) {
        this.announce(s, dag.schedule === null ? undefined : `${dag.dagId}: no further scheduled runs`);
        return { created };
      }
      if (next.runAfterMs > now) {
        s.pending = next;
        this.announce(s, `${dag.dagId}: next run ${iso(next.logicalDateMs)} at ${iso(next.runAfterMs)}`);
        return { dueAt: next.runAfterMs, created };
      }
      // As Airflow: no new run while the DAG has maxActiveRuns queued or running.
      if (active >= maxActive) return { created };
      const run = await this.createRun(dag, next);
      if (run) {
        created++;
        log(
          `Created DAG run ${dag.dagId} ${run.runId} (data interval ${iso(next.dataInterval.startMs)} to ${iso(next.dataInterval.endMs)})`,
        );
      }
      s.last = next.dataInterval;
      s.pending = undefined;
      active++;
    }
  }

  /** Creates one scheduled run; undefined when it exists already (another scheduler made it). */
  private async createRun(dag: DAG, next: ScheduledRun): Promise<DagRunRow | undefined> {
    const runId = `scheduled__${dateStrings(new Date(next.logicalDateMs)).ts}`;
    try {
      return await this.runner.createDagRun(dag, {
        runId,
        runType: "scheduled",
        logicalDate: new Date(next.logicalDateMs),
        dataIntervalStart: new Date(next.dataInterval.startMs),
        dataIntervalEnd: new Date(next.dataInterval.endMs),
        dagFile: dag.fileloc,
      });
    } catch (err) {
      // The run id (or the unique DAG and logical date, taken by a backfill run) was taken: someone else made this run.
      if (await this.options.store.getDagRun(dag.dagId, runId)) return undefined;
      const runs = await this.options.store.listDagRuns({
        dagId: dag.dagId,
        states: ["queued", "running", "success", "failed"],
      });
      if (runs.some((r) => r.logicalDateMs === next.logicalDateMs && r.runType === "backfill"))
        return undefined;
      throw err;
    }
  }

  /** Starts queued runs within `maxActiveRuns` (a paused DAG's backfill runs only, as Airflow 3). */
  private async startRuns(dag: DAG, paused: boolean, maxActive: number): Promise<void> {
    if (this.stopping) return;
    const claimed = await this.options.store.claimQueuedRuns({
      dagId: dag.dagId,
      runnerId: this.runner.id,
      maxActiveRuns: maxActive,
      runTypes: paused ? ["backfill"] : undefined,
    });
    for (const run of claimed) this.drive(dag, run.runId);
  }

  /** Runs left RUNNING by a runner that is gone (or released after a stop) are taken over. */
  private async adoptOrphans(active: DagRunRow[]): Promise<void> {
    const alive = new Map<string, boolean>();
    for (const run of active) {
      if (this.stopping) return;
      if (run.state !== "running" || this.driving.has(runKey(run.dagId, run.runId))) continue;
      const dag = this.bag.dags.get(run.dagId);
      if (!dag || run.runnerId === this.runner.id) continue;
      if (run.runnerId) {
        let ok = alive.get(run.runnerId);
        if (ok === undefined) alive.set(run.runnerId, (ok = await this.runner.isRunnerAlive(run.runnerId)));
        if (ok) continue;
        this.options.log(`Taking over DAG run ${run.dagId} ${run.runId}: its runner ${run.runnerId} is gone`);
      }
      this.drive(dag, run.runId);
    }
  }

  private drive(dag: DAG, runId: string): void {
    const key = runKey(dag.dagId, runId);
    if (this.driving.has(key)) return;
    const work = this.runner
      .runDagRun(dag, runId, { unfinishedOnly: true })
      .then((state) => {
        if (state === "interrupted") this.options.log(`DAG run ${dag.dagId} ${runId}: interrupted`);
      })
      .catch((err: unknown) => {
        // Another scheduler claimed or finished it first: its business.
        if (RuntimeError.is(err) && err.code === "conflict") return;
        this.options.log(`DAG run ${dag.dagId} ${runId} failed to run: ${errorText(err)}`);
      })
      .finally(() => {
        this.driving.delete(key);
        this.wake();
      });
    this.driving.set(key, work);
  }

  private announce(s: DagSchedule, text: string | undefined): void {
    if (text === undefined || s.announced === text) return;
    s.announced = text;
    this.options.log(text);
  }
}

function intervalOf(run: DagRunRow): DataInterval {
  return {
    startMs: run.dataIntervalStartMs ?? run.logicalDateMs,
    endMs: run.dataIntervalEndMs ?? run.logicalDateMs,
  };
}
