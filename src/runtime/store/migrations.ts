import { sql, type Kysely, type Migration } from "kysely";

/**
 * Numbered schema migrations, shared by SQLite and PostgreSQL. Never edit an
 * applied migration: add the next number. Times are epoch milliseconds in
 * `double precision` so both databases return JS numbers.
 */
export const MIGRATIONS: Record<string, Migration> = {
  "0001_initial": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("dag_run")
        .addColumn("dag_id", "text", (c) => c.notNull())
        .addColumn("run_id", "text", (c) => c.notNull())
        .addColumn("logical_date_ms", "double precision", (c) => c.notNull())
        .addColumn("conf", "text", (c) => c.notNull())
        .addColumn("dag_file", "text", (c) => c.notNull())
        .addColumn("state", "text", (c) => c.notNull())
        .addColumn("run_type", "text", (c) => c.notNull())
        .addColumn("runner_id", "text")
        .addColumn("created_ms", "double precision", (c) => c.notNull())
        .addColumn("end_ms", "double precision")
        .addPrimaryKeyConstraint("dag_run_pk", ["dag_id", "run_id"])
        .execute();
      await db.schema
        .createTable("task_instance")
        .addColumn("dag_id", "text", (c) => c.notNull())
        .addColumn("run_id", "text", (c) => c.notNull())
        .addColumn("task_id", "text", (c) => c.notNull())
        .addColumn("map_index", "integer", (c) => c.notNull())
        .addColumn("state", "text", (c) => c.notNull())
        .addColumn("try_number", "integer", (c) => c.notNull())
        .addColumn("max_tries", "integer", (c) => c.notNull())
        .addColumn("next_method", "text")
        .addColumn("next_kwargs", "text")
        .addColumn("next_retry_ms", "double precision")
        .addColumn("start_ms", "double precision")
        .addColumn("end_ms", "double precision")
        .addColumn("runner_id", "text")
        .addColumn("kill_requested", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("updated_ms", "double precision", (c) => c.notNull())
        .addPrimaryKeyConstraint("task_instance_pk", ["dag_id", "run_id", "task_id", "map_index"])
        .execute();
      await db.schema
        .createTable("task_try")
        .addColumn("dag_id", "text", (c) => c.notNull())
        .addColumn("run_id", "text", (c) => c.notNull())
        .addColumn("task_id", "text", (c) => c.notNull())
        .addColumn("map_index", "integer", (c) => c.notNull())
        .addColumn("try_number", "integer", (c) => c.notNull())
        .addColumn("state", "text", (c) => c.notNull())
        .addColumn("start_ms", "double precision", (c) => c.notNull())
        .addColumn("end_ms", "double precision")
        .addColumn("error", "text")
        .addPrimaryKeyConstraint("task_try_pk", ["dag_id", "run_id", "task_id", "map_index", "try_number"])
        .execute();
      await db.schema
        .createTable("xcom")
        .addColumn("dag_id", "text", (c) => c.notNull())
        .addColumn("run_id", "text", (c) => c.notNull())
        .addColumn("task_id", "text", (c) => c.notNull())
        .addColumn("map_index", "integer", (c) => c.notNull())
        .addColumn("try_number", "integer", (c) => c.notNull())
        .addColumn("key", "text", (c) => c.notNull())
        .addColumn("value", "text", (c) => c.notNull())
        .addColumn("created_ms", "double precision", (c) => c.notNull())
        .addPrimaryKeyConstraint("xcom_pk", ["dag_id", "run_id", "task_id", "map_index", "try_number", "key"])
        .execute();
      await db.schema
        .createTable("trigger")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("dag_id", "text", (c) => c.notNull())
        .addColumn("run_id", "text", (c) => c.notNull())
        .addColumn("task_id", "text", (c) => c.notNull())
        .addColumn("map_index", "integer", (c) => c.notNull())
        .addColumn("classpath", "text", (c) => c.notNull())
        .addColumn("kwargs", "text", (c) => c.notNull())
        .addColumn("created_ms", "double precision", (c) => c.notNull())
        .addColumn("timeout_ms", "double precision")
        .execute();
      await db.schema.createIndex("trigger_run_idx").on("trigger").columns(["dag_id", "run_id"]).execute();
      await db.schema
        .createTable("task_log")
        .addColumn("dag_id", "text", (c) => c.notNull())
        .addColumn("run_id", "text", (c) => c.notNull())
        .addColumn("task_id", "text", (c) => c.notNull())
        .addColumn("map_index", "integer", (c) => c.notNull())
        .addColumn("try_number", "integer", (c) => c.notNull())
        .addColumn("ts_ms", "double precision", (c) => c.notNull())
        .addColumn("level", "text", (c) => c.notNull())
        .addColumn("message", "text", (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex("task_log_ti_idx")
        .on("task_log")
        .columns(["dag_id", "run_id", "task_id", "map_index", "try_number"])
        .execute();
      await db.schema
        .createTable("runner")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("pid", "integer", (c) => c.notNull())
        .addColumn("hostname", "text", (c) => c.notNull())
        .addColumn("started_ms", "double precision", (c) => c.notNull())
        .addColumn("heartbeat_ms", "double precision", (c) => c.notNull())
        .execute();
    },
  },
  "0002_log_seq_and_scale_indexes": {
    async up(db: Kysely<unknown>) {
      // Lines logged in the same millisecond keep their order (PostgreSQL has no rowid order).
      await db.schema
        .alterTable("task_log")
        .addColumn("seq", "double precision", (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .createIndex("task_log_order_idx")
        .on("task_log")
        .columns(["dag_id", "run_id", "ts_ms", "seq"])
        .execute();
      // Scheduling and XCom reads at scale touch only the rows they need.
      await db.schema
        .createIndex("task_instance_state_idx")
        .on("task_instance")
        .columns(["dag_id", "run_id", "state"])
        .execute();
      await db.schema
        .createIndex("trigger_ti_idx")
        .on("trigger")
        .columns(["dag_id", "run_id", "task_id", "map_index"])
        .execute();
      await db.schema
        .createIndex("xcom_key_idx")
        .on("xcom")
        .columns(["dag_id", "run_id", "key", "task_id"])
        .execute();
    },
  },
  "0003_change_seq": {
    async up(db: Kysely<unknown>) {
      // Every write of a run's task instances takes the next number of the run's counter, under the run
      // row's lock, so a runner reads only what changed since its last look: O(changes), not O(tasks).
      await db.schema
        .alterTable("dag_run")
        .addColumn("change_seq", "bigint", (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .alterTable("task_instance")
        .addColumn("change_seq", "bigint", (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .createIndex("task_instance_change_idx")
        .on("task_instance")
        .columns(["dag_id", "run_id", "change_seq"])
        .execute();
    },
  },
  "0004_scheduler": {
    async up(db: Kysely<unknown>) {
      // A run's data interval (null on runs made before: their interval is their logical date).
      await db.schema.alterTable("dag_run").addColumn("data_interval_start_ms", "double precision").execute();
      await db.schema.alterTable("dag_run").addColumn("data_interval_end_ms", "double precision").execute();
      // One automated run per DAG and logical date, however many schedulers race to create it.
      await db.schema
        .createIndex("dag_run_automated_logical_uq")
        .on("dag_run")
        .columns(["dag_id", "logical_date_ms"])
        .unique()
        .where(sql<boolean>`run_type in ('scheduled', 'backfill')`)
        .execute();
      await db.schema.createIndex("dag_run_state_idx").on("dag_run").columns(["state", "dag_id"]).execute();
      // DAGs the scheduler has seen: where they live, and whether they are paused.
      await db.schema
        .createTable("dag")
        .addColumn("dag_id", "text", (c) => c.primaryKey())
        .addColumn("fileloc", "text", (c) => c.notNull())
        .addColumn("schedule", "text")
        .addColumn("is_paused", "integer", (c) => c.notNull())
        .addColumn("is_active", "integer", (c) => c.notNull())
        .addColumn("last_parsed_ms", "double precision", (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("import_error")
        .addColumn("filename", "text", (c) => c.primaryKey())
        .addColumn("error", "text", (c) => c.notNull())
        .addColumn("timestamp_ms", "double precision", (c) => c.notNull())
        .execute();
      // SQLite allows one scheduler: this row names it.
      await db.schema
        .createTable("scheduler_lock")
        .addColumn("name", "text", (c) => c.primaryKey())
        .addColumn("holder", "text", (c) => c.notNull())
        .addColumn("acquired_ms", "double precision", (c) => c.notNull())
        .execute();
    },
  },
  "0005_pools": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("pool")
        .addColumn("name", "text", (c) => c.primaryKey())
        .addColumn("slots", "integer", (c) => c.notNull())
        .addColumn("description", "text", (c) => c.notNull().defaultTo(""))
        .addColumn("include_deferred", "integer", (c) => c.notNull().defaultTo(0))
        .execute();
      // Airflow's default pool and its initial size ([core] default_pool_task_slot_count).
      await sql`insert into pool (name, slots, description, include_deferred) values ('default_pool', 128, 'Default pool', 0)`.execute(
        db,
      );
      // The pool a try took its slots from, set when it starts: the slots are free again as soon as the
      // state leaves RUNNING (or DEFERRED), whoever changes it, with no counter to keep right.
      await db.schema.alterTable("task_instance").addColumn("pool", "text").execute();
      await db.schema.alterTable("task_instance").addColumn("pool_slots", "integer").execute();
      // A start sums its pool's taken slots from this index alone: the entries read are the pool's
      // running (and deferred) instances, never the whole table.
      await db.schema
        .createIndex("task_instance_pool_idx")
        .on("task_instance")
        .columns(["state", "pool", "pool_slots"])
        .execute();
    },
  },
  "0006_trigger_claims": {
    async up(db: Kysely<unknown>) {
      // The process running a trigger (a scheduler's runner, or an `armada-airflow triggerer`): null while
      // none has taken it. Triggerers claim the unheld ones and those of dead holders, so each runs in one.
      await db.schema.alterTable("trigger").addColumn("triggerer_id", "text").execute();
      await db.schema.createIndex("trigger_triggerer_idx").on("trigger").columns(["triggerer_id"]).execute();
    },
  },
};
