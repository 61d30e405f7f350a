import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import Database from "better-sqlite3";
import pg from "pg";
import { DAG, DateTimeTrigger, ManualClock, RuntimeError } from "armada-airflow";
import { KyselyStore, type TaskInstanceRow } from "armada-airflow/store";
import { Runner } from "armada-airflow/runner";
import { sleepUntil } from "../support/sleep-until.js";
import { startPostgres, type PostgresServer } from "./postgres-server.js";
import { BULK_CHUNK_ROWS } from "../../src/runtime/store/kysely-store.js";
import { dagRunRow, FnOperator } from "./support.js";

interface Backend {
  /** A fresh, empty database. */
  fresh(): Promise<string>;
  /** Records a migration unknown to this code, as a newer version would. */
  addFutureMigration(url: string): Promise<void>;
}

const tmp = mkdtempSync(path.join(os.tmpdir(), "aa-store-"));
let pgServer: PostgresServer | undefined;
let dbCounter = 0;

const sqlite: Backend = {
  async fresh() {
    return `sqlite:${path.join(tmp, `db-${++dbCounter}.db`)}`;
  },
  async addFutureMigration(url) {
    const db = new Database(url.slice("sqlite:".length));
    db.prepare("insert into armada_airflow_migration (name, timestamp) values (?, ?)").run(
      "9999_future",
      new Date().toISOString(),
    );
    db.close();
  },
};

const postgres: Backend = {
  async fresh() {
    return pgServer!.createDatabase(`t${++dbCounter}`);
  },
  async addFutureMigration(url) {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query("insert into armada_airflow_migration (name, timestamp) values ($1, $2)", [
      "9999_future",
      new Date().toISOString(),
    ]);
    await c.end();
  },
};

beforeAll(async () => {
  // No skipping: without PostgreSQL binaries this fails with the reason.
  pgServer = await startPostgres();
}, 120_000);

afterAll(async () => {
  await pgServer?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const ti = (o: Partial<TaskInstanceRow> & { taskId: string }): TaskInstanceRow => ({
  dagId: "d",
  runId: "r",
  mapIndex: -1,
  state: "none",
  tryNumber: 0,
  maxTries: 1,
  nextMethod: null,
  nextKwargs: null,
  nextRetryMs: null,
  startMs: null,
  endMs: null,
  runnerId: null,
  killRequested: false,
  updatedMs: 1,
  ...o,
});

for (const [name, backend] of [
  ["sqlite", sqlite],
  ["postgres", postgres],
] as const) {
  describe(`store contract: ${name}`, () => {
    it("migrates, reports its dialect and schema version, and refuses a newer database", async () => {
      const url = await backend.fresh();
      const store = await KyselyStore.open({ url, home: tmp });
      expect(store.dialect).toBe(name);
      expect(await store.schemaVersion()).toBe(6);
      await store.close();
      // Reopening an up-to-date database is fine.
      await (await KyselyStore.open({ url, home: tmp })).close();
      await backend.addFutureMigration(url);
      const err = await KyselyStore.open({ url, home: tmp }).catch((e: unknown) => e);
      expect(RuntimeError.is(err)).toBe(true);
      expect((err as RuntimeError).code).toBe("store_too_new");
      expect((err as Error).message).toMatch(/newer than this armada-airflow.*upgrade armada-airflow/);
    });

    it("claimTriggers(): of claimers at once each trigger goes to one; a dead holder's are taken over, a live one's not", async () => {
      const url = await backend.fresh();
      const a = await KyselyStore.open({ url, home: tmp });
      const b = await KyselyStore.open({ url, home: tmp });
      try {
        const trigger = (i: number, triggererId: string | null = null) => ({
          id: `t${i}`,
          dagId: "d",
          runId: "r",
          taskId: `task${i}`,
          mapIndex: -1,
          classpath: "c",
          kwargs: "{}",
          createdMs: i,
          timeoutMs: null,
          triggererId,
        });
        for (let i = 0; i < 40; i++) await a.insertTrigger(trigger(i));
        await a.insertTrigger(trigger(40, "dead"));
        await a.insertTrigger(trigger(41, "alive"));
        const isHolderAlive = async (id: string) => id !== "dead";
        const [x, y] = await Promise.all([
          a.claimTriggers({ holder: "x", isHolderAlive, limit: 30 }),
          b.claimTriggers({ holder: "y", isHolderAlive }),
        ]);
        const ids = [...x, ...y].map((t) => t.id);
        expect(new Set(ids).size).toBe(ids.length);
        expect(ids.sort()).toEqual(Array.from({ length: 41 }, (_, i) => `t${i}`).sort());
        expect(x.length).toBeLessThanOrEqual(30);
        const held = await a.listTriggersHeldBy("x");
        expect(held.map((h) => h.trigger.id).sort()).toEqual(x.map((t) => t.id).sort());
        expect(held.every((h) => h.state === null && h.trigger.triggererId === "x")).toBe(true);
        expect(await a.claimTriggers({ holder: "z", isHolderAlive })).toEqual([]);
        // x stops cleanly: its triggers are free at once, for the next claimer.
        await a.releaseTriggers("x");
        expect((await b.claimTriggers({ holder: "z", isHolderAlive })).map((t) => t.id).sort()).toEqual(
          x.map((t) => t.id).sort(),
        );
        expect(await b.claimTriggers({ holder: "z", isHolderAlive, ids: ["t41"] })).toEqual([]);
      } finally {
        await a.close();
        await b.close();
      }
    });

    it("listTaskInstancesChangedSince(): each write (own or another connection's) is read once, in order, and only it", async () => {
      const url = await backend.fresh();
      const store = await KyselyStore.open({ url, home: tmp });
      const other = await KyselyStore.open({ url, home: tmp });
      try {
        await store.createDagRun(dagRunRow());
        // More rows than one bulk statement holds, in one write (a number of the run's counter each).
        const many = Array.from({ length: BULK_CHUNK_ROWS * 2 + 7 }, (_, i) =>
          ti({ taskId: "m", mapIndex: i }),
        );
        await store.insertTaskInstances([ti({ taskId: "a" }), ...many]);
        const first = await store.listTaskInstancesChangedSince("d", "r", 0);
        expect(first).toHaveLength(many.length + 1);
        const cursor = Math.max(...first.map((r) => r.changeSeq!));
        expect(await store.listTaskInstancesChangedSince("d", "r", cursor)).toEqual([]);

        const k = { dagId: "d", runId: "r", taskId: "m", mapIndex: 5 };
        expect(await other.updateTaskInstance(k, { state: "queued" }, { states: ["none"] })).toBe(true);
        // A compare-and-set that does not hold changes nothing a reader can see.
        expect(await other.updateTaskInstance(k, { state: "failed" }, { states: ["success"] })).toBe(false);
        await store.transition({
          kind: "start",
          key: { ...k, taskId: "a", mapIndex: -1 },
          expected: { states: ["none"] },
          patch: { state: "running", tryNumber: 1 },
        });
        const next = await store.listTaskInstancesChangedSince("d", "r", cursor);
        expect(next.map((r) => [r.taskId, r.mapIndex, r.state])).toEqual([
          ["m", 5, "queued"],
          ["a", -1, "running"],
        ]);
        expect(next[0]!.changeSeq!).toBeGreaterThan(cursor);
        expect(next[1]!.changeSeq!).toBeGreaterThan(next[0]!.changeSeq!);
        // Concurrent writers of one run: every change is seen by a reader that pages on the cursor.
        // (Two SQLite connections in one thread would wait on each other's lock synchronously: there
        // the writers are one connection's interleaved transactions.)
        const writers = name === "postgres" ? [store, other] : [store];
        let seen = Math.max(...next.map((r) => r.changeSeq!));
        const changed = new Set<number>();
        await Promise.all(
          Array.from({ length: 40 }, async (_, i) => {
            const s = writers[i % writers.length]!;
            await s.updateTaskInstance(
              { ...k, mapIndex: 100 + i },
              { state: "scheduled" },
              { states: ["none"] },
            );
            for (const r of await store.listTaskInstancesChangedSince("d", "r", seen)) {
              changed.add(r.mapIndex);
              seen = Math.max(seen, r.changeSeq!);
            }
          }),
        );
        for (const r of await store.listTaskInstancesChangedSince("d", "r", seen)) changed.add(r.mapIndex);
        expect(changed.size).toBe(40);
      } finally {
        await other.close();
        await store.close();
      }
    });

    it("listTaskInstancesChangedSince() in pages: bounded, each row once, and never cutting one change number's rows", async () => {
      const store = await KyselyStore.open({ url: await backend.fresh(), home: tmp });
      try {
        await store.createDagRun(dagRunRow());
        await store.insertTaskInstances(
          Array.from({ length: 250 }, (_, i) => ti({ taskId: "m", mapIndex: i })),
        );
        const seen: number[] = [];
        let after = 0;
        let pages = 0;
        for (;;) {
          const page = await store.listTaskInstancesChangedSince("d", "r", after, 100);
          pages++;
          seen.push(...page.map((r) => r.mapIndex));
          if (page.length < 100) break;
          expect(page).toHaveLength(100);
          after = Math.max(...page.map((r) => r.changeSeq!));
        }
        expect(pages).toBe(3);
        expect(seen).toEqual(Array.from({ length: 250 }, (_, i) => i));
        // Rows of a run the store has no row for share change number 0: one page takes all of them.
        await store.insertTaskInstances(
          Array.from({ length: 150 }, (_, i) => ti({ runId: "norun", taskId: "m", mapIndex: i })),
        );
        const shared = await store.listTaskInstancesChangedSince("d", "norun", -1, 100);
        expect(shared).toHaveLength(150);
        expect(await store.listTaskInstancesChangedSince("d", "norun", 0, 100)).toEqual([]);
      } finally {
        await store.close();
      }
    });

    it("transition(): task instance, try row and trigger commit together, or nothing when the expected state is gone", async () => {
      const store = await KyselyStore.open({ url: await backend.fresh(), home: tmp });
      try {
        const k = { dagId: "d", runId: "r", taskId: "a", mapIndex: -1 };
        await store.insertTaskInstances([ti({ taskId: "a", state: "running", tryNumber: 1, startMs: 10 })]);
        const trigger = { id: "t1", ...k, classpath: "c", kwargs: "{}", createdMs: 1, timeoutMs: null };
        const defer = {
          kind: "defer" as const,
          key: k,
          expected: { states: ["running" as const], tryNumber: 1 },
          patch: { state: "deferred" as const, nextMethod: "m", updatedMs: 2 },
          tryRow: { ...k, tryNumber: 1, state: "deferred" as const, startMs: 10, endMs: null, error: null },
          trigger: { insert: trigger },
        };
        expect(await store.transition(defer)).toBe(true);
        expect((await store.getTaskInstance(k))!.state).toBe("deferred");
        expect((await store.listTaskTries(k)).map((t) => t.state)).toEqual(["deferred"]);
        expect((await store.listTriggersOf(k)).map((t) => t.id)).toEqual(["t1"]);
        // The same transition again: its expected state no longer holds, so nothing is written (no second trigger).
        expect(await store.transition({ ...defer, trigger: { insert: { ...trigger, id: "t2" } } })).toBe(
          false,
        );
        expect((await store.listTriggersOf(k)).map((t) => t.id)).toEqual(["t1"]);
        // A failing statement after the compare-and-set rolls the whole transition back.
        await expect(
          store.transition({
            kind: "fire",
            key: k,
            expected: { states: ["deferred"], tryNumber: 1 },
            patch: { state: "scheduled", updatedMs: 3 },
            trigger: { insert: trigger }, // duplicate primary key
          }),
        ).rejects.toThrow();
        expect((await store.getTaskInstance(k))!.state).toBe("deferred");
        expect(
          await store.transition({
            kind: "fire",
            key: k,
            expected: { states: ["deferred"], tryNumber: 1 },
            patch: { state: "scheduled", updatedMs: 3 },
            trigger: { deleteId: "t1" },
          }),
        ).toBe(true);
        expect([(await store.getTaskInstance(k))!.state, (await store.listTriggersOf(k)).length]).toEqual([
          "scheduled",
          0,
        ]);
      } finally {
        await store.close();
      }
    });

    it("bulk writes are chunked under the parameter limit: 50,000 mapped task instances and log lines", async () => {
      const store = await KyselyStore.open({ url: await backend.fresh(), home: tmp });
      try {
        const n = 50_000;
        await store.insertTaskInstances(
          Array.from({ length: n }, (_, i) => ti({ taskId: "m", mapIndex: i })),
        );
        expect((await store.listTryNumbers("d", "r", ["m"])).length).toBe(n);
        await store.appendLogs(
          Array.from({ length: n }, (_, i) => ({
            dagId: "d",
            runId: "r",
            taskId: "m",
            mapIndex: 0,
            tryNumber: 1,
            tsMs: 5,
            level: "info",
            message: `line ${i}`,
          })),
        );
        const logs = await store.listLogs({ dagId: "d", runId: "r", taskId: "m", mapIndex: 0 });
        // Lines of the same millisecond keep the order they were logged in.
        expect(logs.map((l) => l.message)).toEqual(Array.from({ length: n }, (_, i) => `line ${i}`));
      } finally {
        await store.close();
      }
    }, 120_000);

    it("a run's task instances are read whole, in key order, in pages with turns of the event loop between them", async () => {
      const store = await KyselyStore.open({ url: await backend.fresh(), home: tmp });
      try {
        // Pages of 2,000 rows: a page boundary falls inside task "a" and another between tasks.
        const rows = [
          ...Array.from({ length: 2_500 }, (_, i) =>
            ti({ taskId: "a", mapIndex: i, state: i % 2 ? "success" : "none" }),
          ),
          ti({ taskId: "b", mapIndex: -1, state: "success" }),
          ...Array.from({ length: 1_600 }, (_, i) => ti({ taskId: "c", mapIndex: i, state: "success" })),
        ];
        await store.insertTaskInstances([...rows].reverse());
        let turns = 0;
        const tick = setInterval(() => turns++, 0);
        let all;
        try {
          all = await store.listTaskInstances("d", "r");
        } finally {
          clearInterval(tick);
        }
        expect(all.map((t) => `${t.taskId}:${t.mapIndex}`)).toEqual(
          rows.map((t) => `${t.taskId}:${t.mapIndex}`),
        );
        const done = await store.listTaskInstancesInStates("d", "r", ["success"]);
        expect(done.map((t) => `${t.taskId}:${t.mapIndex}`)).toEqual(
          rows.filter((t) => t.state === "success").map((t) => `${t.taskId}:${t.mapIndex}`),
        );
        // Three pages: the loop ran between them (an interval's callback needs a turn of the event loop).
        expect(turns).toBeGreaterThan(0);
      } finally {
        await store.close();
      }
    }, 60_000);

    it("stores runs, task instances (compare-and-set), tries, XCom per try, triggers, logs and runners", async () => {
      const store = await KyselyStore.open({ url: await backend.fresh(), home: tmp });
      try {
        const run = {
          dagId: "d",
          runId: "r",
          logicalDateMs: 1000,
          conf: "{}",
          dagFile: "/x.ts",
          state: "queued" as const,
          runType: "manual",
          runnerId: null,
          createdMs: 5,
          endMs: null,
        };
        await store.createDagRun(run);
        await expect(store.createDagRun(run)).rejects.toThrow(/use another run id/);
        expect(await store.getDagRun("d", "r")).toEqual({
          ...run,
          dataIntervalStartMs: null,
          dataIntervalEndMs: null,
        });
        expect(
          await store.updateDagRun("d", "r", { runnerId: "A", state: "running" }, { runnerId: null }),
        ).toBe(true);
        expect(await store.updateDagRun("d", "r", { runnerId: "B" }, { runnerId: null })).toBe(false);
        expect((await store.listDagRuns({ states: ["running"] })).map((r) => r.runnerId)).toEqual(["A"]);

        await store.insertTaskInstances([
          ti({ taskId: "a" }),
          ti({ taskId: "b", mapIndex: 0 }),
          ti({ taskId: "b", mapIndex: 1 }),
        ]);
        await store.insertTaskInstances([ti({ taskId: "a", state: "failed" })]); // existing rows are kept
        const k = { dagId: "d", runId: "r", taskId: "a", mapIndex: -1 };
        expect((await store.getTaskInstance(k))!.state).toBe("none");
        expect(
          await store.updateTaskInstance(
            k,
            { state: "running", tryNumber: 1, killRequested: true },
            { states: ["none"], tryNumber: 0 },
          ),
        ).toBe(true);
        expect(
          await store.updateTaskInstance(k, { state: "running", tryNumber: 2 }, { states: ["none"] }),
        ).toBe(false);
        const a = (await store.getTaskInstance(k))!;
        expect([a.state, a.tryNumber, a.killRequested]).toEqual(["running", 1, true]);
        expect((await store.listTaskInstances("d", "r")).map((t) => `${t.taskId}${t.mapIndex}`)).toEqual([
          "a-1",
          "b0",
          "b1",
        ]);

        await store.upsertTaskTry({
          ...k,
          tryNumber: 1,
          state: "running",
          startMs: 1,
          endMs: null,
          error: null,
        });
        await store.upsertTaskTry({
          ...k,
          tryNumber: 1,
          state: "up_for_retry",
          startMs: 1,
          endMs: 2,
          error: "boom",
        });
        expect(await store.listTaskTries(k)).toEqual([
          { ...k, tryNumber: 1, state: "up_for_retry", startMs: 1, endMs: 2, error: "boom" },
        ]);

        await store.setXCom({ ...k, tryNumber: 1, key: "return_value", value: "1", createdMs: 1 });
        await store.setXCom({ ...k, tryNumber: 1, key: "return_value", value: "2", createdMs: 2 });
        await store.setXCom({ ...k, tryNumber: 2, key: "return_value", value: "3", createdMs: 3 });
        const x = await store.listXComs({ dagId: "d", runId: "r", taskIds: ["a"], key: "return_value" });
        expect(x.map((r) => [r.tryNumber, r.value])).toEqual([
          [1, "2"],
          [2, "3"],
        ]);

        await store.insertTrigger({
          id: "t1",
          ...k,
          classpath: "c",
          kwargs: "{}",
          createdMs: 1,
          timeoutMs: 9,
        });
        expect((await store.listTriggers({ runId: "r" }))[0]!.timeoutMs).toBe(9);
        await store.deleteTrigger("t1");
        expect(await store.listTriggers()).toEqual([]);

        await store.appendLogs([{ ...k, tryNumber: 1, tsMs: 1, level: "info", message: "hello" }]);
        expect((await store.listLogs({ dagId: "d", runId: "r", taskId: "a" }))[0]!.message).toBe("hello");

        await store.upsertRunner({ id: "A", pid: 1, hostname: "h", startedMs: 1, heartbeatMs: 1 });
        await store.upsertRunner({ id: "A", pid: 1, hostname: "h", startedMs: 1, heartbeatMs: 7 });
        expect((await store.getRunner("A"))!.heartbeatMs).toBe(7);
        await store.deleteRunner("A");
        expect(await store.getRunner("A")).toBeUndefined();
      } finally {
        await store.close();
      }
    });

    it("runs a DAG with a deferral end to end, and a second runner cannot claim a live run", async () => {
      const store = await KyselyStore.open({ url: await backend.fresh(), home: tmp });
      const clock = new ManualClock();
      try {
        const dag = new DAG({ dagId: `e2e-${name}` });
        const a = new FnOperator({ taskId: "a", dag }, async (_c, self) =>
          self.defer({ trigger: new DateTimeTrigger(clock.nowMs() + 5000), methodName: "resume" }),
        );
        Object.assign(a, { resume: async () => "resumed" });
        const b = new FnOperator(
          { taskId: "b", dag },
          async (ctx) => `b saw ${String(await ctx.ti.xcomPull({ taskIds: "a" }))}`,
        );
        a.then(b);
        const r1 = new Runner({ store, clock, heartbeatMs: 15 });
        const run = await r1.createDagRun(dag);
        const done = r1.runDagRun(dag, run.runId);
        await sleepUntil(
          async () =>
            (await store.getTaskInstance({ dagId: dag.dagId, runId: run.runId, taskId: "a", mapIndex: -1 }))
              ?.state === "deferred" && clock.pendingSleepers > 0,
          "deferred",
        );
        const r2 = new Runner({ store, clock, heartbeatMs: 15 });
        await expect(r2.runDagRun(dag, run.runId)).rejects.toThrow(/being run by live runner/);
        await r2.stop();
        clock.advance(5000);
        expect(await done).toBe("success");
        await r1.stop();
        const xb = await store.listXComs({ dagId: dag.dagId, runId: run.runId, taskIds: ["b"] });
        expect(xb[0]!.value).toBe('"b saw resumed"');
      } finally {
        await store.close();
      }
    });
  });
}
