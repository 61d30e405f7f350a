/**
 * RunnerResources: what a runner holds for its tasks (the operator's Armada
 * connection pool, say) is found by the tasks it runs, and closed when the
 * runner stops, each resource once, whatever another's close does.
 */
import { afterEach, describe, expect, it } from "vitest";
import { DAG } from "armada-airflow";
import { currentRunnerResources, RunnerResources } from "../../src/runtime/runner-resources.js";
import { sleepUntil } from "../support/sleep-until.js";
import { FnOperator, tempSqliteStore, testRunner } from "./support.js";

const KEY = Symbol.for("armada-airflow.test.runner-resource");
const FAILING = Symbol.for("armada-airflow.test.failing-runner-resource");

class Held {
  closes = 0;
  constructor(private readonly fails = false) {}
  close(): void {
    this.closes++;
    if (this.fails) throw new Error("cannot close");
  }
}

let dispose: (() => Promise<void>) | undefined;
afterEach(async () => {
  await dispose?.();
  dispose = undefined;
});

describe("RunnerResources", () => {
  it("a task finds its runner's resources, made once; stop closes each once even when another fails", async () => {
    const t = await tempSqliteStore();
    dispose = t.dispose;
    const { runner } = testRunner(t.store);
    const seen: Held[] = [];
    const dag = new DAG({ dagId: "res" });
    for (const id of ["a", "b"]) {
      new FnOperator({ dag, taskId: id }, () => {
        const resources = currentRunnerResources()!;
        resources.get(FAILING, () => new Held(true));
        seen.push(resources.get(KEY, () => new Held()));
      });
    }
    await runner.createDagRun(dag, { runId: "r" });
    expect(await runner.runDagRun(dag, "r")).toBe("success");
    expect(seen).toHaveLength(2);
    expect(seen[1]).toBe(seen[0]);
    expect(seen[0]!.closes).toBe(0);
    const failing = runner.resources.get(FAILING, () => new Held(true));
    await runner.stop();
    expect([seen[0]!.closes, failing.closes]).toEqual([1, 1]);
    expect(runner.resources.size).toBe(0);
    await runner.stop();
    expect(seen[0]!.closes).toBe(1);
  });

  it("a runner stopped while a run goes on keeps its resources until that run ends", async () => {
    const t = await tempSqliteStore();
    dispose = t.dispose;
    const { runner } = testRunner(t.store);
    let held: Held | undefined;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const dag = new DAG({ dagId: "long" });
    new FnOperator({ dag, taskId: "t" }, async () => {
      held = currentRunnerResources()!.get(KEY, () => new Held());
      await gate;
    });
    await runner.createDagRun(dag, { runId: "r" });
    const run = runner.runDagRun(dag, "r");
    await sleepUntil(() => held !== undefined, "the task to take its resource");
    // As a scheduler handing its runs over does before it exits: the running task keeps its connections.
    await runner.stop();
    expect(held!.closes).toBe(0);
    release();
    expect(await run).toBe("success");
    expect(held!.closes).toBe(1);
  });

  it("outside a runner there are none; after close a resource is made anew", async () => {
    expect(currentRunnerResources()).toBeUndefined();
    const resources = new RunnerResources();
    const first = resources.get(KEY, () => new Held());
    await resources.close();
    expect(resources.get(KEY, () => new Held())).not.toBe(first);
    await expect(
      (async () => {
        resources.get(FAILING, () => new Held(true));
        await resources.close();
      })(),
    ).rejects.toBeInstanceOf(AggregateError);
  });
});
