/**
 * A scheduling pass writes its starts together: the tries a pass starts
 * (a burst of resumes, the first tries of a mapped task) have their start
 * transitions out at once, sharing commits, instead of one commit's wait
 * each, one after another; and still no more run at once than the run's
 * task slots allow, and every try runs once.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BaseOperator, DAG } from "armada-airflow";
import { countingStore, tempSqliteStore, testRunner } from "./support.js";

let env: Awaited<ReturnType<typeof tempSqliteStore>>;
beforeEach(async () => {
  env = await tempSqliteStore();
});
afterEach(async () => {
  await env.dispose();
});


describe("a pass's start writes", () => {
  it("64 mapped tasks, 16 task slots: a pass has its starts out together, never more than 16 run, each runs once", async () => {
    const n = 64;
    const dag = new DAG({ dagId: "together", maxActiveTasks: 16 });
    const ran: number[] = [];
    class Step extends BaseOperator {
      x = 0;
      async execute(): Promise<unknown> {
        // A few turns of the event loop, so tries overlap as real ones do.
        for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
        ran.push(this.x);
        return this.x;
      }
    }
    new Step({ taskId: "m", dag }).expand({ x: Array.from({ length: n }, (_, i) => i) });
    const { store, c } = countingStore(env.store);
    const { runner } = testRunner(store);
    const run = await runner.createDagRun(dag);
    expect(await runner.runDagRun(dag, run.runId)).toBe("success");
    await runner.stop();
    expect(c.starts).toBe(n);
    expect(ran.sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(c.maxRunning).toBeLessThanOrEqual(16);
    // The first pass starts 16, all handed to the store before any settles (awaited one by one: 1 at a time).
    expect(c.maxInFlight, `${c.maxInFlight} start writes out at once at most`).toBe(16);
  });
});
