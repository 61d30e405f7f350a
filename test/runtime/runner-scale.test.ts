/**
 * Scale is designed, not hoped for: these tests count what the runner reads
 * from the store, so a change that makes a scheduling pass (or an XCom pull)
 * read every task instance of the run again fails here, whatever the speed
 * of the machine. Figures of time and memory live in `npm run bench`.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BaseOperator, DAG, type Context } from "armada-airflow";
import { type KyselyStore } from "armada-airflow/store";
import { BULK_CHUNK_ROWS } from "../../src/runtime/store/kysely-store.js";
import { FnOperator, dagRunRow, taskInstanceRow, tempSqliteStore, testRunner } from "./support.js";

let env: Awaited<ReturnType<typeof tempSqliteStore>>;
let store: KyselyStore;
beforeEach(async () => {
  env = await tempSqliteStore();
  store = env.store;
});
afterEach(async () => {
  await env.dispose();
});

/** The store, counting the task-instance rows its list methods return. */
function countingRows(target: KyselyStore): { store: KyselyStore; rows: () => number; calls: () => number } {
  let rows = 0;
  let calls = 0;
  const counted = new Proxy(target, {
    get(t, prop) {
      const value: unknown = Reflect.get(t, prop, t);
      if (typeof value !== "function") return value;
      const fn = (value as (...a: unknown[]) => unknown).bind(t);
      if (typeof prop !== "string" || !/^listTaskInstances|^listTryNumbers$/.test(prop)) return fn;
      return async (...a: unknown[]) => {
        const out = (await fn(...a)) as unknown[];
        calls++;
        rows += out.length;
        return out;
      };
    },
  });
  return { store: counted, rows: () => rows, calls: () => calls };
}

describe("runner at scale", () => {
  it("a run of N mapped tasks and a reduce reads O(N) task-instance rows in all, not O(N^2)", async () => {
    const n = 1200;
    const dag = new DAG({ dagId: "wide" });
    class Double extends BaseOperator {
      x = 0;
      async execute(): Promise<unknown> {
        return this.x * 2;
      }
    }
    const fan = new Double({ taskId: "fan", dag }).expand({ x: Array.from({ length: n }, (_, i) => i) });
    const sum = new FnOperator({ taskId: "sum", dag }, async (ctx: Context) => {
      const values = (await ctx.ti.xcomPull({ taskIds: "fan" })) as number[];
      return values.reduce((a, b) => a + b, 0);
    });
    fan.then(sum);
    const counted = countingRows(store);
    const { runner } = testRunner(counted.store);
    const run = await runner.createDagRun(dag);
    expect(await runner.runDagRun(dag, run.runId)).toBe("success");
    await runner.stop();
    const [rv] = await store.listXComs({ dagId: "wide", runId: run.runId, taskIds: ["sum"], key: "return_value" });
    expect(JSON.parse(rv!.value)).toBe(n * (n - 1));
    // Each task instance changes a handful of times (created, started, finished) and each change is
    // read about once; the XCom pull of the reduce reads each once more. Re-reading the run on every
    // pass would be hundreds of times this.
    expect(counted.rows(), `${counted.calls()} reads`).toBeLessThan(12 * n);
  });

  it("stores 50,000 mapped task instances in one go on SQLite (bulk statements are chunked) and reads only changes", async () => {
    const n = 50_000;
    await store.createDagRun(dagRunRow({ dagId: "huge" }));
    const rows = Array.from({ length: n }, (_, i) =>
      taskInstanceRow({ dagId: "huge", taskId: "m", mapIndex: i }),
    );
    expect(n).toBeGreaterThan(BULK_CHUNK_ROWS * 60);
    await store.insertTaskInstances(rows);
    const all = await store.listTaskInstancesChangedSince("huge", "r", 0);
    expect(all).toHaveLength(n);
    const cursor = Math.max(...all.map((r) => r.changeSeq!));
    // In pages, as the runner reads them: each bounded, every instance once.
    const paged: number[] = [];
    for (let after = 0; ;) {
      const page = await store.listTaskInstancesChangedSince("huge", "r", after, 2_000);
      expect(page.length).toBeLessThanOrEqual(2_000);
      paged.push(...page.map((r) => r.mapIndex));
      if (page.length < 2_000) break;
      after = Math.max(...page.map((r) => r.changeSeq!));
    }
    expect(paged.sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
    await store.updateTaskInstance({ dagId: "huge", runId: "r", taskId: "m", mapIndex: 4321 }, { state: "queued" });
    const changed = await store.listTaskInstancesChangedSince("huge", "r", cursor);
    expect(changed.map((r) => r.mapIndex)).toEqual([4321]);
    expect(await store.listTaskInstancesInStates("huge", "r", ["queued"])).toHaveLength(1);
  });
});
