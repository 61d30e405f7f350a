/**
 * Keeps the dev server's state in a SQLite file (`--state FILE`) so a restart
 * finds its queues, jobs, runs, events and logs again. Memory stays the source
 * of truth; changes are written behind in one transaction per event-loop turn,
 * which keeps submission fast.
 */
import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { ErrorCode } from "../common/error-code.js";
import Database from "better-sqlite3";
import { EventMessage } from "../gen/armada/event.js";
import { Job, Queue, RetryPolicy } from "../gen/armada/submit.js";
import type { DevArmada, StateSink } from "./dev-armada.js";
import type { JobRecord, RunRecord } from "./job-record.js";

const SCHEMA_VERSION = 2;

type Row = Record<string, unknown>;

/** A SQLite-backed {@link StateSink} that can load a {@link DevArmada} back. */
export class SqliteStateStore implements StateSink {
  private readonly jobs = new Map<string, JobRecord>();
  private events: [string, string, number, Uint8Array][] = [];
  private logs: [string, string, string, number, string][] = [];
  private queues = new Map<string, Queue | undefined>();
  private retryPolicies = new Map<string, RetryPolicy | undefined>();
  private scheduled = false;
  private closed = false;

  private constructor(private readonly db: Database.Database) {}

  /** Opens (creating if needed) the state file; refuses a file written by a newer version. */
  static open(path: string): SqliteStateStore {
    let db: Database.Database;
    try {
      db = new Database(path);
    } catch (err) {
      throw new ArmadaAirflowError(
        ErrorCode.FailedPrecondition,
        `Cannot open dev server state file "${path}": ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
    const row = db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as
      { value: string } | undefined;
    const version = row ? Number(row.value) : 0;
    if (version > SCHEMA_VERSION) {
      db.close();
      throw new ArmadaAirflowError(
        ErrorCode.FailedPrecondition,
        `Dev server state file "${path}" has schema version ${version}, newer than this armada-airflow supports ` +
          `(${SCHEMA_VERSION}); upgrade armada-airflow or use another --state file`,
      );
    }
    if (version < 1) {
      db.exec(`
        CREATE TABLE queues (name TEXT PRIMARY KEY, data BLOB NOT NULL);
        CREATE TABLE jobs (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, data TEXT NOT NULL, spec BLOB NOT NULL);
        CREATE TABLE events (queue TEXT NOT NULL, job_set TEXT NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL,
                             PRIMARY KEY (queue, job_set, seq));
        CREATE TABLE logs (job_id TEXT NOT NULL, namespace TEXT NOT NULL, container TEXT NOT NULL,
                           time_ms INTEGER NOT NULL, text TEXT NOT NULL);
        CREATE INDEX logs_job ON logs (job_id);
        INSERT INTO meta (key, value) VALUES ('schema_version', '1');
      `);
    }
    if (version < 2) {
      // Version 2 adds the retry policies (RetryPolicyService).
      db.exec(`
        CREATE TABLE retry_policies (name TEXT PRIMARY KEY, data BLOB NOT NULL);
        INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', '2');
      `);
    }
    return new SqliteStateStore(db);
  }

  jobChanged(job: JobRecord): void {
    this.jobs.set(job.id, job);
    this.schedule();
  }

  eventAppended(queue: string, jobSetId: string, id: string, message: EventMessage): void {
    this.events.push([queue, jobSetId, Number.parseInt(id, 10), EventMessage.encode(message).finish()]);
    this.schedule();
  }

  queueChanged(name: string, queue: Queue | undefined): void {
    this.queues.set(name, queue);
    this.schedule();
  }

  retryPolicyChanged(name: string, policy: RetryPolicy | undefined): void {
    this.retryPolicies.set(name, policy);
    this.schedule();
  }

  logAppended(jobId: string, namespace: string, container: string, timeMs: number, text: string): void {
    this.logs.push([jobId, namespace, container, timeMs, text]);
    this.schedule();
  }

  /** Loads everything stored into `armada` (which must be empty). */
  load(armada: DevArmada): void {
    for (const r of this.db.prepare(`SELECT data FROM queues`).all() as Row[]) {
      armada.restoreQueue(Queue.decode(r.data as Uint8Array));
    }
    for (const r of this.db.prepare(`SELECT data FROM retry_policies`).all() as Row[]) {
      armada.retryPolicies.restore(RetryPolicy.decode(r.data as Uint8Array));
    }
    for (const r of this.db
      .prepare(`SELECT queue, job_set, seq, data FROM events ORDER BY queue, job_set, seq`)
      .iterate() as Iterable<Row>) {
      armada.events.restore(r.queue as string, r.job_set as string, {
        id: `${r.seq as number}-0`,
        message: EventMessage.decode(r.data as Uint8Array),
      });
    }
    const jobs: JobRecord[] = [];
    for (const r of this.db.prepare(`SELECT data, spec FROM jobs ORDER BY seq`).iterate() as Iterable<Row>) {
      jobs.push(decodeJob(r.data as string, r.spec as Uint8Array));
    }
    const byId = new Map(jobs.map((j) => [j.id, j]));
    for (const r of this.db
      .prepare(`SELECT job_id, namespace, container, time_ms, text FROM logs ORDER BY rowid`)
      .iterate() as Iterable<Row>) {
      const job = byId.get(r.job_id as string);
      if (!job) continue;
      const pod =
        armada.logs.ofJob(job.id, r.namespace as string) ??
        armada.logs.create(
          job.id,
          r.namespace as string,
          (job.spec.podSpecs[0] ?? job.spec.podSpec)?.containers.map((c) => c.name ?? "") ?? [],
          // Lines are kept per job, not per run: after a restart they are the latest run's pod's.
          job.runs.at(-1)?.cluster ?? "",
        );
      armada.logs.append(pod, r.container as string, { timeMs: r.time_ms as number, text: r.text as string });
    }
    for (const job of jobs) {
      if (job.runs.some((run) => run.pendingAt) && !armada.logs.ofJob(job.id, job.namespace)) {
        armada.logs.create(
          job.id,
          job.namespace,
          (job.spec.podSpecs[0] ?? job.spec.podSpec)?.containers.map((c) => c.name ?? "") ?? [],
          job.runs.at(-1)?.cluster ?? "",
        );
      }
      armada.restoreJob(job);
    }
  }

  /** Writes everything pending now. */
  flush(): void {
    this.scheduled = false;
    if (this.closed) return;
    const jobs = [...this.jobs.values()];
    const events = this.events;
    const logs = this.logs;
    const queues = this.queues;
    const policies = this.retryPolicies;
    this.retryPolicies = new Map();
    this.jobs.clear();
    this.events = [];
    this.logs = [];
    this.queues = new Map();
    const upsertJob = this.db.prepare(
      `INSERT INTO jobs (id, seq, data, spec) VALUES (?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET data = excluded.data, spec = excluded.spec`,
    );
    const insertEvent = this.db.prepare(
      `INSERT OR REPLACE INTO events (queue, job_set, seq, data) VALUES (?, ?, ?, ?)`,
    );
    const insertLog = this.db.prepare(
      `INSERT INTO logs (job_id, namespace, container, time_ms, text) VALUES (?, ?, ?, ?, ?)`,
    );
    const upsertQueue = this.db.prepare(`INSERT OR REPLACE INTO queues (name, data) VALUES (?, ?)`);
    const deleteQueue = this.db.prepare(`DELETE FROM queues WHERE name = ?`);
    const upsertPolicy = this.db.prepare(`INSERT OR REPLACE INTO retry_policies (name, data) VALUES (?, ?)`);
    const deletePolicy = this.db.prepare(`DELETE FROM retry_policies WHERE name = ?`);
    this.db.transaction(() => {
      for (const [name, p] of policies) {
        if (p) upsertPolicy.run(name, RetryPolicy.encode(p).finish());
        else deletePolicy.run(name);
      }
      for (const [name, q] of queues) {
        if (q) upsertQueue.run(name, Queue.encode(q).finish());
        else deleteQueue.run(name);
      }
      for (const job of jobs)
        upsertJob.run(job.id, job.submittedAt.getTime(), encodeJob(job), Job.encode(job.spec).finish());
      for (const e of events) insertEvent.run(...e);
      for (const l of logs) insertLog.run(...l);
    })();
  }

  /** Flushes and closes the file. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.db.close();
  }

  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }
}

const DATE_FIELDS = ["submittedAt", "lastTransitionAt", "cancelledAt"] as const;
const RUN_DATE_FIELDS = ["leasedAt", "pendingAt", "startedAt", "finishedAt"] as const;

function encodeJob(job: JobRecord): string {
  const { spec: _spec, ...rest } = job;
  return JSON.stringify(rest, (_k, v: unknown) => v);
}

function decodeJob(data: string, spec: Uint8Array): JobRecord {
  const raw = JSON.parse(data) as Record<string, unknown>;
  for (const f of DATE_FIELDS) if (typeof raw[f] === "string") raw[f] = new Date(raw[f] as string);
  const runs = (raw.runs as Record<string, unknown>[]).map((r) => {
    for (const f of RUN_DATE_FIELDS) if (typeof r[f] === "string") r[f] = new Date(r[f] as string);
    return r as unknown as RunRecord;
  });
  return { ...(raw as unknown as JobRecord), runs, spec: Job.decode(spec) };
}
