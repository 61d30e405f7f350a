import type { DagRunState, TaskInstanceState } from "../state.js";

/** A stored DAG run. Times are epoch milliseconds. */
export interface DagRunRow {
  dagId: string;
  runId: string;
  logicalDateMs: number;
  /** JSON object text. */
  conf: string;
  /** Absolute path of the DAG file, so `resume` can load it again. */
  dagFile: string;
  state: DagRunState;
  runType: string;
  /** The runner process driving the run, when one claimed it. */
  runnerId: string | null;
  createdMs: number;
  endMs: number | null;
  /** The run's data interval; absent or null on runs made before intervals were stored (then the logical date). */
  dataIntervalStartMs?: number | null;
  dataIntervalEndMs?: number | null;
}

/** A DAG the scheduler has seen. */
export interface DagRow {
  dagId: string;
  /** Absolute path of its file. */
  fileloc: string;
  /** The schedule as written, null for manual only. */
  schedule: string | null;
  isPaused: boolean;
  /** False once its file is gone or no longer defines it. */
  isActive: boolean;
  lastParsedMs: number;
}

/** A DAG file that failed to load, as the scheduler last saw it. */
export interface ImportErrorRow {
  filename: string;
  error: string;
  timestampMs: number;
}

/** A stored task instance (one per task and map index; mapped tasks have indexes 0..n-1). */
export interface TaskInstanceRow {
  dagId: string;
  runId: string;
  taskId: string;
  mapIndex: number;
  state: TaskInstanceState;
  tryNumber: number;
  maxTries: number;
  /** Method to call on resume from deferral (Airflow's `next_method`). */
  nextMethod: string | null;
  /** JSON `{kwargs, event}` for the resume (Airflow's `next_kwargs`). */
  nextKwargs: string | null;
  /** When an UP_FOR_RETRY instance may run again. */
  nextRetryMs: number | null;
  startMs: number | null;
  endMs: number | null;
  /** Runner that is executing (or whose triggerer is watching) the instance. */
  runnerId: string | null;
  /** Set by `tasks kill`: the owning runner kills the try. */
  killRequested: boolean;
  updatedMs: number;
  /**
   * The run's change counter at this row's last write (set by the store, read
   * only): {@link Store.listTaskInstancesChangedSince} pages on it.
   */
  changeSeq?: number;
  /** The pool the current (or last) try took its slots from; set when a try starts. */
  pool?: string | null;
  /** How many slots of {@link pool} it takes. */
  poolSlots?: number | null;
}

/** A pool of slots (see src/runtime/pools.ts). */
export interface PoolRow {
  name: string;
  /** How many slots the task instances of the pool may take at once. */
  slots: number;
  description: string;
  /** Deferred task instances keep their slots (Airflow's `include_deferred`). */
  includeDeferred: boolean;
}

/** Slots of a pool taken now, by state. */
export interface PoolUsage {
  pool: string;
  /** Slots of RUNNING (and QUEUED) task instances. */
  running: number;
  /** Slots of DEFERRED task instances (they count against the pool only with `includeDeferred`). */
  deferred: number;
}

/** One try of a task instance (Airflow's task instance history). */
export interface TaskTryRow {
  dagId: string;
  runId: string;
  taskId: string;
  mapIndex: number;
  tryNumber: number;
  state: TaskInstanceState;
  startMs: number;
  endMs: number | null;
  error: string | null;
}

/** A stored XCom; `value` is serde JSON text. */
export interface XComRow {
  dagId: string;
  runId: string;
  taskId: string;
  mapIndex: number;
  tryNumber: number;
  key: string;
  value: string;
  createdMs: number;
}

/** A persisted trigger of a deferred task instance. */
export interface TriggerRow {
  id: string;
  dagId: string;
  runId: string;
  taskId: string;
  mapIndex: number;
  classpath: string;
  /** JSON kwargs from `serialize()`. */
  kwargs: string;
  createdMs: number;
  /** When the deferral times out. */
  timeoutMs: number | null;
  /**
   * The process that runs the trigger (a runner's or triggerer's id), null
   * while none has claimed it (see {@link Store.claimTriggers}).
   */
  triggererId?: string | null;
}

/** A trigger a triggerer holds, with the state of its task instance as stored now. */
export interface HeldTrigger {
  trigger: TriggerRow;
  /** The task instance's state and try; null when it is gone (its run was deleted). */
  state: TaskInstanceState | null;
  tryNumber: number | null;
}

/** One task log line. */
export interface LogRow {
  dagId: string;
  runId: string;
  taskId: string;
  mapIndex: number;
  tryNumber: number;
  tsMs: number;
  level: string;
  message: string;
  /**
   * Orders lines logged in the same millisecond (the runner's counter); the
   * store assigns one when omitted.
   */
  seq?: number;
}

/** A runner process (for ownership and liveness). */
export interface RunnerRow {
  id: string;
  pid: number;
  hostname: string;
  startedMs: number;
  heartbeatMs: number;
}

/** Identifies a task instance. */
export interface TiKey {
  dagId: string;
  runId: string;
  taskId: string;
  mapIndex: number;
}

/** Fields of a task instance that can change. */
export type TaskInstancePatch = Partial<Omit<TaskInstanceRow, keyof TiKey | "changeSeq">>;

/** What a {@link TaskTransition} is, for logs and fault injection. */
export type TransitionKind =
  | "start"
  | "resume"
  | "reclaim"
  | "success"
  | "skipped"
  | "defer"
  | "fire"
  | "end"
  | "retry"
  | "fail"
  | "external"
  | "settle";

/**
 * One change of a task instance, written atomically: the compare-and-set on
 * the task instance, its try's history row and its trigger commit together or
 * not at all, so a crash can never leave a try RUNNING under a finished task
 * instance, or a deferral without its trigger.
 */
export interface TaskTransition {
  kind: TransitionKind;
  key: TiKey;
  /** The change applies only while the row is in one of these states (and at this try, when given). */
  expected: { states: TaskInstanceState[]; tryNumber?: number };
  patch: TaskInstancePatch;
  /** The try's history row, upserted with the change. */
  tryRow?: TaskTryRow;
  /**
   * A deferral's trigger to insert, or a fired trigger to delete, with the
   * change. A trigger whose task leaves DEFERRED any other way is deleted
   * only after its `cleanup()` ran (the row is the record that cleanup is owed).
   */
  trigger?: { insert: TriggerRow } | { deleteId: string };
  /**
   * Slots to take from a pool with the change (a try's start or resume): the
   * pool's row is locked and its taken slots are counted in the same
   * transaction, so runners in any number of processes never together
   * exceed the pool. When they do not fit (or the pool does not exist) the
   * transition writes nothing and throws `PoolSlotsUnavailable` (src/runtime/pools.ts).
   */
  pool?: { name: string; slots: number };
}

/**
 * Everything the runtime persists, behind one interface with a SQLite and a
 * PostgreSQL implementation (the same test suite runs against both).
 */
export interface Store {
  /** `sqlite` or `postgres`. */
  readonly dialect: "sqlite" | "postgres";

  createDagRun(row: DagRunRow): Promise<void>;
  getDagRun(dagId: string, runId: string): Promise<DagRunRow | undefined>;
  listDagRuns(filter?: { dagId?: string; states?: DagRunState[] }): Promise<DagRunRow[]>;
  /** Updates a run; with `expectRunnerId` only when the run is still owned by that runner (or unowned for `null`). */
  updateDagRun(
    dagId: string,
    runId: string,
    patch: Partial<Pick<DagRunRow, "state" | "runnerId" | "endMs">>,
    expect?: { runnerId?: string | null },
  ): Promise<boolean>;

  /** Inserts task instances; existing keys are left untouched. */
  insertTaskInstances(rows: TaskInstanceRow[]): Promise<void>;
  getTaskInstance(key: TiKey): Promise<TaskInstanceRow | undefined>;
  listTaskInstances(dagId: string, runId: string): Promise<TaskInstanceRow[]>;
  /**
   * Updates a task instance. With `expectStates`, only when its state is one
   * of them (compare-and-set); returns whether a row changed.
   */
  updateTaskInstance(
    key: TiKey,
    patch: TaskInstancePatch,
    expect?: { states?: TaskInstanceState[]; tryNumber?: number },
  ): Promise<boolean>;

  /**
   * Applies a {@link TaskTransition} in one transaction; returns false (and
   * writes nothing) when the expected state no longer holds.
   */
  transition(t: TaskTransition): Promise<boolean>;

  /**
   * Task instances of a run written (by any process) after change number
   * `afterSeq`, in change order. Every write of a run's task instances takes
   * the next number of the run's counter and commits in that order, so a
   * reader that keeps the highest `changeSeq` it saw misses nothing and
   * reads each change once: the cost of a look is the number of changes,
   * not the number of tasks. With `limit`, one page: the first `limit` rows,
   * and the rest of any change number the page would cut (so a reader that
   * goes on from the highest number it saw misses nothing); a page of fewer
   * than `limit` rows is the last.
   */
  listTaskInstancesChangedSince(
    dagId: string,
    runId: string,
    afterSeq: number,
    limit?: number,
  ): Promise<TaskInstanceRow[]>;

  /** Task instances of a run in the given states only (uses an index; for scheduling at scale). */
  listTaskInstancesInStates(
    dagId: string,
    runId: string,
    states: TaskInstanceState[],
  ): Promise<TaskInstanceRow[]>;
  /** Try numbers of a run's task instances, optionally of some tasks only (what XCom pulls need). */
  listTryNumbers(
    dagId: string,
    runId: string,
    taskIds?: string[],
  ): Promise<{ taskId: string; mapIndex: number; tryNumber: number }[]>;

  upsertTaskTry(row: TaskTryRow): Promise<void>;
  listTaskTries(key: TiKey): Promise<TaskTryRow[]>;

  setXCom(row: XComRow): Promise<void>;
  /** XComs of a run, optionally narrowed. */
  listXComs(filter: {
    dagId: string;
    runId: string;
    taskIds?: string[];
    key?: string;
    mapIndexes?: number[];
  }): Promise<XComRow[]>;

  insertTrigger(row: TriggerRow): Promise<void>;
  deleteTrigger(id: string): Promise<void>;
  listTriggers(filter?: { dagId?: string; runId?: string }): Promise<TriggerRow[]>;
  /** Triggers of one task instance. */
  listTriggersOf(key: TiKey): Promise<TriggerRow[]>;
  /**
   * Makes `holder` the process that runs triggers nobody holds, or whose
   * holder `isHolderAlive` says is dead: all such triggers, or those of
   * `ids` only, at most `limit`. Each trigger goes to one claimer however
   * many claim at once (a compare-and-set on the holder; PostgreSQL: the
   * rows are locked `FOR UPDATE SKIP LOCKED`, so claimers do not queue on
   * each other). Returns the triggers claimed.
   */
  claimTriggers(options: {
    holder: string;
    isHolderAlive: (holder: string) => Promise<boolean>;
    ids?: string[];
    limit?: number;
  }): Promise<TriggerRow[]>;
  /** The triggers `holder` holds, each with its task instance (one query). */
  listTriggersHeldBy(holder: string): Promise<HeldTrigger[]>;
  /** Gives up every trigger `holder` holds (a clean stop: the next triggerer takes them at once). */
  releaseTriggers(holder: string): Promise<void>;

  appendLogs(rows: LogRow[]): Promise<void>;
  listLogs(filter: {
    dagId: string;
    runId: string;
    taskId?: string;
    mapIndex?: number;
    tryNumber?: number;
  }): Promise<LogRow[]>;

  upsertRunner(row: RunnerRow): Promise<void>;
  getRunner(id: string): Promise<RunnerRow | undefined>;
  deleteRunner(id: string): Promise<void>;

  /** Deletes a DAG run with its task instances, tries, XComs, triggers and logs; false when there was none. */
  deleteDagRun(dagId: string, runId: string): Promise<boolean>;
  /** The scheduled run with the latest logical date (where the schedule continues from). */
  latestScheduledRun(dagId: string): Promise<DagRunRow | undefined>;
  /**
   * Moves up to `maxActiveRuns` minus the DAG's running runs from QUEUED to
   * RUNNING, claimed by `runnerId`, oldest logical date first, in one
   * transaction that locks the DAG's row (PostgreSQL: `FOR UPDATE SKIP
   * LOCKED`, so schedulers never together exceed the limit). `runTypes`
   * narrows which queued runs may start. Returns the claimed runs.
   */
  claimQueuedRuns(options: {
    dagId: string;
    runnerId: string;
    maxActiveRuns: number;
    runTypes?: string[];
  }): Promise<DagRunRow[]>;

  /** Registers a DAG (new ones get `isPaused`), or refreshes its file and schedule (keeping its paused flag). */
  upsertDag(row: DagRow): Promise<void>;
  listDags(): Promise<DagRow[]>;
  getDag(dagId: string): Promise<DagRow | undefined>;
  /** Pauses or unpauses; false when the DAG is unknown. */
  setDagPaused(dagId: string, paused: boolean): Promise<boolean>;
  /** Marks DAGs inactive (their file is gone or no longer defines them). */
  deactivateDags(dagIds: string[]): Promise<void>;

  setImportError(row: ImportErrorRow): Promise<void>;
  clearImportError(filename: string): Promise<void>;
  listImportErrors(): Promise<ImportErrorRow[]>;

  /**
   * Takes the named lock for `holder`, or takes it over when
   * `isHolderAlive` says its holder is gone (compare-and-set, so of two
   * takers only one wins). Returns the holder after the attempt.
   */
  acquireLock(
    name: string,
    holder: string,
    isHolderAlive: (holder: string) => Promise<boolean>,
    nowMs: number,
  ): Promise<string>;
  /** Releases the lock when `holder` has it. */
  releaseLock(name: string, holder: string): Promise<void>;

  /** Creates or replaces a pool. */
  setPool(row: PoolRow): Promise<void>;
  getPool(name: string): Promise<PoolRow | undefined>;
  listPools(): Promise<PoolRow[]>;
  /** Deletes a pool; false when there was none. */
  deletePool(name: string): Promise<boolean>;
  /** Slots taken now in each pool that has any (an index lookup per state, not a scan). */
  poolUsage(): Promise<PoolUsage[]>;
  /** Task instances RUNNING under runner `runnerId`, across all runs (what its `[core] parallelism` counts). */
  countRunningOf(runnerId: string): Promise<number>;

  /** The applied schema version (number of migrations). */
  schemaVersion(): Promise<number>;
  close(): Promise<void>;
}
