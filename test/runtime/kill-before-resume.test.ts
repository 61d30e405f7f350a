/**
 * A task killed after its trigger fired but before it resumed: no try runs
 * and the trigger's cleanup saw a task about to resume, so the runner must
 * give the operator its `onKill()`, in the try's context.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  BaseOperator,
  BaseTrigger,
  DAG,
  TriggerEvent,
  getCurrentContext,
  registerTrigger,
  requestTaskKill,
  type Context,
  type KyselyStore,
} from "armada-airflow";
import { tempSqliteStore, testRunner } from "./support.js";

let env: Awaited<ReturnType<typeof tempSqliteStore>>;
let store: KyselyStore;
beforeEach(async () => {
  env = await tempSqliteStore();
  store = env.store;
});
afterEach(async () => {
  await env.dispose();
});

/** Fires at once, but only after asking (from "outside") to kill its task: the kill lands between fire and resume. */
class KillThenFire extends BaseTrigger {
  static readonly classpath = "tests.KillThenFire";
  readonly cleanups: { state: string; resource: unknown }[] = [];
  serialize(): [string, Record<string, unknown>] {
    return [KillThenFire.classpath, {}];
  }
  async *run(): AsyncIterable<TriggerEvent> {
    const ti = this.taskInstance!;
    await requestTaskKill(store, { dagId: ti.dagId, runId: ti.runId, taskId: ti.taskId, mapIndex: ti.mapIndex });
    yield new TriggerEvent("fired");
  }
  override async cleanup(): Promise<void> {
    const ti = this.taskInstance!;
    triggers.push({ state: await ti.currentState(), resource: await ti.xcomPull({ key: "resource" }) });
  }
}
const triggers: { state: string; resource: unknown }[] = [];
registerTrigger(KillThenFire.classpath, () => new KillThenFire());

interface KillCall {
  taskId: string;
  tryNumber: number;
  resource: unknown;
  aborted: boolean;
}

/** Holds a resource (named in XCom) while deferred; releases it in onKill. */
class Holder extends BaseOperator {
  static kills: KillCall[] = [];
  static resumes = 0;
  failKill = false;
  async execute(ctx: Context): Promise<unknown> {
    await ctx.ti.xcomPush("resource", `res-${ctx.ti.taskId}-${ctx.ti.tryNumber}`);
    this.defer({ trigger: new KillThenFire(), methodName: "resume" });
  }
  async resume(): Promise<unknown> {
    Holder.resumes++;
    return "resumed";
  }
  override async onKill(): Promise<void> {
    const ctx = getCurrentContext();
    Holder.kills.push({
      taskId: ctx.ti.taskId,
      tryNumber: ctx.ti.tryNumber,
      resource: await ctx.ti.xcomPull({ key: "resource" }),
      aborted: ctx.signal.aborted,
    });
    if (this.failKill) throw new Error("release failed");
  }
}

describe("kill requested after the trigger fired, before the resume", () => {
  beforeEach(() => {
    Holder.kills = [];
    Holder.resumes = 0;
    triggers.length = 0;
  });

  it("calls onKill once in the try's context (XCom readable, signal aborted), then fails the try; no resume", async () => {
    const dag = new DAG({ dagId: "kbr" });
    new Holder({ taskId: "h", dag });
    const { runner, events } = testRunner(store);
    const run = await runner.createDagRun(dag);
    expect(await runner.runDagRun(dag, run.runId)).toBe("failed");
    await runner.stop();
    expect(Holder.kills).toEqual([{ taskId: "h", tryNumber: 1, resource: "res-h-1", aborted: true }]);
    expect(Holder.resumes).toBe(0);
    // The trigger's cleanup ran while the task was about to resume, so it left the resource alone.
    expect(triggers).toEqual([{ state: "scheduled", resource: "res-h-1" }]);
    const ti = await store.getTaskInstance({ dagId: "kbr", runId: run.runId, taskId: "h", mapIndex: -1 });
    expect(ti).toMatchObject({ state: "failed", tryNumber: 1, killRequested: false });
    const [attempt] = await store.listTaskTries({ dagId: "kbr", runId: run.runId, taskId: "h", mapIndex: -1 });
    expect(attempt).toMatchObject({ tryNumber: 1, state: "failed" });
    expect(attempt!.error).toContain("kill requested (tasks kill)");
    const logs = events.flatMap((e) => (e.type === "log" && e.taskId === "h" ? [e.message] : []));
    expect(logs).toContain("Kill requested (tasks kill) before the task could resume");
  });

  it("with a retry left, the try ends UP_FOR_RETRY after onKill; a failing onKill is logged, not thrown", async () => {
    const dag = new DAG({ dagId: "kbr2" });
    const h = new Holder({ taskId: "h", dag, retries: 1, retryDelay: 0 });
    h.failKill = true;
    const { runner, events } = testRunner(store);
    const run = await runner.createDagRun(dag);
    // Each try defers, is killed before resuming, and calls onKill: two tries, two kills.
    expect(await runner.runDagRun(dag, run.runId)).toBe("failed");
    await runner.stop();
    expect(Holder.kills.map((k) => [k.tryNumber, k.resource])).toEqual([
      [1, "res-h-1"],
      [2, "res-h-2"],
    ]);
    expect(Holder.resumes).toBe(0);
    const tries = await store.listTaskTries({ dagId: "kbr2", runId: run.runId, taskId: "h", mapIndex: -1 });
    expect(tries.map((t) => t.state)).toEqual(["up_for_retry", "failed"]);
    // Each trigger's taskInstance.xcomPull reads its own try's XComs.
    expect(triggers).toEqual([
      { state: "scheduled", resource: "res-h-1" },
      { state: "scheduled", resource: "res-h-2" },
    ]);
    const logs = events.flatMap((e) => (e.type === "log" && e.taskId === "h" ? [e.message] : []));
    expect(logs.filter((l) => l.startsWith("onKill failed: Error: release failed"))).toHaveLength(2);
  });
});
