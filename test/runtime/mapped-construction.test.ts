/**
 * Mapped task instances are built through their operator's constructor (as
 * Airflow unmaps a mapped operator), so a constructor's checks and the fields
 * it derives see each instance's mapped values.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ArmadaOperator, BaseOperator, DAG, GrpcChannelArgs, type BaseOperatorOptions } from "armada-airflow";
import { closeArmadaHookClients } from "../../src/operator/hook.js";
import { DagDefinitionError } from "../../src/runtime/errors.js";
import type { KyselyStore } from "../../src/runtime/store/kysely-store.js";
import { startDevServer, type DevServer } from "../../src/testing/index.js";
import { FnOperator, tempSqliteStore, testRunner } from "./support.js";

let env: Awaited<ReturnType<typeof tempSqliteStore>>;
let store: KyselyStore;
let server: DevServer;
beforeAll(async () => {
  server = await startDevServer({ queues: ["q"] });
});
afterAll(async () => {
  closeArmadaHookClients();
  await server.stop();
});
beforeEach(async () => {
  env = await tempSqliteStore();
  store = env.store;
});
afterEach(async () => {
  await env.dispose();
});

/** Derives a field from an option in its constructor, and refuses an empty word there. */
class Shout extends BaseOperator {
  readonly loud: string;
  constructor(options: BaseOperatorOptions & { word?: string }) {
    super(options);
    if (options.word === "")
      throw new DagDefinitionError("word", `task "${options.taskId}": word must not be empty`);
    this.loud = `${options.word ?? ""}!`.toUpperCase();
  }
  async execute(): Promise<unknown> {
    return this.loud;
  }
}

const errorsOf = async (dagId: string, runId: string, taskId: string) =>
  Object.fromEntries(
    (await store.listTaskInstances(dagId, runId))
      .filter((t) => t.taskId === taskId)
      .map((t) => [t.mapIndex, t.state]),
  );

describe("mapped task instances are built through the constructor", () => {
  it("a field the constructor derives follows the mapped value; a value the constructor refuses fails that instance only", async () => {
    const dag = new DAG({ dagId: "shout" });
    const shout = new Shout({ taskId: "shout", dag, word: "x" }).expand({ word: ["a", "", "c"] });
    // A constructor with more than options (a function here) still maps, by setting the property.
    const fn = new FnOperator(
      { taskId: "fn", dag },
      async (_ctx, self) => (self as unknown as { n: number }).n * 2,
    );
    fn.expand({ n: [1, 2] });
    const { runner } = testRunner(store);
    const run = await runner.createDagRun(dag);
    expect(await runner.runDagRun(dag, run.runId)).toBe("failed");
    await runner.stop();
    expect(await errorsOf("shout", run.runId, "shout")).toEqual({ 0: "success", 1: "failed", 2: "success" });
    const xcoms = await store.listXComs({ dagId: "shout", runId: run.runId, key: "return_value" });
    const value = (task: string, i: number) =>
      JSON.parse(xcoms.find((x) => x.taskId === task && x.mapIndex === i)!.value) as unknown;
    expect([value("shout", 0), value("shout", 2)]).toEqual(["A!", "C!"]);
    expect([value("fn", 0), value("fn", 1)]).toEqual([2, 4]);
    const tries = await store.listTaskTries({
      dagId: "shout",
      runId: run.runId,
      taskId: "shout",
      mapIndex: 1,
    });
    expect(tries[0]!.error).toContain("word must not be empty");
    // The DAG's own operator is untouched.
    expect(shout.loud).toBe("X!");
  });

  it("expand({ pollInterval: [-1] }) on ArmadaOperator fails that instance naming pollInterval, and submits nothing", async () => {
    const dag = new DAG({ dagId: "bad_poll" });
    new ArmadaOperator({
      dag,
      taskId: "job",
      name: "job",
      channelArgs: new GrpcChannelArgs({ target: server.grpcTarget }),
      armadaQueue: "q",
      pollInterval: 1,
      jobRequest: {
        namespace: "default",
        podSpec: {
          containers: [
            {
              name: "main",
              image: "busybox:1.36",
              args: ["true"],
              resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "10m", memory: "16Mi" } },
            },
          ],
        },
      },
    }).expand({ pollInterval: [-1] });
    const { runner } = testRunner(store);
    const run = await runner.createDagRun(dag);
    expect(await runner.runDagRun(dag, run.runId)).toBe("failed");
    await runner.stop();
    const tries = await store.listTaskTries({
      dagId: "bad_poll",
      runId: run.runId,
      taskId: "job",
      mapIndex: 0,
    });
    expect(tries).toHaveLength(1);
    expect(tries[0]!.error).toMatch(/pollInterval: must be a number of seconds > 0, got -1/);
    expect(server.jobs().filter((j) => j.jobSetId.includes("bad_poll") || j.queue === "q")).toEqual([]);
  });
});
