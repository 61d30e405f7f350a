/**
 * Waiting for a slot costs nothing per task: a run of N mapped tasks in a
 * pool of 2 reads O(N) task-instance rows and makes O(N) start attempts in
 * all (a refused attempt stops the pass for the whole pool), not O(N^2).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BaseOperator, DAG } from "armada-airflow";
import type { KyselyStore } from "armada-airflow/store";
import { countingStore, tempSqliteStore, testRunner } from "./support.js";

let env: Awaited<ReturnType<typeof tempSqliteStore>>;
let store: KyselyStore;
beforeEach(async () => {
  env = await tempSqliteStore();
  store = env.store;
});
afterEach(async () => {
  await env.dispose();
});


describe("pools at scale", () => {
  it("600 mapped tasks in a pool of 2: at most 2 run at once, O(N) rows read and start attempts", async () => {
    const n = 600;
    await store.setPool({ name: "two", slots: 2, description: "", includeDeferred: false });
    const dag = new DAG({ dagId: "narrow" });
    class Step extends BaseOperator {
      x = 0;
      async execute(): Promise<unknown> {
        // A few turns of the event loop, so tries overlap as real ones do.
        for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
        return this.x;
      }
    }
    new Step({ taskId: "m", dag, pool: "two" }).expand({ x: Array.from({ length: n }, (_, i) => i) });
    const { store: counted, c } = countingStore(store);
    const { runner } = testRunner(counted);
    const run = await runner.createDagRun(dag);
    expect(await runner.runDagRun(dag, run.runId)).toBe("success");
    await runner.stop();
    expect(c.maxRunning).toBe(2);
    expect(c.starts - c.refused).toBe(n);
    // Each start is refused a bounded number of times (once per pass at most, for the whole pool).
    expect(c.refused, `${c.refused} refused starts`).toBeLessThan(4 * n);
    expect(c.rows, `${c.rows} rows read`).toBeLessThan(12 * n);
  });
});
