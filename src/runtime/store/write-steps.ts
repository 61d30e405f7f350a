import type { CompiledQuery, Kysely, QueryResult, Transaction } from "kysely";
import type Database from "better-sqlite3";

/**
 * A store write written once for both backends: a generator that yields
 * each statement and is handed back its result. PostgreSQL runs the steps
 * one awaited statement at a time in a transaction of their own; SQLite runs
 * many writes' steps synchronously in one shared transaction
 * ({@link SqliteWriteGroup}).
 */
export type WriteSteps<T> = Generator<CompiledQuery, T, QueryResult<Record<string, unknown>>>;

/** Runs `steps` to the end in `trx`, awaiting each statement. */
export async function runStepsIn<T>(
  trx: Kysely<never> | Transaction<never>,
  steps: WriteSteps<T>,
): Promise<T> {
  let next = steps.next();
  while (!next.done)
    next = steps.next((await trx.executeQuery(next.value)) as QueryResult<Record<string, unknown>>);
  return next.value;
}

/** Most writes one shared SQLite transaction takes (the rest wait for the next). */
const MAX_WRITES_PER_COMMIT = 512;

/** Prepared statements one write group keeps at most. */
const MAX_PREPARED_STATEMENTS = 256;

/**
 * Longest the writes of one event-loop turn run back to back before the next
 * waits a turn. SQLite runs synchronously, so a cascade of writes that each
 * wake the next (a thousand triggers answered by one status call, each firing
 * and resuming its task) would otherwise hold the event loop until all are
 * done, and timers and RPCs would wait behind it.
 */
const TURN_SLICE_MS = 50;

/**
 * Longest one shared transaction runs its writes before it commits and hands
 * the rest to the next one, a turn later. A commit of the most writes (the
 * resumes of many jobs that ended in one round) takes well over 100 ms of
 * statements, all synchronous; a commit costs far less than that slice.
 */
const COMMIT_SLICE_MS = 20;

/** Yields to the event loop: timers, I/O and RPC callbacks waiting behind a long write run. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** What a write group tells its store's WAL checkpointer, and waits for (`WalCheckpointer`). Never throws. */
export interface CommitCheckpoints {
  /** After each commit (the checkpointer looks at the WAL's size now and then). */
  noteCommit(): void;
  /** Before a commit: a checkpoint (its thread's, off the event loop) the commit waits for, when one is due. */
  checkpointDue(): Promise<void> | undefined;
  /** A write outlasted its turn (a bulk write). */
  noteLongWrite(): void;
}

interface Pending {
  steps: () => WriteSteps<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit for SQLite. A commit costs 60-170 µs (the WAL write), several
 * times the statements of a typical write. Writes handed in before the
 * current burst of promise continuations ends (tasks resumed together, a
 * transition and the XComs pushed with it) run in one transaction: each in a
 * savepoint of its own, so one that throws (a pool that is full) is rolled
 * back alone, and each promise settles only after the commit that makes it
 * durable (a crash before it loses the whole group, none of which anyone
 * was told had happened). The group closes on a microtask, not a later
 * macrotask: a chain of writes that each wait for the last (the runner
 * starting tries one by one) must not wait an event-loop turn per write.
 *
 * The statements run synchronously on the database, inside Kysely's
 * connection (its lock), so no other query of this store interleaves.
 */
export class SqliteWriteGroup {
  private pending: Pending[] = [];
  private scheduled = false;
  /** When this event-loop turn's first write was scheduled (undefined: none yet). */
  private turnStartedAt: number | undefined;
  /** The commit handed to Kysely's connection and not yet settled, if any. */
  private committing: Promise<void> | undefined;
  /** A flush came while a commit was out: it runs when that commit settles. */
  private flushAfterCommit = false;
  /** A commit ran out of its slice: nothing commits again before the next event-loop turn. */
  private sliceSpent = false;
  /** Prepared statements by SQL text (see {@link statement}). */
  private readonly statements = new Map<string, Database.Statement>();

  constructor(
    private readonly db: Kysely<never>,
    private readonly database: Database.Database,
    /** The store's WAL checkpointer (see {@link CommitCheckpoints}), if it has one. */
    private readonly checkpoints?: CommitCheckpoints,
  ) {}

  /** Runs `steps` in the next shared transaction; settles once it has committed (or rolled back). */
  run<T>(steps: () => WriteSteps<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ steps, resolve: resolve as (v: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        this.schedule();
      }
    });
  }

  /** Waits until every write handed in so far has settled. */
  async drain(): Promise<void> {
    while (this.scheduled || this.committing || this.pending.length > 0) {
      if (this.committing) await this.committing;
      else await new Promise((r) => setImmediate(r));
    }
  }

  /** The next flush: on a microtask, or on the next turn once this turn's writes ran for a slice. */
  private schedule(): void {
    const now = performance.now();
    if (this.turnStartedAt === undefined) {
      this.turnStartedAt = now;
      setImmediate(() => (this.turnStartedAt = undefined));
    }
    if (now - this.turnStartedAt < TURN_SLICE_MS) queueMicrotask(() => this.flush());
    else setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    if (this.committing) {
      // One commit at a time, so writes commit in the order they were handed in (a slice's leftovers first).
      this.flushAfterCommit = true;
      return;
    }
    if (this.sliceSpent) {
      this.scheduled = true; // the next turn's flush takes these too
      return;
    }
    const items = this.pending.splice(0, MAX_WRITES_PER_COMMIT);
    if (items.length === 0) return;
    if (this.pending.length > 0) {
      this.scheduled = true;
      this.schedule();
    }
    // Kysely's connection lock orders this commit after any query of the store that is under way. A
    // checkpoint that is due runs first, in its thread, with no write of this store under way (the store's
    // reads go on): so it finishes, and this commit restarts the WAL.
    const run = () => this.db.connection().execute(async () => this.commit(items));
    const checkpoint = this.checkpoints?.checkpointDue();
    const commit: Promise<void> = (checkpoint ? checkpoint.then(run) : run())
      .catch((err: unknown) => {
        for (const item of items) item.reject(err);
      })
      .finally(() => {
        this.committing = undefined;
        if (this.flushAfterCommit) {
          this.flushAfterCommit = false;
          this.flush();
        }
      });
    this.committing = commit;
  }

  /**
   * One transaction for `items`; settles each item's promise. Items left when
   * the slice is over go back to the front of the queue. A single write that
   * runs past the slice on its own (the instances of a task mapped 100,000
   * ways, in chunked statements) yields the event loop between its
   * statements, the transaction still open: Kysely's connection stays held,
   * so no other query of this store runs inside it, while timers and RPCs go
   * on. Writes that fit in the slice never wait a turn.
   */
  private async commit(items: Pending[]): Promise<void> {
    const done: { item: Pending; value: unknown }[] = [];
    const failed: { item: Pending; err: unknown }[] = [];
    const startedAt = performance.now();
    let taken = 0;
    // IMMEDIATE: the writer lock first, so no read of this transaction can be overtaken by another process.
    this.exec("begin immediate");
    try {
      for (const item of items) {
        if (taken > 0 && performance.now() - startedAt >= COMMIT_SLICE_MS) break;
        taken++;
        this.exec("savepoint write_item");
        try {
          let value = this.drive(item.steps(), startedAt);
          if (value instanceof Promise) value = await value;
          done.push({ item, value });
          this.exec("release write_item");
        } catch (err) {
          this.exec("rollback to write_item");
          this.exec("release write_item");
          failed.push({ item, err });
        }
      }
      this.exec("commit");
    } catch (err) {
      if (this.database.inTransaction) this.exec("rollback");
      throw err;
    }
    this.checkpoints?.noteCommit();
    if (taken < items.length) {
      // Before anything handed in since: writes keep their order.
      this.pending.unshift(...items.slice(taken));
      this.sliceSpent = true;
      setImmediate(() => {
        this.sliceSpent = false;
        this.flush();
      });
    }
    for (const { item, value } of done) item.resolve(value);
    for (const { item, err } of failed) item.reject(err);
  }

  /**
   * Runs a write's statements, synchronously while the slice begun at
   * `sliceStartedAt` lasts; a write that outlasts it goes on in
   * {@link driveAfterTurn}. Only such a write returns a promise.
   */
  private drive<T>(steps: WriteSteps<T>, sliceStartedAt: number): T | Promise<T> {
    let next = steps.next();
    while (!next.done) {
      next = steps.next(this.execCompiled(next.value));
      if (!next.done && performance.now() - sliceStartedAt >= COMMIT_SLICE_MS)
        return this.driveAfterTurn(steps, next.value);
    }
    return next.value;
  }

  /** The rest of a write that outlasted its slice, from `statement`: a turn first, and after each slice. */
  private async driveAfterTurn<T>(steps: WriteSteps<T>, statement: CompiledQuery): Promise<T> {
    // A bulk write: its commit's checkpoint (the WAL it grew) is the worker's, not this thread's.
    this.checkpoints?.noteLongWrite();
    await nextTurn();
    let sliceStartedAt = performance.now();
    let next: IteratorResult<CompiledQuery, T> = { done: false, value: statement };
    while (!next.done) {
      next = steps.next(this.execCompiled(next.value));
      if (!next.done && performance.now() - sliceStartedAt >= COMMIT_SLICE_MS) {
        await nextTurn();
        sliceStartedAt = performance.now();
      }
    }
    return next.value;
  }

  private exec(sqlText: string): void {
    this.statement(sqlText).run();
  }

  /**
   * The prepared statement for `sqlText`, prepared once: every write of a
   * kind has the same text, and a commit runs a savepoint and a release per
   * write. Bounded (cleared when full), as chunked bulk statements vary in
   * length.
   */
  private statement(sqlText: string): Database.Statement {
    let stmt = this.statements.get(sqlText);
    if (!stmt) {
      stmt = this.database.prepare(sqlText);
      if (this.statements.size >= MAX_PREPARED_STATEMENTS) this.statements.clear();
      this.statements.set(sqlText, stmt);
    }
    return stmt;
  }

  /** Runs one compiled statement as Kysely's SQLite driver would, and answers in its form. */
  private execCompiled(q: CompiledQuery): QueryResult<Record<string, unknown>> {
    const stmt = this.statement(q.sql);
    const params = q.parameters as unknown[];
    if (stmt.reader) return { rows: stmt.all(params) as Record<string, unknown>[] };
    const { changes, lastInsertRowid } = stmt.run(params);
    return { rows: [], numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid) };
  }
}
