import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { setImmediate as nextTurn } from "node:timers/promises";
import Database from "better-sqlite3";
import {
  Kysely,
  Migrator,
  type CompiledQuery,
  PostgresDialect,
  SqliteDialect,
  sql,
  type ExpressionBuilder,
  type Migration,
  type MigrationProvider,
} from "kysely";
import pg from "pg";
import { RuntimeError } from "../errors.js";
import { PoolSlotsUnavailable } from "../pools.js";
import type { DagRunState, TaskInstanceState } from "../state.js";
import { MIGRATIONS } from "./migrations.js";
import { QueryShapes, type Param } from "./query-shapes.js";
import { MAIN_THREAD_AUTOCHECKPOINT_PAGES, WalCheckpointer } from "./wal-checkpointer.js";
import { runStepsIn, SqliteWriteGroup, type WriteSteps } from "./write-steps.js";
import { interned } from "./interned-strings.js";
import type {
  DagRow,
  DagRunRow,
  HeldTrigger,
  ImportErrorRow,
  LogRow,
  PoolRow,
  PoolUsage,
  RunnerRow,
  Store,
  TaskInstancePatch,
  TaskInstanceRow,
  TaskTransition,
  TaskTryRow,
  TiKey,
  TransitionKind,
  TriggerRow,
  XComRow,
} from "./store.js";

interface DagRunTable {
  dag_id: string;
  run_id: string;
  logical_date_ms: number;
  conf: string;
  dag_file: string;
  state: string;
  run_type: string;
  runner_id: string | null;
  created_ms: number;
  end_ms: number | null;
  change_seq?: number;
  data_interval_start_ms: number | null;
  data_interval_end_ms: number | null;
}
interface DagTable {
  dag_id: string;
  fileloc: string;
  schedule: string | null;
  is_paused: number;
  is_active: number;
  last_parsed_ms: number;
}
interface ImportErrorTable {
  filename: string;
  error: string;
  timestamp_ms: number;
}
interface SchedulerLockTable {
  name: string;
  holder: string;
  acquired_ms: number;
}
interface TaskInstanceTable {
  dag_id: string;
  run_id: string;
  task_id: string;
  map_index: number;
  state: string;
  try_number: number;
  max_tries: number;
  next_method: string | null;
  next_kwargs: string | null;
  next_retry_ms: number | null;
  start_ms: number | null;
  end_ms: number | null;
  runner_id: string | null;
  kill_requested: number;
  updated_ms: number;
  change_seq: number;
  pool: string | null;
  pool_slots: number | null;
}
interface PoolTable {
  name: string;
  slots: number;
  description: string;
  include_deferred: number;
}
interface TaskTryTable {
  dag_id: string;
  run_id: string;
  task_id: string;
  map_index: number;
  try_number: number;
  state: string;
  start_ms: number;
  end_ms: number | null;
  error: string | null;
}
interface XComTable {
  dag_id: string;
  run_id: string;
  task_id: string;
  map_index: number;
  try_number: number;
  key: string;
  value: string;
  created_ms: number;
}
interface TriggerTable {
  id: string;
  dag_id: string;
  run_id: string;
  task_id: string;
  map_index: number;
  classpath: string;
  kwargs: string;
  created_ms: number;
  timeout_ms: number | null;
  triggerer_id: string | null;
}
interface LogTable {
  dag_id: string;
  run_id: string;
  task_id: string;
  map_index: number;
  try_number: number;
  ts_ms: number;
  level: string;
  message: string;
  seq: number;
}
interface RunnerTable {
  id: string;
  pid: number;
  hostname: string;
  started_ms: number;
  heartbeat_ms: number;
}
interface Schema {
  dag_run: DagRunTable;
  task_instance: TaskInstanceTable;
  task_try: TaskTryTable;
  xcom: XComTable;
  trigger: TriggerTable;
  task_log: LogTable;
  runner: RunnerTable;
  dag: DagTable;
  import_error: ImportErrorTable;
  scheduler_lock: SchedulerLockTable;
  pool: PoolTable;
}

const MIGRATION_TABLE = "armada_airflow_migration";

const toDagRun = (r: DagRunTable): DagRunRow => ({
  dagId: r.dag_id,
  runId: r.run_id,
  logicalDateMs: Number(r.logical_date_ms),
  conf: r.conf,
  dagFile: r.dag_file,
  state: r.state as DagRunState,
  runType: r.run_type,
  runnerId: r.runner_id,
  createdMs: Number(r.created_ms),
  endMs: r.end_ms === null ? null : Number(r.end_ms),
  dataIntervalStartMs: r.data_interval_start_ms === null ? null : Number(r.data_interval_start_ms),
  dataIntervalEndMs: r.data_interval_end_ms === null ? null : Number(r.data_interval_end_ms),
});

const toPool = (r: PoolTable): PoolRow => ({
  name: r.name,
  slots: Number(r.slots),
  description: r.description,
  includeDeferred: Boolean(r.include_deferred),
});

const toDag = (r: DagTable): DagRow => ({
  dagId: r.dag_id,
  fileloc: r.fileloc,
  schedule: r.schedule,
  isPaused: Boolean(r.is_paused),
  isActive: Boolean(r.is_active),
  lastParsedMs: Number(r.last_parsed_ms),
});

const num = (v: number | null): number | null => (v === null ? null : Number(v));

const toTi = (r: TaskInstanceTable): TaskInstanceRow => ({
  dagId: interned(r.dag_id),
  runId: interned(r.run_id),
  taskId: interned(r.task_id),
  mapIndex: r.map_index,
  state: interned(r.state) as TaskInstanceState,
  tryNumber: r.try_number,
  maxTries: r.max_tries,
  nextMethod: interned(r.next_method),
  nextKwargs: r.next_kwargs,
  nextRetryMs: num(r.next_retry_ms),
  startMs: num(r.start_ms),
  endMs: num(r.end_ms),
  runnerId: interned(r.runner_id),
  killRequested: Boolean(r.kill_requested),
  updatedMs: Number(r.updated_ms),
  changeSeq: Number(r.change_seq),
  pool: interned(r.pool),
  poolSlots: r.pool_slots === null ? null : Number(r.pool_slots),
});

function tiPatch(patch: TaskInstancePatch): Partial<TaskInstanceTable> {
  const out: Partial<TaskInstanceTable> = {};
  const map: Record<string, keyof TaskInstanceTable> = {
    state: "state",
    tryNumber: "try_number",
    maxTries: "max_tries",
    nextMethod: "next_method",
    nextKwargs: "next_kwargs",
    nextRetryMs: "next_retry_ms",
    startMs: "start_ms",
    endMs: "end_ms",
    runnerId: "runner_id",
    updatedMs: "updated_ms",
    pool: "pool",
    poolSlots: "pool_slots",
  };
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue;
    if (k === "killRequested") out.kill_requested = v ? 1 : 0;
    else if (map[k]) (out as Record<string, unknown>)[map[k]] = v;
  }
  return out;
}

/**
 * Rows per bulk statement: SQLite allows 32,766 bound variables per statement
 * and PostgreSQL 65,535; 500 rows of at most 15 columns stay far below both.
 */
export const BULK_CHUNK_ROWS = 500;

function* chunks<T>(rows: readonly T[], size = BULK_CHUNK_ROWS): Generator<T[]> {
  for (let i = 0; i < rows.length; i += size) yield rows.slice(i, i + size);
}

const tiValues = (r: TaskInstanceRow, changeSeq: number): TaskInstanceTable => ({
  dag_id: r.dagId,
  run_id: r.runId,
  task_id: r.taskId,
  map_index: r.mapIndex,
  state: r.state,
  try_number: r.tryNumber,
  max_tries: r.maxTries,
  next_method: r.nextMethod,
  next_kwargs: r.nextKwargs,
  next_retry_ms: r.nextRetryMs,
  start_ms: r.startMs,
  end_ms: r.endMs,
  runner_id: r.runnerId,
  kill_requested: r.killRequested ? 1 : 0,
  updated_ms: r.updatedMs,
  change_seq: changeSeq,
  pool: r.pool ?? null,
  pool_slots: r.poolSlots ?? null,
});

const triggerValues = (r: TriggerRow): TriggerTable => ({
  id: r.id,
  dag_id: r.dagId,
  run_id: r.runId,
  task_id: r.taskId,
  map_index: r.mapIndex,
  classpath: r.classpath,
  kwargs: r.kwargs,
  created_ms: r.createdMs,
  timeout_ms: r.timeoutMs,
  triggerer_id: r.triggererId ?? null,
});

const toTrigger = (r: TriggerTable): TriggerRow => ({
  id: r.id,
  dagId: interned(r.dag_id),
  runId: interned(r.run_id),
  taskId: interned(r.task_id),
  mapIndex: r.map_index,
  classpath: interned(r.classpath),
  kwargs: r.kwargs,
  createdMs: Number(r.created_ms),
  timeoutMs: num(r.timeout_ms),
  triggererId: r.triggerer_id,
});

/**
 * A test-only fault: the process kills itself with SIGKILL inside the
 * transaction of the `nth` transition of `kind`, after its first statement,
 * to prove that a crash there commits nothing.
 */
export interface TransitionKillPoint {
  kind: TransitionKind;
  /** @default 1 */
  nth?: number;
}

/** Parses `ARMADA_AIRFLOW_TEST_KILL_IN_TRANSITION` (`kind` or `kind:nth`). */
export function parseTransitionKillPoint(text: string | undefined): TransitionKillPoint | undefined {
  if (!text) return undefined;
  const [kind, nth] = text.split(":");
  return { kind: kind as TransitionKind, nth: nth ? Number(nth) : 1 };
}

/** Where a store lives. */
export interface StoreLocation {
  /** `postgres://...`/`postgresql://...`, `sqlite:<file>`, or a file path; default SQLite under `home`. */
  url?: string;
  /** Directory of the default SQLite file (`<home>/armada-airflow.db`). */
  home: string;
  /** Test-only: see {@link TransitionKillPoint}. */
  killInTransition?: TransitionKillPoint;
}

/** Distinct SQL texts whose prepared statements are kept (IN lists of varying length make more). */
const STATEMENT_CACHE_SIZE = 256;

/** Rows one statement of a full read of a run's task instances takes (see `selectTaskInstances`). */
const READ_PAGE_ROWS = 2_000;

/**
 * The database as Kysely's SQLite driver sees it, with `prepare` answered
 * from a cache: the driver prepares every query afresh, and at thousands of
 * task instances compiling the same few statements again was a tenth of the
 * runner's CPU. A statement is reusable once a call on it returned (the
 * driver never iterates one lazily).
 */
function withStatementCache(database: Database.Database): Database.Database {
  const cache = new Map<string, Database.Statement>();
  const prepare = (sqlText: string): Database.Statement => {
    let stmt = cache.get(sqlText);
    if (stmt) {
      // Most recently used last, so the first key is the one to evict.
      cache.delete(sqlText);
    } else {
      stmt = database.prepare(sqlText);
      if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
    }
    cache.set(sqlText, stmt);
    return stmt;
  };
  return new Proxy(database, {
    get(target, prop, receiver) {
      if (prop === "prepare") return prepare;
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** A try's key columns (of `task_try` and `xcom` rows) as the named values of a query shape. */
const tryKeyParams = (p: Param) => ({
  dag_id: p("dagId"),
  run_id: p("runId"),
  task_id: p("taskId"),
  map_index: p("mapIndex"),
  try_number: p("tryNumber"),
});

/** The store implementation for SQLite and PostgreSQL (one schema, Kysely). */
export class KyselyStore implements Store {
  readonly dialect: "sqlite" | "postgres";
  /** Where the store is, secrets removed (for messages). */
  readonly description: string;
  private readonly db: Kysely<Schema>;
  private killPoint: TransitionKillPoint | undefined;
  private readonly transitionsSeen = new Map<TransitionKind, number>();
  /** Assigns `seq` to log lines that come without one, in append order. */
  private logSeq = 0;
  /** The hot statements, each compiled once (see {@link QueryShapes}). */
  private readonly shapes = new QueryShapes();
  /** SQLite: the writes of one event-loop turn share a commit (see {@link SqliteWriteGroup}). */
  private readonly writes: SqliteWriteGroup | undefined;
  /** SQLite: checkpoints the WAL off the event loop once it has grown (see {@link WalCheckpointer}). */
  readonly walCheckpointer: WalCheckpointer | undefined;

  private constructor(
    db: Kysely<Schema>,
    dialect: "sqlite" | "postgres",
    description: string,
    database?: Database.Database,
  ) {
    this.db = db;
    this.dialect = dialect;
    this.description = description;
    const checkpointer =
      database &&
      new WalCheckpointer(description, (pages) => {
        try {
          database.pragma(`wal_autocheckpoint = ${pages}`);
        } catch {
          // closed meanwhile: nothing left to checkpoint from this connection
        }
      });
    this.walCheckpointer = checkpointer;
    this.writes = database && new SqliteWriteGroup(db as unknown as Kysely<never>, database, checkpointer);
  }

  /** Runs a write's steps atomically: SQLite in the turn's shared transaction, PostgreSQL in one of its own. */
  private write<T>(steps: () => WriteSteps<T>): Promise<T> {
    if (this.writes) return this.writes.run(steps);
    return (this.db as unknown as Kysely<never>).transaction().execute((trx) => runStepsIn(trx, steps()));
  }

  /** Runs one write statement: SQLite in the turn's shared transaction, PostgreSQL alone (it needs no transaction). */
  private async writeStatement(q: CompiledQuery): Promise<void> {
    if (this.writes) {
      await this.writes.run(function* (): WriteSteps<void> {
        yield q;
      });
    } else await this.db.executeQuery(q);
  }

  /** Opens (and migrates) the store; refuses a database migrated by a newer version. */
  static async open(location: StoreLocation): Promise<KyselyStore> {
    const url = location.url;
    let store: KyselyStore;
    if (url && /^postgres(ql)?:\/\//.test(url)) {
      const pool = new pg.Pool({ connectionString: url, max: 8 });
      const safe = url.replace(/\/\/([^:@/]*):([^@/]*)@/, "//$1:***@");
      store = new KyselyStore(
        new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) }),
        "postgres",
        safe,
      );
    } else {
      const scheme = url ? /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1] : undefined;
      if (scheme && scheme.toLowerCase() !== "sqlite") {
        throw new RuntimeError(
          "invalid_argument",
          `database URL scheme "${scheme}:" is not supported (--db / [database] url); use postgres://user@host/db, sqlite:<file> or a file path`,
        );
      }
      const file = url
        ? path.resolve(url.replace(/^sqlite:(\/\/)?/, ""))
        : path.join(location.home, "armada-airflow.db");
      if (url) {
        // A path the user gave: a missing folder is a typo more often than a wish, so it is not created.
        if (!existsSync(path.dirname(file))) {
          throw new RuntimeError(
            "invalid_argument",
            `the folder ${path.dirname(file)} of the SQLite database ${file} (--db / [database] url) does not exist; create it or choose another path`,
          );
        }
      } else {
        try {
          mkdirSync(location.home, { recursive: true });
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          throw new RuntimeError(
            "invalid_argument",
            code === "EEXIST" || code === "ENOTDIR"
              ? `ARMADA_AIRFLOW_HOME (${location.home}) is a file, not a folder; point it at a folder`
              : `cannot create the runtime home ${location.home} (ARMADA_AIRFLOW_HOME): ${(err as Error).message}`,
            { cause: err },
          );
        }
      }
      const database = withStatementCache(new Database(file));
      // WAL lets the CLI read and mark tasks while a runner writes; busy_timeout waits for the writer lock.
      database.pragma("journal_mode = WAL");
      database.pragma("busy_timeout = 10000");
      database.pragma("synchronous = NORMAL");
      // Checkpoints every 10,000 WAL pages (about 40 MiB), not SQLite's 1,000: a checkpoint copies pages back
      // and syncs the file inside some commit, and at that pace it was 40% of what a runner's commits cost.
      // A store that writes much has a worker thread do most of that work ahead of it (WalCheckpointer).
      database.pragma(`wal_autocheckpoint = ${MAIN_THREAD_AUTOCHECKPOINT_PAGES}`);
      database.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
      store = new KyselyStore(
        new Kysely<Schema>({ dialect: new SqliteDialect({ database }) }),
        "sqlite",
        file,
        database,
      );
    }
    try {
      await store.migrate();
    } catch (err) {
      await store.close();
      throw err;
    }
    store.killPoint = location.killInTransition;
    return store;
  }

  private async appliedMigrations(): Promise<string[]> {
    // Only a missing migration table means "nothing applied"; any other error (locked, no permission, ...) is real.
    const tables = await this.db.introspection.getTables();
    if (!tables.some((t) => t.name === MIGRATION_TABLE)) return [];
    const rows = await sql<{ name: string }>`select name from ${sql.table(MIGRATION_TABLE)}`.execute(this.db);
    return rows.rows.map((r) => r.name);
  }

  private async migrate(): Promise<void> {
    const known = Object.keys(MIGRATIONS).sort();
    const applied = await this.appliedMigrations();
    const unknown = applied.filter((n) => !known.includes(n));
    if (unknown.length > 0) {
      throw new RuntimeError(
        "store_too_new",
        `the database ${this.description} has schema version ${applied.length} (migration ${unknown.sort()[0]}), ` +
          `newer than this armada-airflow, which knows ${known.length} migrations up to ${known.at(-1)}; ` +
          `upgrade armada-airflow or point ARMADA_AIRFLOW_HOME / --db at another database`,
      );
    }
    const provider: MigrationProvider = {
      getMigrations: async () => MIGRATIONS as Record<string, Migration>,
    };
    const migrator = new Migrator({
      db: this.db,
      provider,
      migrationTableName: MIGRATION_TABLE,
      migrationLockTableName: `${MIGRATION_TABLE}_lock`,
    });
    const { error } = await migrator.migrateToLatest();
    if (error)
      throw new RuntimeError("store", `migrating ${this.description} failed: ${String(error)}`, {
        cause: error,
      });
  }

  async schemaVersion(): Promise<number> {
    return (await this.appliedMigrations()).length;
  }

  async createDagRun(r: DagRunRow): Promise<void> {
    try {
      await this.db
        .insertInto("dag_run")
        .values({
          dag_id: r.dagId,
          run_id: r.runId,
          logical_date_ms: r.logicalDateMs,
          conf: r.conf,
          dag_file: r.dagFile,
          state: r.state,
          run_type: r.runType,
          runner_id: r.runnerId,
          created_ms: r.createdMs,
          end_ms: r.endMs,
          data_interval_start_ms: r.dataIntervalStartMs ?? null,
          data_interval_end_ms: r.dataIntervalEndMs ?? null,
        })
        .execute();
    } catch (err) {
      throw new RuntimeError(
        "store",
        `cannot create DAG run ${r.dagId}/${r.runId} (does it exist already? use another run id)`,
        {
          cause: err,
        },
      );
    }
  }

  async getDagRun(dagId: string, runId: string): Promise<DagRunRow | undefined> {
    const r = await this.db
      .selectFrom("dag_run")
      .selectAll()
      .where("dag_id", "=", dagId)
      .where("run_id", "=", runId)
      .executeTakeFirst();
    return r ? toDagRun(r) : undefined;
  }

  async listDagRuns(filter: { dagId?: string; states?: DagRunState[] } = {}): Promise<DagRunRow[]> {
    let q = this.db.selectFrom("dag_run").selectAll();
    if (filter.dagId) q = q.where("dag_id", "=", filter.dagId);
    if (filter.states?.length) q = q.where("state", "in", filter.states);
    return (await q.orderBy("created_ms").orderBy("run_id").execute()).map(toDagRun);
  }

  async updateDagRun(
    dagId: string,
    runId: string,
    patch: Partial<Pick<DagRunRow, "state" | "runnerId" | "endMs">>,
    expect: { runnerId?: string | null } = {},
  ): Promise<boolean> {
    const values: Partial<DagRunTable> = {};
    if (patch.state !== undefined) values.state = patch.state;
    if (patch.runnerId !== undefined) values.runner_id = patch.runnerId;
    if (patch.endMs !== undefined) values.end_ms = patch.endMs;
    let q = this.db
      .updateTable("dag_run")
      .set(values)
      .where("dag_id", "=", dagId)
      .where("run_id", "=", runId);
    if (expect.runnerId !== undefined) {
      q =
        expect.runnerId === null
          ? q.where("runner_id", "is", null)
          : q.where("runner_id", "=", expect.runnerId);
    }
    const res = await q.executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  async insertTaskInstances(rows: TaskInstanceRow[]): Promise<void> {
    if (rows.length === 0) return;
    // One transaction, chunked statements: all or none of a mapped task's instances appear.
    await this.write(() => this.insertTaskInstancesSteps(rows));
  }

  private *insertTaskInstancesSteps(rows: TaskInstanceRow[]): WriteSteps<void> {
    // A change number per row (a run's rows take a range of its counter), so a reader can page
    // through 100,000 new instances a few thousand at a time.
    const counts = new Map<string, { dagId: string; runId: string; n: number; next: number }>();
    for (const r of rows) {
      const runKey = `${r.dagId}\u0000${r.runId}`;
      const c = counts.get(runKey);
      if (c) c.n++;
      else counts.set(runKey, { dagId: r.dagId, runId: r.runId, n: 1, next: 0 });
    }
    for (const c of counts.values()) {
      const last = yield* this.nextChangeSeq(c.dagId, c.runId, c.n);
      // 0 when the run row does not exist (store-only tests): every row then takes 0.
      c.next = last === 0 ? 0 : last - c.n + 1;
    }
    const seqOf = (r: TaskInstanceRow): number => {
      const c = counts.get(`${r.dagId}\u0000${r.runId}`)!;
      return c.next === 0 ? 0 : c.next++;
    };
    for (const part of chunks(rows)) {
      yield this.db
        .insertInto("task_instance")
        .values(part.map((r) => tiValues(r, seqOf(r))))
        .onConflict((oc) => oc.columns(["dag_id", "run_id", "task_id", "map_index"]).doNothing())
        .compile();
    }
  }

  /** The task instances of run `dagId`/`runId` (named values), the start of a query shape. */
  private runInstancesShape(p: Param) {
    return this.db
      .selectFrom("task_instance")
      .selectAll()
      .where("dag_id", "=", p("dagId"))
      .where("run_id", "=", p("runId"));
  }

  async getTaskInstance(k: TiKey): Promise<TaskInstanceRow | undefined> {
    const q = this.shapes.compiled(
      "getTaskInstance",
      (p) =>
        this.runInstancesShape(p).where("task_id", "=", p("taskId")).where("map_index", "=", p("mapIndex")),
      k,
    );
    const r = (await this.db.executeQuery(q)).rows[0];
    return r ? toTi(r) : undefined;
  }

  async listTaskInstancesInStates(
    dagId: string,
    runId: string,
    states: TaskInstanceState[],
  ): Promise<TaskInstanceRow[]> {
    if (states.length === 0) return [];
    return this.selectTaskInstances(dagId, runId, states);
  }

  /**
   * A run's task instances in key order, optionally in some states only. Read in pages by key, with a turn
   * of the event loop between them: the 100,000 rows of a large run read in one statement held the loop
   * for over a second (SQLite's reads are synchronous). Not one snapshot: a row that changes while later
   * pages are read is seen as it was, as if it changed just after the read.
   */
  private async selectTaskInstances(
    dagId: string,
    runId: string,
    states?: TaskInstanceState[],
  ): Promise<TaskInstanceRow[]> {
    const out: TaskInstanceRow[] = [];
    let after: { taskId: string; mapIndex: number } | undefined;
    for (;;) {
      let q = this.db
        .selectFrom("task_instance")
        .selectAll()
        .where("dag_id", "=", dagId)
        .where("run_id", "=", runId);
      if (states) q = q.where("state", "in", states);
      if (after) {
        const from = after;
        q = q.where((eb) =>
          eb(eb.refTuple("task_id", "map_index"), ">", eb.tuple(from.taskId, from.mapIndex)),
        );
      }
      const rows = await q.orderBy("task_id").orderBy("map_index").limit(READ_PAGE_ROWS).execute();
      for (const r of rows) out.push(toTi(r));
      if (rows.length < READ_PAGE_ROWS) return out;
      const last = rows[rows.length - 1]!;
      after = { taskId: last.task_id, mapIndex: last.map_index };
      await nextTurn();
    }
  }

  async listTryNumbers(
    dagId: string,
    runId: string,
    taskIds?: string[],
  ): Promise<{ taskId: string; mapIndex: number; tryNumber: number }[]> {
    const read = async (ids: string[] | undefined) => {
      let q = this.db
        .selectFrom("task_instance")
        .select(["task_id", "map_index", "try_number"])
        .where("dag_id", "=", dagId)
        .where("run_id", "=", runId);
      if (ids) q = q.where("task_id", "in", ids);
      return (await q.execute()).map((r) => ({
        taskId: r.task_id,
        mapIndex: r.map_index,
        tryNumber: r.try_number,
      }));
    };
    if (!taskIds) return read(undefined);
    const out: { taskId: string; mapIndex: number; tryNumber: number }[] = [];
    for (const part of chunks(taskIds)) out.push(...(await read(part)));
    return out;
  }

  async transition(t: TaskTransition): Promise<boolean> {
    return this.write(() => this.transitionSteps(t));
  }

  private *transitionSteps(t: TaskTransition): WriteSteps<boolean> {
    // The pool's row first: starts of one pool queue on it (before the run row, in every transaction).
    if (t.pool) yield* this.takePoolSlots(t.pool.name, t.pool.slots);
    const changed = yield* this.casTaskInstance(t.key, t.patch, t.expected);
    if (!changed) return false;
    this.maybeKillInTransition(t.kind);
    if (t.tryRow) yield this.upsertTaskTryQuery(t.tryRow);
    if (t.trigger && "insert" in t.trigger) yield this.insertTriggerQuery(t.trigger.insert);
    if (t.trigger && "deleteId" in t.trigger) yield this.deleteTriggerQuery(t.trigger.deleteId);
    return true;
  }

  /**
   * Locks the pool's row (PostgreSQL: `FOR UPDATE`; SQLite: the writer
   * lock, taken before anything is read) and counts the slots taken in it;
   * throws {@link PoolSlotsUnavailable} when `slots` more do not fit. The
   * count reads the pool's RUNNING/QUEUED (and DEFERRED) instances through
   * `task_instance_pool_idx` alone (a covering index): as many entries as the pool has takers.
   */
  private *takePoolSlots(name: string, slots: number): WriteSteps<void> {
    // PostgreSQL: the row lock. SQLite: a write first, so the transaction holds the writer lock before it
    // reads (a read first would make a later write fail when another process committed in between).
    const lock = this.shapes.compiled(
      "lockPool",
      (p) =>
        this.dialect === "postgres"
          ? this.db
              .selectFrom("pool")
              .select(["slots", "include_deferred"])
              .where("name", "=", p("name"))
              .forUpdate()
          : this.db
              .updateTable("pool")
              .set((eb) => ({ slots: eb.ref("slots") }))
              .where("name", "=", p("name"))
              .returning(["slots", "include_deferred"]),
      { name },
    );
    const pool = (yield lock).rows[0];
    if (!pool) throw new PoolSlotsUnavailable(name, { kind: "unknown" });
    const states = pool.include_deferred ? ["running", "queued", "deferred"] : ["running", "queued"];
    const count = this.shapes.compiled(
      `poolTaken:${states.length}`,
      (p) =>
        this.db
          .selectFrom("task_instance")
          .select((eb) => eb.fn.coalesce(eb.fn.sum<number>("pool_slots"), eb.lit(0)).as("n"))
          .where("state", "in", states)
          .where("pool", "=", p("name")),
      { name },
    );
    const { n } = (yield count).rows[0]!;
    const occupied = Number(n);
    const total = Number(pool.slots);
    if (occupied + slots > total)
      throw new PoolSlotsUnavailable(name, { kind: "full", occupied, total, needed: slots });
  }

  async setPool(r: PoolRow): Promise<void> {
    const values = {
      name: r.name,
      slots: r.slots,
      description: r.description,
      include_deferred: r.includeDeferred ? 1 : 0,
    };
    await this.db
      .insertInto("pool")
      .values(values)
      .onConflict((oc) =>
        oc.column("name").doUpdateSet({
          slots: values.slots,
          description: values.description,
          include_deferred: values.include_deferred,
        }),
      )
      .execute();
  }

  async getPool(name: string): Promise<PoolRow | undefined> {
    const r = await this.db.selectFrom("pool").selectAll().where("name", "=", name).executeTakeFirst();
    return r ? toPool(r) : undefined;
  }

  async listPools(): Promise<PoolRow[]> {
    return (await this.db.selectFrom("pool").selectAll().orderBy("name").execute()).map(toPool);
  }

  async deletePool(name: string): Promise<boolean> {
    const res = await this.db.deleteFrom("pool").where("name", "=", name).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  async poolUsage(): Promise<PoolUsage[]> {
    const rows = await this.db
      .selectFrom("task_instance")
      .select((eb) => ["pool", "state", eb.fn.sum<number>("pool_slots").as("n")])
      .where("state", "in", ["running", "queued", "deferred"])
      .where("pool", "is not", null)
      .groupBy(["pool", "state"])
      .execute();
    const byPool = new Map<string, PoolUsage>();
    for (const r of rows) {
      const u = byPool.get(r.pool!) ?? { pool: r.pool!, running: 0, deferred: 0 };
      if (r.state === "deferred") u.deferred += Number(r.n);
      else u.running += Number(r.n);
      byPool.set(r.pool!, u);
    }
    return [...byPool.values()].sort((a, b) => a.pool.localeCompare(b.pool));
  }

  async countRunningOf(runnerId: string): Promise<number> {
    const { n } = await this.db
      .selectFrom("task_instance")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("state", "=", "running")
      .where("runner_id", "=", runnerId)
      .executeTakeFirstOrThrow();
    return Number(n);
  }

  private maybeKillInTransition(kind: TransitionKind): void {
    const point = this.killPoint;
    if (!point || point.kind !== kind) return;
    const seen = (this.transitionsSeen.get(kind) ?? 0) + 1;
    this.transitionsSeen.set(kind, seen);
    if (seen === (point.nth ?? 1)) process.kill(process.pid, "SIGKILL");
  }

  private *casTaskInstance(
    k: TiKey,
    patch: TaskInstancePatch,
    expect: { states?: TaskInstanceState[]; tryNumber?: number },
  ): WriteSteps<boolean> {
    // The run's counter first: every writer locks the run row before the task instance (no deadlock),
    // and holds it to commit, so change numbers become visible in order.
    const changeSeq = yield* this.nextChangeSeq(k.dagId, k.runId);
    const values: Record<string, unknown> = { ...tiPatch(patch), change_seq: changeSeq };
    const columns = Object.keys(values);
    const states = expect.states ?? [];
    states.forEach((state, i) => (values[`state${i}`] = state));
    if (expect.tryNumber !== undefined) values.expectTry = expect.tryNumber;
    const shape = `cas:${columns.join(",")}:${expect.states ? states.length : "-"}:${expect.tryNumber !== undefined}`;
    const q = this.shapes.compiled(
      shape,
      (p) => {
        let u = this.db
          .updateTable("task_instance")
          .set(Object.fromEntries(columns.map((c) => [c, p(c)])))
          .where("dag_id", "=", p("dagId"))
          .where("run_id", "=", p("runId"))
          .where("task_id", "=", p("taskId"))
          .where("map_index", "=", p("mapIndex"));
        if (expect.states)
          u = u.where(
            "state",
            "in",
            states.map((_, i) => p(`state${i}`)),
          );
        if (expect.tryNumber !== undefined) u = u.where("try_number", "=", p("expectTry"));
        return u;
      },
      Object.assign(values, { dagId: k.dagId, runId: k.runId, taskId: k.taskId, mapIndex: k.mapIndex }),
    );
    const res = yield q;
    return Number(res.numAffectedRows ?? 0) > 0;
  }

  async listTaskInstances(dagId: string, runId: string): Promise<TaskInstanceRow[]> {
    return this.selectTaskInstances(dagId, runId);
  }

  async updateTaskInstance(
    k: TiKey,
    patch: TaskInstancePatch,
    expect: { states?: TaskInstanceState[]; tryNumber?: number } = {},
  ): Promise<boolean> {
    return this.write(() => this.casTaskInstance(k, patch, expect));
  }

  /**
   * Takes the next `count` numbers of a run's change counter and returns the
   * last (0 when the run row does not exist, as in store-only tests). Must run
   * inside the writing transaction: the run row's lock orders the commits.
   */
  private *nextChangeSeq(dagId: string, runId: string, count = 1): WriteSteps<number> {
    const q = this.shapes.compiled(
      "nextChangeSeq",
      (p) =>
        this.db
          .updateTable("dag_run")
          .set((eb) => ({ change_seq: eb("change_seq", "+", p("count")) }))
          .where("dag_id", "=", p("dagId"))
          .where("run_id", "=", p("runId"))
          .returning("change_seq"),
      { dagId, runId, count },
    );
    const r = (yield q).rows[0];
    return r ? Number(r.change_seq) : 0;
  }

  async listTaskInstancesChangedSince(
    dagId: string,
    runId: string,
    afterSeq: number,
    limit?: number,
  ): Promise<TaskInstanceRow[]> {
    const since = (p: Param) =>
      this.runInstancesShape(p).where("change_seq", ">", p("afterSeq")).orderBy("change_seq");
    if (limit === undefined) {
      const q = this.shapes.compiled("listTaskInstancesChangedSince", since, { dagId, runId, afterSeq });
      return (await this.db.executeQuery(q)).rows.map(toTi);
    }
    const page = (
      await this.db.executeQuery(
        this.shapes.compiled("listTaskInstancesChangedSincePage", (p) => since(p).limit(p("limit")), {
          dagId,
          runId,
          afterSeq,
          limit,
        }),
      )
    ).rows;
    if (page.length < limit) return page.map(toTi);
    // A full page may cut the rows of its last change number (one write of many rows): all of them, then.
    const lastSeq = Number(page[page.length - 1]!.change_seq);
    const rest = await this.db.executeQuery(
      this.shapes.compiled(
        "listTaskInstancesOfChange",
        (p) => this.runInstancesShape(p).where("change_seq", "=", p("seq")),
        { dagId, runId, seq: lastSeq },
      ),
    );
    return [...page.filter((r) => Number(r.change_seq) !== lastSeq), ...rest.rows].map(toTi);
  }

  async upsertTaskTry(r: TaskTryRow): Promise<void> {
    await this.writeStatement(this.upsertTaskTryQuery(r));
  }

  private upsertTaskTryQuery(r: TaskTryRow): CompiledQuery {
    return this.shapes.compiled(
      "upsertTaskTry",
      (p) =>
        this.db
          .insertInto("task_try")
          .values({
            ...tryKeyParams(p),
            state: p("state"),
            start_ms: p("startMs"),
            end_ms: p("endMs"),
            error: p("error"),
          })
          .onConflict((oc) =>
            oc
              .columns(["dag_id", "run_id", "task_id", "map_index", "try_number"])
              .doUpdateSet({ state: p("state"), end_ms: p("endMs"), error: p("error") }),
          ),
      r,
    );
  }

  async listTaskTries(k: TiKey): Promise<TaskTryRow[]> {
    const rows = await this.db
      .selectFrom("task_try")
      .selectAll()
      .where("dag_id", "=", k.dagId)
      .where("run_id", "=", k.runId)
      .where("task_id", "=", k.taskId)
      .where("map_index", "=", k.mapIndex)
      .orderBy("try_number")
      .execute();
    return rows.map((r) => ({
      dagId: r.dag_id,
      runId: r.run_id,
      taskId: r.task_id,
      mapIndex: r.map_index,
      tryNumber: r.try_number,
      state: r.state as TaskInstanceState,
      startMs: Number(r.start_ms),
      endMs: num(r.end_ms),
      error: r.error,
    }));
  }

  async setXCom(r: XComRow): Promise<void> {
    await this.writeStatement(
      this.shapes.compiled(
        "setXCom",
        (p) =>
          this.db
            .insertInto("xcom")
            .values({
              ...tryKeyParams(p),
              key: p("key"),
              value: p("value"),
              created_ms: p("createdMs"),
            })
            .onConflict((oc) =>
              oc
                .columns(["dag_id", "run_id", "task_id", "map_index", "try_number", "key"])
                .doUpdateSet({ value: p("value"), created_ms: p("createdMs") }),
            ),
        r,
      ),
    );
  }

  async listXComs(f: {
    dagId: string;
    runId: string;
    taskIds?: string[];
    key?: string;
    mapIndexes?: number[];
  }): Promise<XComRow[]> {
    const taskIds = f.taskIds && (f.taskIds.length ? f.taskIds : [""]);
    const mapIndexes = f.mapIndexes && (f.mapIndexes.length ? f.mapIndexes : [-2]);
    const values: Record<string, unknown> = { dagId: f.dagId, runId: f.runId, key: f.key };
    taskIds?.forEach((id, i) => (values[`t${i}`] = id));
    mapIndexes?.forEach((m, i) => (values[`m${i}`] = m));
    // Long lists (a pull from many mapped instances) are rare: those shapes are not kept.
    const build = (p: Param) => {
      let q = this.db
        .selectFrom("xcom")
        .selectAll()
        .where("dag_id", "=", p("dagId"))
        .where("run_id", "=", p("runId"));
      if (taskIds)
        q = q.where(
          "task_id",
          "in",
          taskIds.map((_, i) => p(`t${i}`)),
        );
      if (f.key !== undefined) q = q.where("key", "=", p("key"));
      if (mapIndexes)
        q = q.where(
          "map_index",
          "in",
          mapIndexes.map((_, i) => p(`m${i}`)),
        );
      return q.orderBy("task_id").orderBy("map_index").orderBy("try_number").orderBy("key");
    };
    const small = (taskIds?.length ?? 0) <= 4 && (mapIndexes?.length ?? 0) <= 4;
    const rows = small
      ? (
          await this.db.executeQuery(
            this.shapes.compiled(
              `listXComs:${taskIds?.length ?? "-"}:${f.key !== undefined}:${mapIndexes?.length ?? "-"}`,
              build,
              values,
            ),
          )
        ).rows
      : await build(((name: string) => values[name]) as Param).execute();
    return rows.map((r) => ({
      dagId: r.dag_id,
      runId: r.run_id,
      taskId: r.task_id,
      mapIndex: r.map_index,
      tryNumber: r.try_number,
      key: r.key,
      value: r.value,
      createdMs: Number(r.created_ms),
    }));
  }

  async insertTrigger(r: TriggerRow): Promise<void> {
    await this.db.executeQuery(this.insertTriggerQuery(r));
  }

  private insertTriggerQuery(r: TriggerRow): CompiledQuery {
    const values = triggerValues(r);
    return this.shapes.compiled(
      "insertTrigger",
      (p) =>
        this.db
          .insertInto("trigger")
          .values(Object.fromEntries(Object.keys(values).map((c) => [c, p(c)])) as unknown as TriggerTable),
      values,
    );
  }

  async deleteTrigger(id: string): Promise<void> {
    await this.db.executeQuery(this.deleteTriggerQuery(id));
  }

  private deleteTriggerQuery(id: string): CompiledQuery {
    return this.shapes.compiled(
      "deleteTrigger",
      (p) => this.db.deleteFrom("trigger").where("id", "=", p("id")),
      {
        id,
      },
    );
  }

  async listTriggers(f: { dagId?: string; runId?: string } = {}): Promise<TriggerRow[]> {
    let q = this.db.selectFrom("trigger").selectAll();
    if (f.dagId) q = q.where("dag_id", "=", f.dagId);
    if (f.runId) q = q.where("run_id", "=", f.runId);
    const rows = await q.orderBy("created_ms").orderBy("id").execute();
    return rows.map(toTrigger);
  }

  async listTriggersOf(k: TiKey): Promise<TriggerRow[]> {
    const q = this.shapes.compiled(
      "listTriggersOf",
      (p) =>
        this.db
          .selectFrom("trigger")
          .selectAll()
          .where("dag_id", "=", p("dagId"))
          .where("run_id", "=", p("runId"))
          .where("task_id", "=", p("taskId"))
          .where("map_index", "=", p("mapIndex"))
          .orderBy("created_ms")
          .orderBy("id"),
      k,
    );
    return (await this.db.executeQuery(q)).rows.map(toTrigger);
  }

  async claimTriggers(o: {
    holder: string;
    isHolderAlive: (holder: string) => Promise<boolean>;
    ids?: string[];
    limit?: number;
  }): Promise<TriggerRow[]> {
    if (o.ids?.length === 0 || o.limit === 0) return [];
    // The holders other than the claimer: a handful of processes, each looked at once.
    let holders = this.db
      .selectFrom("trigger")
      .select("triggerer_id")
      .distinct()
      .where("triggerer_id", "is not", null)
      .where("triggerer_id", "!=", o.holder);
    if (o.ids) holders = holders.where("id", "in", o.ids);
    const dead: string[] = [];
    for (const { triggerer_id } of await holders.execute())
      if (triggerer_id !== null && !(await o.isHolderAlive(triggerer_id))) dead.push(triggerer_id);
    const claimable = (eb: ExpressionBuilder<Schema, "trigger">) =>
      dead.length
        ? eb.or([eb("triggerer_id", "is", null), eb("triggerer_id", "in", dead)])
        : eb("triggerer_id", "is", null);
    let pick = this.db.selectFrom("trigger").select("id").where(claimable);
    if (o.ids) pick = pick.where("id", "in", o.ids);
    pick = pick.orderBy("created_ms").orderBy("id");
    if (o.limit !== undefined) pick = pick.limit(o.limit);
    // PostgreSQL: rows another claimer has locked are its; skip them rather than wait.
    if (this.dialect === "postgres") pick = pick.forUpdate().skipLocked();
    // One statement, a write (SQLite takes its writer lock before it reads); the holder is checked again
    // on the row written, so of two claimers one wins.
    const rows = await this.db
      .updateTable("trigger")
      .set({ triggerer_id: o.holder })
      .where("id", "in", pick)
      .where(claimable)
      .returningAll()
      .execute();
    return rows.map(toTrigger).sort((x, y) => x.createdMs - y.createdMs || (x.id < y.id ? -1 : 1));
  }

  async listTriggersHeldBy(holder: string): Promise<HeldTrigger[]> {
    const rows = await this.db
      .selectFrom("trigger as t")
      .leftJoin("task_instance as ti", (join) =>
        join
          .onRef("ti.dag_id", "=", "t.dag_id")
          .onRef("ti.run_id", "=", "t.run_id")
          .onRef("ti.task_id", "=", "t.task_id")
          .onRef("ti.map_index", "=", "t.map_index"),
      )
      .selectAll("t")
      .select(["ti.state as ti_state", "ti.try_number as ti_try_number"])
      .where("t.triggerer_id", "=", holder)
      .orderBy("t.created_ms")
      .orderBy("t.id")
      .execute();
    return rows.map((r) => ({
      trigger: toTrigger(r),
      state: (r.ti_state ?? null) as TaskInstanceState | null,
      tryNumber: r.ti_try_number ?? null,
    }));
  }

  async releaseTriggers(holder: string): Promise<void> {
    await this.db
      .updateTable("trigger")
      .set({ triggerer_id: null })
      .where("triggerer_id", "=", holder)
      .execute();
  }

  async appendLogs(rows: LogRow[]): Promise<void> {
    if (rows.length === 0) return;
    const values = rows.map((r) => ({
      dag_id: r.dagId,
      run_id: r.runId,
      task_id: r.taskId,
      map_index: r.mapIndex,
      try_number: r.tryNumber,
      ts_ms: r.tsMs,
      level: r.level,
      message: r.message,
      seq: r.seq ?? ++this.logSeq,
    }));
    const db = this.db;
    await this.write(function* (): WriteSteps<void> {
      for (const part of chunks(values)) yield db.insertInto("task_log").values(part).compile();
    });
  }

  async listLogs(f: {
    dagId: string;
    runId: string;
    taskId?: string;
    mapIndex?: number;
    tryNumber?: number;
  }): Promise<LogRow[]> {
    let q = this.db
      .selectFrom("task_log")
      .selectAll()
      .where("dag_id", "=", f.dagId)
      .where("run_id", "=", f.runId);
    if (f.taskId !== undefined) q = q.where("task_id", "=", f.taskId);
    if (f.mapIndex !== undefined) q = q.where("map_index", "=", f.mapIndex);
    if (f.tryNumber !== undefined) q = q.where("try_number", "=", f.tryNumber);
    const rows = await q.orderBy("ts_ms").orderBy("seq").execute();
    return rows.map((r) => ({
      dagId: r.dag_id,
      runId: r.run_id,
      taskId: r.task_id,
      mapIndex: r.map_index,
      tryNumber: r.try_number,
      tsMs: Number(r.ts_ms),
      level: r.level,
      message: r.message,
      seq: Number(r.seq),
    }));
  }

  async upsertRunner(r: RunnerRow): Promise<void> {
    await this.db
      .insertInto("runner")
      .values({
        id: r.id,
        pid: r.pid,
        hostname: r.hostname,
        started_ms: r.startedMs,
        heartbeat_ms: r.heartbeatMs,
      })
      .onConflict((oc) => oc.column("id").doUpdateSet({ heartbeat_ms: r.heartbeatMs }))
      .execute();
  }

  async getRunner(id: string): Promise<RunnerRow | undefined> {
    const r = await this.db.selectFrom("runner").selectAll().where("id", "=", id).executeTakeFirst();
    return r
      ? {
          id: r.id,
          pid: r.pid,
          hostname: r.hostname,
          startedMs: Number(r.started_ms),
          heartbeatMs: Number(r.heartbeat_ms),
        }
      : undefined;
  }

  async deleteRunner(id: string): Promise<void> {
    await this.db.deleteFrom("runner").where("id", "=", id).execute();
  }

  async deleteDagRun(dagId: string, runId: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      for (const table of ["task_log", "xcom", "trigger", "task_try", "task_instance"] as const) {
        await trx.deleteFrom(table).where("dag_id", "=", dagId).where("run_id", "=", runId).execute();
      }
      const res = await trx
        .deleteFrom("dag_run")
        .where("dag_id", "=", dagId)
        .where("run_id", "=", runId)
        .executeTakeFirst();
      return Number(res.numDeletedRows) > 0;
    });
  }

  async latestScheduledRun(dagId: string): Promise<DagRunRow | undefined> {
    const r = await this.db
      .selectFrom("dag_run")
      .selectAll()
      .where("dag_id", "=", dagId)
      .where("run_type", "=", "scheduled")
      .orderBy("logical_date_ms", "desc")
      .limit(1)
      .executeTakeFirst();
    return r ? toDagRun(r) : undefined;
  }

  async claimQueuedRuns(o: {
    dagId: string;
    runnerId: string;
    maxActiveRuns: number;
    runTypes?: string[];
  }): Promise<DagRunRow[]> {
    return this.db.transaction().execute(async (trx) => {
      let lock = trx.selectFrom("dag").select("dag_id").where("dag_id", "=", o.dagId);
      // Another scheduler holding the row is starting this DAG's runs now: leave them to it.
      if (this.dialect === "postgres") lock = lock.forUpdate().skipLocked();
      if (!(await lock.executeTakeFirst())) return [];
      const { n } = await trx
        .selectFrom("dag_run")
        .select((eb) => eb.fn.countAll<number>().as("n"))
        .where("dag_id", "=", o.dagId)
        .where("state", "=", "running")
        .executeTakeFirstOrThrow();
      const free = o.maxActiveRuns - Number(n);
      if (free <= 0) return [];
      let q = trx
        .selectFrom("dag_run")
        .selectAll()
        .where("dag_id", "=", o.dagId)
        .where("state", "=", "queued")
        .where("runner_id", "is", null);
      if (o.runTypes) q = q.where("run_type", "in", o.runTypes.length ? o.runTypes : [""]);
      const queued = await q
        .orderBy("logical_date_ms")
        .orderBy("created_ms")
        .orderBy("run_id")
        .limit(free)
        .execute();
      const claimed: DagRunRow[] = [];
      for (const r of queued) {
        const res = await trx
          .updateTable("dag_run")
          .set({ state: "running", runner_id: o.runnerId })
          .where("dag_id", "=", r.dag_id)
          .where("run_id", "=", r.run_id)
          .where("state", "=", "queued")
          .where("runner_id", "is", null)
          .executeTakeFirst();
        if (Number(res.numUpdatedRows) > 0)
          claimed.push({ ...toDagRun(r), state: "running", runnerId: o.runnerId });
      }
      return claimed;
    });
  }

  async upsertDag(r: DagRow): Promise<void> {
    await this.db
      .insertInto("dag")
      .values({
        dag_id: r.dagId,
        fileloc: r.fileloc,
        schedule: r.schedule,
        is_paused: r.isPaused ? 1 : 0,
        is_active: r.isActive ? 1 : 0,
        last_parsed_ms: r.lastParsedMs,
      })
      .onConflict((oc) =>
        oc.column("dag_id").doUpdateSet({
          fileloc: r.fileloc,
          schedule: r.schedule,
          is_active: r.isActive ? 1 : 0,
          last_parsed_ms: r.lastParsedMs,
        }),
      )
      .execute();
  }

  async listDags(): Promise<DagRow[]> {
    return (await this.db.selectFrom("dag").selectAll().orderBy("dag_id").execute()).map(toDag);
  }

  async getDag(dagId: string): Promise<DagRow | undefined> {
    const r = await this.db.selectFrom("dag").selectAll().where("dag_id", "=", dagId).executeTakeFirst();
    return r ? toDag(r) : undefined;
  }

  async setDagPaused(dagId: string, paused: boolean): Promise<boolean> {
    const res = await this.db
      .updateTable("dag")
      .set({ is_paused: paused ? 1 : 0 })
      .where("dag_id", "=", dagId)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  async deactivateDags(dagIds: string[]): Promise<void> {
    for (const part of chunks(dagIds)) {
      await this.db.updateTable("dag").set({ is_active: 0 }).where("dag_id", "in", part).execute();
    }
  }

  async setImportError(r: ImportErrorRow): Promise<void> {
    await this.db
      .insertInto("import_error")
      .values({ filename: r.filename, error: r.error, timestamp_ms: r.timestampMs })
      .onConflict((oc) => oc.column("filename").doUpdateSet({ error: r.error, timestamp_ms: r.timestampMs }))
      .execute();
  }

  async clearImportError(filename: string): Promise<void> {
    await this.db.deleteFrom("import_error").where("filename", "=", filename).execute();
  }

  async listImportErrors(): Promise<ImportErrorRow[]> {
    const rows = await this.db.selectFrom("import_error").selectAll().orderBy("filename").execute();
    return rows.map((r) => ({ filename: r.filename, error: r.error, timestampMs: Number(r.timestamp_ms) }));
  }

  async acquireLock(
    name: string,
    holder: string,
    isHolderAlive: (holder: string) => Promise<boolean>,
    nowMs: number,
  ): Promise<string> {
    await this.db
      .insertInto("scheduler_lock")
      .values({ name, holder, acquired_ms: nowMs })
      .onConflict((oc) => oc.column("name").doNothing())
      .execute();
    const current = await this.db
      .selectFrom("scheduler_lock")
      .select("holder")
      .where("name", "=", name)
      .executeTakeFirst();
    if (!current) return this.acquireLock(name, holder, isHolderAlive, nowMs);
    if (current.holder === holder || (await isHolderAlive(current.holder))) return current.holder;
    // The holder is gone: take over, unless another taker was first.
    await this.db
      .updateTable("scheduler_lock")
      .set({ holder, acquired_ms: nowMs })
      .where("name", "=", name)
      .where("holder", "=", current.holder)
      .execute();
    const after = await this.db
      .selectFrom("scheduler_lock")
      .select("holder")
      .where("name", "=", name)
      .executeTakeFirst();
    return after?.holder ?? this.acquireLock(name, holder, isHolderAlive, nowMs);
  }

  async releaseLock(name: string, holder: string): Promise<void> {
    await this.db
      .deleteFrom("scheduler_lock")
      .where("name", "=", name)
      .where("holder", "=", holder)
      .execute();
  }

  async close(): Promise<void> {
    await this.writes?.drain();
    await this.db.destroy();
    await this.walCheckpointer?.close();
  }
}
