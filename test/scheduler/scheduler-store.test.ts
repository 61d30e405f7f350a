/**
 * The store's scheduler methods on SQLite and PostgreSQL: one automated run
 * per DAG and logical date, the maxActiveRuns claim, DAG rows, import
 * errors, the SQLite lock, and deleting a run.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KyselyStore, type DagRunRow } from "armada-airflow/store";
import { startPostgres, type PostgresServer } from "../runtime/postgres-server.js";

const tmp = mkdtempSync(path.join(os.tmpdir(), "aa-sched-store-"));
let pg: PostgresServer | undefined;
let n = 0;
beforeAll(async () => {
  pg = await startPostgres();
}, 120_000);
afterAll(async () => {
  await pg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const run = (runId: string, o: Partial<DagRunRow> = {}): DagRunRow => ({
  dagId: "d",
  runId,
  logicalDateMs: 1000,
  conf: "{}",
  dagFile: "/d.ts",
  state: "queued",
  runType: "scheduled",
  runnerId: null,
  createdMs: 1,
  endMs: null,
  ...o,
});

for (const dialect of ["sqlite", "postgres"] as const) {
  describe(`scheduler store: ${dialect}`, () => {
    const open = async () =>
      KyselyStore.open({
        url:
          dialect === "sqlite"
            ? `sqlite:${path.join(tmp, `s-${++n}.db`)}`
            : await pg!.createDatabase(`s${++n}`),
        home: tmp,
      });

    it("one scheduled or backfill run per DAG and logical date; data intervals stored", async () => {
      const store = await open();
      try {
        await store.createDagRun(run("scheduled__1", { dataIntervalStartMs: 500, dataIntervalEndMs: 1000 }));
        await expect(store.createDagRun(run("backfill__1", { runType: "backfill" }))).rejects.toThrow(
          /cannot create DAG run d\/backfill__1/,
        );
        // Manual runs may share a logical date.
        await store.createDagRun(run("manual__1", { runType: "manual" }));
        await store.createDagRun(run("manual__2", { runType: "manual" }));
        expect(await store.getDagRun("d", "scheduled__1")).toMatchObject({
          dataIntervalStartMs: 500,
          dataIntervalEndMs: 1000,
        });
        expect((await store.latestScheduledRun("d"))?.runId).toBe("scheduled__1");
      } finally {
        await store.close();
      }
    });

    it("claimQueuedRuns starts the oldest queued runs up to maxActiveRuns, once", async () => {
      const store = await open();
      try {
        await store.upsertDag({
          dagId: "d",
          fileloc: "/d.ts",
          schedule: "@daily",
          isPaused: true,
          isActive: true,
          lastParsedMs: 1,
        });
        await store.createDagRun(run("r1", { state: "running", runnerId: "X", logicalDateMs: 1 }));
        for (const i of [4, 2, 3])
          await store.createDagRun(
            run(`r${i}`, { logicalDateMs: i, runType: i === 3 ? "manual" : "backfill" }),
          );
        const [a, b] = await Promise.all([
          store.claimQueuedRuns({ dagId: "d", runnerId: "A", maxActiveRuns: 3 }),
          store.claimQueuedRuns({ dagId: "d", runnerId: "B", maxActiveRuns: 3 }),
        ]);
        const claimed = [...a, ...b];
        expect(claimed.map((r) => r.runId).sort()).toEqual(["r2", "r3"]);
        expect((await store.listDagRuns({ states: ["running"] })).length).toBe(3);
        expect(await store.claimQueuedRuns({ dagId: "d", runnerId: "A", maxActiveRuns: 3 })).toEqual([]);
        await store.updateDagRun("d", "r1", { state: "success" });
        expect(
          (
            await store.claimQueuedRuns({ dagId: "d", runnerId: "A", maxActiveRuns: 3, runTypes: ["manual"] })
          ).map((r) => r.runId),
        ).toEqual([]);
        expect(
          (
            await store.claimQueuedRuns({
              dagId: "d",
              runnerId: "A",
              maxActiveRuns: 3,
              runTypes: ["backfill"],
            })
          ).map((r) => r.runId),
        ).toEqual(["r4"]);
        // A DAG the scheduler never registered has nothing to claim.
        expect(await store.claimQueuedRuns({ dagId: "other", runnerId: "A", maxActiveRuns: 3 })).toEqual([]);
      } finally {
        await store.close();
      }
    });

    it("DAG rows keep their paused flag across re-registration; import errors; the lock; deleting a run", async () => {
      const store = await open();
      try {
        await store.upsertDag({
          dagId: "d",
          fileloc: "/a.ts",
          schedule: "@daily",
          isPaused: true,
          isActive: true,
          lastParsedMs: 1,
        });
        expect(await store.setDagPaused("d", false)).toBe(true);
        await store.upsertDag({
          dagId: "d",
          fileloc: "/b.ts",
          schedule: "@hourly",
          isPaused: true,
          isActive: true,
          lastParsedMs: 2,
        });
        expect(await store.getDag("d")).toEqual({
          dagId: "d",
          fileloc: "/b.ts",
          schedule: "@hourly",
          isPaused: false,
          isActive: true,
          lastParsedMs: 2,
        });
        await store.deactivateDags(["d"]);
        expect((await store.getDag("d"))?.isActive).toBe(false);
        expect(await store.setDagPaused("nope", true)).toBe(false);

        await store.setImportError({ filename: "/x.ts", error: "boom", timestampMs: 5 });
        await store.setImportError({ filename: "/x.ts", error: "boom again", timestampMs: 6 });
        expect(await store.listImportErrors()).toEqual([
          { filename: "/x.ts", error: "boom again", timestampMs: 6 },
        ]);
        await store.clearImportError("/x.ts");
        expect(await store.listImportErrors()).toEqual([]);

        const alive = new Set(["A"]);
        const isAlive = async (h: string) => alive.has(h);
        expect(await store.acquireLock("scheduler", "A", isAlive, 1)).toBe("A");
        expect(await store.acquireLock("scheduler", "B", isAlive, 2)).toBe("A");
        alive.delete("A");
        expect(await store.acquireLock("scheduler", "B", isAlive, 3)).toBe("B");
        alive.add("B");
        await store.releaseLock("scheduler", "A");
        expect(await store.acquireLock("scheduler", "C", isAlive, 4)).toBe("B");
        await store.releaseLock("scheduler", "B");
        expect(await store.acquireLock("scheduler", "C", isAlive, 5)).toBe("C");

        await store.createDagRun(run("r"));
        await store.insertTaskInstances([
          {
            dagId: "d",
            runId: "r",
            taskId: "t",
            mapIndex: -1,
            state: "success",
            tryNumber: 1,
            maxTries: 0,
            nextMethod: null,
            nextKwargs: null,
            nextRetryMs: null,
            startMs: 1,
            endMs: 2,
            runnerId: null,
            killRequested: false,
            updatedMs: 2,
          },
        ]);
        await store.setXCom({
          dagId: "d",
          runId: "r",
          taskId: "t",
          mapIndex: -1,
          tryNumber: 1,
          key: "k",
          value: "1",
          createdMs: 1,
        });
        await store.appendLogs([
          {
            dagId: "d",
            runId: "r",
            taskId: "t",
            mapIndex: -1,
            tryNumber: 1,
            tsMs: 1,
            level: "info",
            message: "m",
          },
        ]);
        expect(await store.deleteDagRun("d", "r")).toBe(true);
        expect(await store.getDagRun("d", "r")).toBeUndefined();
        expect(await store.listTaskInstances("d", "r")).toEqual([]);
        expect(await store.listXComs({ dagId: "d", runId: "r" })).toEqual([]);
        expect(await store.listLogs({ dagId: "d", runId: "r" })).toEqual([]);
        expect(await store.deleteDagRun("d", "r")).toBe(false);
      } finally {
        await store.close();
      }
    });
  });
}
