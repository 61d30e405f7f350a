/**
 * The store's guarded start on SQLite and PostgreSQL: starts racing on two
 * connections for a pool never take more slots than it has, a deferred task
 * holds its slots only in a pool that includes deferred tasks, and a
 * missing pool is refused with its name.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KyselyStore, applyOutcome, type TaskInstanceRow } from "armada-airflow/store";
import { PoolSlotsUnavailable } from "../../src/runtime/pools.js";
import { startPostgres, type PostgresServer } from "./postgres-server.js";
import { taskInstanceRow } from "./support.js";

const tmp = mkdtempSync(path.join(os.tmpdir(), "aa-pools-store-"));
let pgServer: PostgresServer | undefined;
let n = 0;
beforeAll(async () => {
  // No skipping: without PostgreSQL binaries this fails with the reason.
  pgServer = await startPostgres();
}, 120_000);
afterAll(async () => {
  await pgServer?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const ti = (taskId: string): TaskInstanceRow => taskInstanceRow({ taskId });

/**
 * Two stores on one fresh database, with a run of `count` task instances.
 * On SQLite one store twice: its driver is synchronous, so a second
 * connection in the same process would wait for the writer lock with the
 * event loop blocked (across processes SQLite's writer lock serializes the
 * starts, as its one connection does here).
 */
async function twoStores(dialect: "sqlite" | "postgres", count: number): Promise<[KyselyStore, KyselyStore]> {
  const url =
    dialect === "sqlite"
      ? `sqlite:${path.join(tmp, `p${++n}.db`)}`
      : await pgServer!.createDatabase(`pools${++n}`);
  const a = await KyselyStore.open({ url, home: tmp });
  const b = dialect === "sqlite" ? a : await KyselyStore.open({ url, home: tmp });
  await a.createDagRun({
    dagId: "d",
    runId: "r",
    logicalDateMs: 0,
    conf: "{}",
    dagFile: "",
    state: "running",
    runType: "manual",
    runnerId: null,
    createdMs: 0,
    endMs: null,
  });
  await a.insertTaskInstances(Array.from({ length: count }, (_, i) => ti(`t${i}`)));
  return [a, b];
}

const start = (store: KyselyStore, row: TaskInstanceRow, pool: string, slots = 1) =>
  applyOutcome(store, { kind: "start", row, runnerId: "x", nowMs: 1, pool: { name: pool, slots } });

for (const dialect of ["sqlite", "postgres"] as const) {
  describe(`pool slots: ${dialect}`, () => {
    it("20 starts racing on two connections for a pool of 3 (2 slots each for some) take at most 3 slots", async () => {
      const [a, b] = await twoStores(dialect, 20);
      try {
        await a.setPool({ name: "three", slots: 3, description: "", includeDeferred: false });
        const rows = Array.from({ length: 20 }, (_, i) => ti(`t${i}`));
        const results = await Promise.allSettled(
          rows.map((r, i) => start(i % 2 ? a : b, r, "three", i % 5 === 0 ? 2 : 1)),
        );
        const refused = results.filter((r) => r.status === "rejected").map((r) => r.reason as unknown);
        for (const e of refused) {
          expect(PoolSlotsUnavailable.isPoolError(e)).toBe(true);
          expect((e as PoolSlotsUnavailable).refusal).toMatchObject({ kind: "full", total: 3 });
        }
        const running = (await a.listTaskInstances("d", "r")).filter((t) => t.state === "running");
        const taken = running.reduce((s, t) => s + (t.poolSlots ?? 0), 0);
        expect(taken).toBeLessThanOrEqual(3);
        expect(taken).toBeGreaterThanOrEqual(2);
        expect(running.every((t) => t.pool === "three")).toBe(true);
        expect((await a.poolUsage()).find((u) => u.pool === "three")).toEqual({
          pool: "three",
          running: taken,
          deferred: 0,
        });
        expect(await a.countRunningOf("x")).toBe(running.length);
        // A refused start wrote nothing: its task instance is still NONE at try 0.
        const none = (await a.listTaskInstances("d", "r")).filter((t) => t.state === "none");
        expect(none).toHaveLength(20 - running.length);
        expect(none.every((t) => t.tryNumber === 0 && t.pool === null)).toBe(true);
      } finally {
        await a.close();
        if (b !== a) await b.close();
      }
    });

    it("a deferred task holds its slot only in a pool that includes deferred tasks; a missing pool is refused by name", async () => {
      const [a, b] = await twoStores(dialect, 4);
      try {
        await a.setPool({ name: "free", slots: 1, description: "", includeDeferred: false });
        await a.setPool({ name: "kept", slots: 1, description: "", includeDeferred: true });
        for (const [pool, first, second, fits] of [
          ["free", "t0", "t1", true],
          ["kept", "t2", "t3", false],
        ] as const) {
          expect(await start(a, ti(first), pool)).toBe(true);
          await a.updateTaskInstance(
            { dagId: "d", runId: "r", taskId: first, mapIndex: -1 },
            { state: "deferred" },
          );
          const second_ = start(b, ti(second), pool);
          if (fits) expect(await second_).toBe(true);
          else await expect(second_).rejects.toThrow(`waiting for a slot in pool ${pool} (1/1 used)`);
        }
        const err = await start(a, { ...ti("t3") }, "nope").catch((e: unknown) => e);
        expect(PoolSlotsUnavailable.isPoolError(err)).toBe(true);
        expect((err as Error).message).toBe(
          'pool "nope" does not exist; create it with: armada-airflow pools set nope SLOTS',
        );
        expect(await a.deletePool("kept")).toBe(true);
        expect((await b.listPools()).map((p) => p.name)).toEqual(["default_pool", "free"]);
      } finally {
        await a.close();
        if (b !== a) await b.close();
      }
    });
  });
}
