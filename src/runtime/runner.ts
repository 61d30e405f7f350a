import { randomUUID } from "node:crypto";
import os from "node:os";
import { systemClock, type Clock } from "../common/clock.js";
import { dateStrings } from "./context.js";
import type { DAG } from "./dag.js";
import { RuntimeError } from "./errors.js";
import { isProcessAlive } from "./recovery.js";
import { currentRuntimeConfig, withRuntimeConfig, type RuntimeConfig } from "./runtime-config.js";
import { RunDriver } from "./run-driver.js";
import { RunnerResources, withRunnerResources } from "./runner-resources.js";
import { errorText, type RunnerEvent } from "./run-scope.js";
import { serializeValue } from "./serde.js";
import type { DagRunState } from "./state.js";
import type { DagRunRow, Store } from "./store/store.js";
import { stderrLogger } from "./task-logger.js";
import { defaultTemplateEnv, type TemplateEnv } from "./template.js";

export type { RunnerEvent } from "./run-scope.js";

/** Options of a {@link Runner}. */
export interface RunnerOptions {
  store: Store;
  /**
   * The settings this runner and the tasks it runs read (tasks see it as
   * `context.runtimeConfig`); the defaults of the options below come from it.
   * @default {@link currentRuntimeConfig} when the runner is made
   */
  config?: RuntimeConfig;
  /** @default systemClock */
  clock?: Clock;
  /**
   * Real-time milliseconds between checks for changes made by other processes
   * (`tasks kill`, `tasks mark-failed`) and runner heartbeats.
   * @default config `core.runner_heartbeat_ms`, else 1000
   */
  heartbeatMs?: number;
  /** @default the shared default TemplateEnv */
  templateEnv?: TemplateEnv;
  /** Receives progress and log events. */
  onEvent?: (event: RunnerEvent) => void;
  /**
   * How old the heartbeat of a runner on another host may be before it is
   * taken for dead (same host: its pid is checked instead).
   * @default max(30 s, 10 heartbeats)
   */
  staleAfterMs?: number;
  /**
   * Tries running at once in this process, across all its runs (deferred
   * tasks do not count); 0 for no limit.
   * @default config `[core] parallelism`, else 32
   */
  parallelism?: number;
  /**
   * `maxActiveTasks` of DAGs that do not set it.
   * @default config `[core] max_active_tasks_per_dag`, else 16
   */
  maxActiveTasksPerDag?: number;
  /**
   * Runs the triggers of deferred tasks in this process; false leaves them
   * to an `armada-airflow triggerer` (deferred tasks wait for one).
   * @default true
   */
  runTriggers?: boolean;
}

/** Options of {@link Runner.createDagRun}. */
export interface CreateDagRunOptions {
  /** @default `manual__<logical date ISO>` */
  runId?: string;
  conf?: Record<string, unknown>;
  /** @default now */
  logicalDate?: Date;
  /** Absolute path of the DAG file (needed by `resume` in another process). */
  dagFile?: string;
  /** @default "manual" */
  runType?: string;
  /** The run's data interval (the scheduler's); @default the logical date for both ends */
  dataIntervalStart?: Date;
  dataIntervalEnd?: Date;
}

/** A config value that is a count: an integer >= `min`. */
function checkedCount(section: string, key: string, n: number, min: number): number {
  if (!Number.isInteger(n) || n < min) {
    throw new RuntimeError("config", `config [${section}] ${key} must be an integer >= ${min}, got ${n}`);
  }
  return n;
}

/**
 * Executes DAG runs: schedules task instances by trigger rules, runs tries
 * with retries, runs the triggers of deferred tasks concurrently in this
 * process's one event loop, and persists everything in the store so that a
 * crashed runner can be resumed by another.
 */
export class Runner {
  readonly id: string;
  readonly store: Store;
  readonly clock: Clock;
  readonly heartbeatMs: number;
  /** The settings of this runner and its tasks, resolved once. */
  readonly config: RuntimeConfig;
  /**
   * What this runner holds for its tasks and triggers (the operator's Armada
   * connection pool): made on first use, closed by {@link stop}.
   */
  readonly resources = new RunnerResources();
  private readonly templateEnv: TemplateEnv;
  private readonly onEvent: (event: RunnerEvent) => void;
  private readonly drivers = new Set<RunDriver>();
  private heartbeat: NodeJS.Timeout | undefined;
  private started = false;
  private readonly staleAfterMs: number | undefined;
  /** Tries running at once in this process at most (0: no limit). */
  readonly parallelism: number;
  /** `maxActiveTasks` of DAGs that do not set it. */
  readonly maxActiveTasksPerDag: number;
  /** Whether this process runs the triggers of its deferred tasks ({@link RunnerOptions.runTriggers}). */
  readonly runsTriggers: boolean;
  /** Tries running (or being started) in this process now. */
  private activeTries = 0;
  /** Runs with a task waiting for a slot: woken when a try here ends. */
  private readonly slotWaiters = new Set<RunDriver>();

  constructor(options: RunnerOptions) {
    this.id = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.store = options.store;
    this.clock = options.clock ?? systemClock;
    this.config = options.config ?? currentRuntimeConfig();
    this.heartbeatMs = options.heartbeatMs ?? this.config.core.runner_heartbeat_ms;
    this.templateEnv = options.templateEnv ?? defaultTemplateEnv();
    this.onEvent = options.onEvent ?? (() => {});
    this.staleAfterMs = options.staleAfterMs;
    this.runsTriggers = options.runTriggers ?? true;
    if (options.parallelism !== undefined) {
      if (!Number.isInteger(options.parallelism) || options.parallelism < 0) {
        throw new RuntimeError(
          "invalid_argument",
          `parallelism must be an integer >= 0 (0: no limit), got ${String(options.parallelism)}`,
        );
      }
      this.parallelism = options.parallelism;
    } else this.parallelism = checkedCount("core", "parallelism", this.config.core.parallelism, 0);
    if (options.maxActiveTasksPerDag !== undefined) {
      if (!Number.isInteger(options.maxActiveTasksPerDag) || options.maxActiveTasksPerDag < 1) {
        throw new RuntimeError(
          "invalid_argument",
          `maxActiveTasksPerDag must be an integer >= 1, got ${String(options.maxActiveTasksPerDag)}`,
        );
      }
      this.maxActiveTasksPerDag = options.maxActiveTasksPerDag;
    } else
      this.maxActiveTasksPerDag = checkedCount(
        "core",
        "max_active_tasks_per_dag",
        this.config.core.max_active_tasks_per_dag,
        1,
      );
  }

  /**
   * Takes one of this process's `parallelism` slots for a starting try
   * (always, with `force`: a reclaimed try held one in its dead runner);
   * false when none is free. Synchronous, so two runs never take the last one.
   * @internal
   */
  reserveTry(force = false): boolean {
    if (!force && this.parallelism > 0 && this.activeTries >= this.parallelism) return false;
    this.activeTries++;
    return true;
  }

  /** Gives back a slot whose try did not start. @internal */
  unreserveTry(): void {
    this.activeTries--;
  }

  /** A try here ended: its slot is free, and runs waiting for one look again. @internal */
  tryEnded(): void {
    this.activeTries--;
    if (this.slotWaiters.size === 0) return;
    const waiting = [...this.slotWaiters];
    this.slotWaiters.clear();
    for (const d of waiting) d.wake();
  }

  /** Tries running in this process now. */
  get runningTries(): number {
    return this.activeTries;
  }

  /** `driver` has a task waiting for a slot: it is woken when a try here ends. @internal */
  waitForSlot(driver: RunDriver): void {
    this.slotWaiters.add(driver);
  }

  /** Registers this runner (for liveness checks by other processes) and starts its heartbeat. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.beat();
    this.heartbeat = setInterval(() => void this.beatSupervised(), this.heartbeatMs);
    this.heartbeat.unref();
  }

  private heartbeatFailing = false;

  /**
   * A heartbeat that cannot be written (database locked or down) is said once
   * per streak, and again when it recovers: other processes may then take
   * this runner for dead, so the user must know.
   */
  private async beatSupervised(): Promise<void> {
    try {
      await this.beat();
      if (this.heartbeatFailing) stderrLogger.info(`Runner ${this.id}: heartbeat written again`);
      this.heartbeatFailing = false;
    } catch (err) {
      if (!this.heartbeatFailing) {
        stderrLogger.warn(
          `Runner ${this.id}: cannot write its heartbeat (${errorText(err)}); other processes may take this runner for dead`,
        );
      }
      this.heartbeatFailing = true;
    }
  }

  private async beat(): Promise<void> {
    const now = Date.now();
    await this.store.upsertRunner({
      id: this.id,
      pid: process.pid,
      hostname: os.hostname(),
      startedMs: now,
      heartbeatMs: now,
    });
    for (const d of this.drivers) d.wake();
  }

  /**
   * Stops the heartbeat, unregisters, and closes what the runner held for
   * its tasks and triggers ({@link resources}: its Armada clients and event
   * streams, say). Runs still driven here keep those until the last of them
   * ends (a scheduler handing its runs over stops its runner and exits: its
   * tasks must not see their connections close first).
   */
  async stop(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    if (this.started) {
      await this.store.deleteRunner(this.id).catch((err: unknown) => {
        // Harmless for correctness (liveness is checked by pid or heartbeat age), but say so.
        stderrLogger.warn(
          `Runner ${this.id}: cannot unregister (${errorText(err)}); it will be seen as stale`,
        );
      });
    }
    this.started = false;
    if (this.drivers.size === 0) await this.closeResources();
  }

  private async closeResources(): Promise<void> {
    await this.resources.close().catch((err: unknown) => {
      const causes = err instanceof AggregateError ? err.errors : [err];
      stderrLogger.warn(`Runner ${this.id}: cannot close what it held: ${causes.map(errorText).join("; ")}`);
    });
  }

  /**
   * Runs `fn` as this runner runs its tasks and triggers: with its config as
   * the current one (`currentRuntimeConfig`) and its resources as the
   * current runner's (`currentRunnerResources`). A service that runs
   * triggers for this runner (the triggerer) calls them through it.
   */
  inScope<T>(fn: () => T): T {
    return withRuntimeConfig(this.config, () => withRunnerResources(this.resources, fn));
  }

  /** Creates a queued DAG run (nothing runs until {@link runDagRun} or `resume`). */
  async createDagRun(dag: DAG, options: CreateDagRunOptions = {}): Promise<DagRunRow> {
    dag.validate();
    const logicalDate = options.logicalDate ?? this.clock.now();
    const conf = options.conf ?? {};
    if (typeof conf !== "object" || conf === null || Array.isArray(conf)) {
      throw new RuntimeError("invalid_argument", 'conf must be a JSON object, e.g. {"key": "value"}');
    }
    const row: DagRunRow = {
      dagId: dag.dagId,
      runId: options.runId ?? `${options.runType ?? "manual"}__${dateStrings(logicalDate).ts}`,
      logicalDateMs: logicalDate.getTime(),
      conf: serializeValue(conf, "conf"),
      dagFile: options.dagFile ?? dag.fileloc ?? "",
      state: "queued",
      runType: options.runType ?? "manual",
      runnerId: null,
      createdMs: this.clock.nowMs(),
      endMs: null,
      dataIntervalStartMs: options.dataIntervalStart?.getTime() ?? null,
      dataIntervalEndMs: options.dataIntervalEnd?.getTime() ?? null,
    };
    await this.store.createDagRun(row);
    return row;
  }

  /**
   * Drives a DAG run until it finishes (or this runner is shut down). When
   * another live runner drives it, or claims it first, this fails with a
   * RuntimeError of code `conflict`. A run
   * left by a dead runner is recovered first: its running tries are failed
   * into their next try (after `onKill()` when `tasks kill` asked for it);
   * deferred tasks get their triggers back; task instances marked failed
   * while no try ran get their `onKill()`.
   * `onlyTaskIds` runs just those tasks, ignoring their dependencies (`tasks test`).
   */
  async runDagRun(
    dag: DAG,
    runId: string,
    options: {
      onlyTaskIds?: string[];
      /** A run found finished is a `conflict` (another runner finished it) rather than its state (`resume`). */
      unfinishedOnly?: boolean;
    } = {},
  ): Promise<DagRunState | "interrupted"> {
    await this.start();
    dag.validate();
    const run = await this.store.getDagRun(dag.dagId, runId);
    if (!run)
      throw new RuntimeError(
        "not_found",
        `DAG run ${dag.dagId}/${runId} does not exist; create it with dags trigger`,
      );
    if (run.state === "success" || run.state === "failed") {
      if (options.unfinishedOnly) {
        throw new RuntimeError(
          "conflict",
          `DAG run ${dag.dagId}/${runId} was finished (${run.state}) by another runner`,
        );
      }
      return run.state;
    }
    if (run.runnerId && run.runnerId !== this.id && (await this.isRunnerAlive(run.runnerId))) {
      throw new RuntimeError(
        "conflict",
        `DAG run ${dag.dagId}/${runId} is being run by live runner ${run.runnerId}; wait for it or kill that process first`,
      );
    }
    const claimed = await this.store.updateDagRun(
      dag.dagId,
      runId,
      { runnerId: this.id, state: "running" },
      { runnerId: run.runnerId },
    );
    if (!claimed)
      throw new RuntimeError("conflict", `DAG run ${dag.dagId}/${runId} was claimed by another runner`);
    const driver = new RunDriver(this, dag, run, options.onlyTaskIds, this.templateEnv, this.onEvent);
    this.drivers.add(driver);
    try {
      // Operators built while the run goes (mapped task instances) take their defaults from this runner's
      // settings, as the run's tasks read theirs, whoever made the runner; the run's tasks and triggers
      // share this runner's resources (one Armada connection pool per runner, not per process).
      return await this.inScope(async () => {
        await driver.recover();
        return await driver.drive();
      });
    } finally {
      this.drivers.delete(driver);
      await driver.flushLogs().catch((err: unknown) => {
        stderrLogger.error(
          `DAG run ${dag.dagId}/${runId}: the last task log lines could not be stored: ${errorText(err)}`,
        );
      });
      await this.store
        .updateDagRun(dag.dagId, runId, { runnerId: null }, { runnerId: this.id })
        .catch((err: unknown) => {
          // The claim stays until this process is gone; the next runner sees it dead and takes the run.
          stderrLogger.warn(`DAG run ${dag.dagId}/${runId}: cannot release the run (${errorText(err)})`);
        });
      // Stopped while this run went on: its resources were left to the last run to end.
      if (!this.started && this.drivers.size === 0) await this.closeResources();
    }
  }

  /**
   * Stops every run this runner drives (SIGINT/SIGTERM): running tries get
   * `onKill()` and end FAILED or UP_FOR_RETRY; deferred tasks likewise, then
   * their triggers are removed (with `cleanup()`). Runs stay resumable.
   */
  async shutdown(reason: string): Promise<void> {
    // In scope: the kills and trigger cleanups it runs reach Armada through this runner's clients.
    await this.inScope(() => Promise.all([...this.drivers].map((d) => d.shutdown(reason))));
  }

  /** True when the runner `id` still runs (same host: its pid exists; else a recent heartbeat). */
  async isRunnerAlive(id: string): Promise<boolean> {
    if (id === this.id) return true;
    return isProcessAlive(this.store, id, this.staleAfterMs ?? Math.max(30_000, this.heartbeatMs * 10));
  }
}
