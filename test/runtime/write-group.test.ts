/**
 * SqliteWriteGroup, the SQLite store's group commit, on an in-memory
 * database: writes handed in together share commits, keep their order, and
 * a burst too long for one slice yields the event loop between commits.
 */
import Database from "better-sqlite3";
import { CompiledQuery, Kysely, SqliteDialect } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { SqliteWriteGroup, type WriteSteps } from "../../src/runtime/store/write-steps.js";

const open: Kysely<never>[] = [];
afterEach(async () => {
  for (const db of open.splice(0)) await db.destroy();
});

function setup() {
  const database = new Database(":memory:");
  database.prepare("create table t (n integer not null)").run();
  const db = new Kysely<never>({ dialect: new SqliteDialect({ database }) });
  open.push(db);
  let commits = 0;
  const counted = new Proxy(database, {
    get(target, prop, receiver) {
      if (prop === "prepare")
        return (sqlText: string) => {
          const stmt = target.prepare(sqlText);
          if (sqlText !== "commit") return stmt;
          // Counted when run: the group prepares a statement once and runs it many times.
          return new Proxy(stmt, {
            get(s, p) {
              const v: unknown = Reflect.get(s, p, s);
              if (p === "run") return (...a: unknown[]) => (commits++, stmt.run(...(a as [])));
              return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(s) : v;
            },
          });
        };
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  const group = new SqliteWriteGroup(db, counted);
  const rows = () =>
    (database.prepare("select n from t order by rowid").all() as { n: number }[]).map((r) => r.n);
  return { group, rows, db, commits: () => commits };
}

/** A write that inserts `n`, spending about `busyMs` of synchronous work first. */
function* insert(n: number, busyMs = 0): WriteSteps<number> {
  const until = performance.now() + busyMs;
  while (performance.now() < until) {
    // stands for the statements of a heavy write
  }
  yield CompiledQuery.raw("insert into t (n) values (?)", [n]);
  return n;
}

describe("SqliteWriteGroup", () => {
  it("writes handed in together share one commit, and each settles with its own result", async () => {
    const { group, rows, commits } = setup();
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => group.run(() => insert(i))));
    expect(results).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(rows()).toEqual(results);
    expect(commits()).toBe(1);
  });

  it("a burst longer than a commit's slice commits in several, yielding the event loop between them, in order", async () => {
    const { group, rows, commits } = setup();
    let turns = 0;
    let settled = 0;
    const ticker = setInterval(() => turns++, 0);
    const writes = Array.from({ length: 200 }, (_, i) =>
      group
        .run(() => insert(i, 1))
        .then((n) => {
          settled++;
          return n;
        }),
    );
    // A turn of the event loop comes while the burst is still being written.
    let turnsBeforeEnd = -1;
    void writes[199]!.then(() => (turnsBeforeEnd = turns));
    await Promise.all(writes);
    clearInterval(ticker);
    expect(settled).toBe(200);
    expect(rows()).toEqual(Array.from({ length: 200 }, (_, i) => i));
    // About 200 ms of writes in slices of 20 ms: several commits, and timers ran in between.
    expect(commits()).toBeGreaterThan(3);
    expect(turnsBeforeEnd).toBeGreaterThan(0);
    await group.drain();
  });

  it("a write that throws is rolled back alone; the others of its commit land", async () => {
    const { group, rows } = setup();
    function* bad(): WriteSteps<never> {
      yield CompiledQuery.raw("insert into t (n) values (?)", [99]);
      throw new Error("refused");
    }
    const [a, b, c] = await Promise.allSettled([
      group.run(() => insert(1)),
      group.run(bad),
      group.run(() => insert(2)),
    ]);
    expect([a.status, b.status, c.status]).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(rows()).toEqual([1, 2]);
  });
});

describe("SqliteWriteGroup, one write longer than a slice", () => {
  /** One write of `count` statements, each after about `busyMs` of synchronous work; throws at the end if told. */
  function* long(count: number, busyMs: number, fail = false): WriteSteps<number> {
    for (let i = 0; i < count; i++) yield* insert(i, busyMs);
    if (fail) throw new Error("refused after its statements");
    return count;
  }

  it("yields the event loop between its statements, and a read issued meanwhile sees all of it or none", async () => {
    const { group, rows, db } = setup();
    let turns = 0;
    const ticker = setInterval(() => turns++, 0);
    let turnsBeforeEnd = -1;
    // About 150 ms of statements in one write: several slices of 20 ms.
    const write = group.run(() => long(150, 1)).then((n) => ((turnsBeforeEnd = turns), n));
    // Issued after the write has begun (its first slice ran on the microtask): waits for the commit.
    await new Promise((r) => setImmediate(r));
    const seen = await db.executeQuery<{ n: number }>(CompiledQuery.raw("select count(*) as n from t"));
    clearInterval(ticker);
    expect(await write).toBe(150);
    expect(turnsBeforeEnd).toBeGreaterThan(0);
    expect(seen.rows[0]!.n).toBe(150);
    expect(rows()).toEqual(Array.from({ length: 150 }, (_, i) => i));
  });

  it("that throws after yielding is rolled back whole, and the writes after it land", async () => {
    const { group, rows } = setup();
    const [bad, good] = await Promise.allSettled([
      group.run(() => long(100, 1, true)),
      group.run(() => insert(7)),
    ]);
    expect(bad.status).toBe("rejected");
    expect(good.status).toBe("fulfilled");
    expect(rows()).toEqual([7]);
  });
});
