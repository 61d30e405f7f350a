/**
 * Kills with no try running to receive them: a task killed (or marked
 * failed) after its trigger fired but before it resumed, or marked failed
 * after its runner died. The trigger's cleanup saw a task about to resume (or
 * there is no trigger), so the runner must give the operator its `onKill()`,
 * exactly once, in the try's context.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  BaseOperator,
  BaseTrigger,
  DAG,
  TriggerEvent,
  getCurrentContext,
  registerTrigger,
  serializeValue,
  type Context,
} from "armada-airflow";
import { markTaskFailed, requestTaskKill, type KyselyStore, type Store } from "armada-airflow/store";
import { sleepUntil } from "../support/sleep-until.js";
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
    await requestTaskKill(store, {
      dagId: ti.dagId,
      runId: ti.runId,
      taskId: ti.taskId,
      mapIndex: ti.mapIndex,
    });
    yield new TriggerEvent("fired");
  }
  override async cleanup(): Promise<void> {
    const ti = this.taskInstance!;
    triggers.push({ state: await ti.currentState(), resource: await ti.xcomPull({ key: "resource" }) });
  }
}
const triggers: { state: string; resource: unknown }[] = [];
registerTrigger(KillThenFire.classpath, () => new KillThenFire());

/** Fires at once; its cleanup (task now SCHEDULED) runs `onCleanup` first thing, before the task can resume. */
class FireThenHook extends BaseTrigger {
  static readonly classpath = "tests.FireThenHook";
  static onCleanup: (() => void) | undefined;
  serialize(): [string, Record<string, unknown>] {
    return [FireThenHook.classpath, {}];
  }
  async *run(): AsyncIterable<TriggerEvent> {
    yield new TriggerEvent("fired");
  }
  override async cleanup(): Promise<void> {
    FireThenHook.onCleanup?.();
  }
}
registerTrigger(FireThenHook.classpath, () => new FireThenHook());

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
  trigger: () => BaseTrigger = () => new KillThenFire();
  async execute(ctx: Context): Promise<unknown> {
    await ctx.ti.xcomPush("resource", `res-${ctx.ti.taskId}-${ctx.ti.tryNumber}`);
    this.defer({ trigger: this.trigger(), methodName: "resume" });
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
    const [attempt] = await store.listTaskTries({
      dagId: "kbr",
      runId: run.runId,
      taskId: "h",
      mapIndex: -1,
    });
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

  it("tasks mark-failed after the trigger fired, while no runner runs: the next runner calls onKill once", async () => {
    const dag = new DAG({ dagId: "kbr3" });
    const h = new Holder({ taskId: "h", dag, retries: 2 });
    h.trigger = () => new FireThenHook();
    const key = { dagId: "kbr3", runId: "", taskId: "h", mapIndex: -1 };
    // Runner A goes away just after the trigger fired: the task is left SCHEDULED, with no trigger.
    const a = testRunner(store);
    const run = await a.runner.createDagRun(dag);
    key.runId = run.runId;
    FireThenHook.onCleanup = () => void a.runner.shutdown("runner going away");
    try {
      expect(await a.runner.runDagRun(dag, run.runId)).toBe("interrupted");
    } finally {
      FireThenHook.onCleanup = undefined;
      await a.runner.stop();
    }
    expect(await store.getTaskInstance(key)).toMatchObject({ state: "scheduled", tryNumber: 1 });
    expect(await store.listTriggers()).toHaveLength(0);
    expect(Holder.kills).toHaveLength(0);
    expect(await markTaskFailed(store, key)).toBe("scheduled");
    // A new runner (as `resume`) gives the operator its onKill; FAILED stays (no retry), nothing resumes.
    const b = testRunner(store);
    expect(await b.runner.runDagRun(dag, run.runId)).toBe("failed");
    expect(await b.runner.runDagRun(dag, run.runId)).toBe("failed");
    await b.runner.stop();
    expect(Holder.kills).toEqual([{ taskId: "h", tryNumber: 1, resource: "res-h-1", aborted: true }]);
    expect(Holder.resumes).toBe(0);
    expect(await store.getTaskInstance(key)).toMatchObject({
      state: "failed",
      tryNumber: 1,
      killRequested: false,
    });
  });

  it("a pending kill request on a deferred task marked failed is dropped: its trigger cleanup releases the work, not onKill", async () => {
    const dag = new DAG({ dagId: "kbr4" });
    new Holder({ taskId: "h", dag });
    const a = testRunner(store);
    const run = await a.runner.createDagRun(dag);
    const key = { dagId: "kbr4", runId: run.runId, taskId: "h", mapIndex: -1 };
    await store.insertTaskInstances([
      {
        ...key,
        state: "deferred",
        tryNumber: 1,
        maxTries: 0,
        nextMethod: "resume",
        nextKwargs: null,
        nextRetryMs: null,
        startMs: 0,
        endMs: null,
        runnerId: null,
        killRequested: true,
        updatedMs: 0,
      },
    ]);
    expect(await markTaskFailed(store, key)).toBe("deferred");
    expect(await store.getTaskInstance(key)).toMatchObject({ state: "failed", killRequested: false });
    expect(await a.runner.runDagRun(dag, run.runId)).toBe("failed");
    await a.runner.stop();
    expect(Holder.kills).toHaveLength(0);
  });

  it("a kill requested just after the runner read the SCHEDULED row still reaches the resumed try (onKill once)", async () => {
    /** Resumes and then waits until killed (so only a kill can end it). */
    class Waiter extends Holder {
      override async resume(): Promise<unknown> {
        Holder.resumes++;
        const { signal } = getCurrentContext();
        return new Promise((_resolve, reject) =>
          signal.addEventListener("abort", () => reject(signal.reason as Error), { once: true }),
        );
      }
    }
    const dag = new DAG({ dagId: "kbr5" });
    const w = new Waiter({ taskId: "h", dag });
    w.trigger = () => new FireThenHook();
    let injected = false;
    // The request lands between the runner's read of the row and its update to RUNNING.
    const racy = new Proxy(store, {
      get(target, prop) {
        if (prop === "transition") {
          // The resume is one atomic transition; the kill lands just before it.
          const transition: Store["transition"] = async (t) => {
            if (!injected && t.patch.state === "running" && t.expected.states.includes("scheduled")) {
              injected = true;
              await requestTaskKill(target, t.key);
            }
            return target.transition(t);
          };
          return transition;
        }
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const { runner } = testRunner(racy);
    const run = await runner.createDagRun(dag);
    const done = runner.runDagRun(dag, run.runId);
    try {
      // onKill, then the run's end (the try's failure follows onKill): only then may the test stop the runner.
      let ended = false;
      void done.finally(() => (ended = true));
      await sleepUntil(
        () => Holder.kills.length > 0 && ended,
        "onKill of the resumed try, then the end of its run",
        5_000,
      );
    } finally {
      void runner.shutdown("test over");
    }
    expect(await done).toBe("failed");
    await runner.stop();
    expect(injected).toBe(true);
    expect(Holder.resumes).toBe(1);
    expect(Holder.kills).toEqual([{ taskId: "h", tryNumber: 1, resource: "res-h-1", aborted: true }]);
    expect(
      await store.getTaskInstance({ dagId: "kbr5", runId: run.runId, taskId: "h", mapIndex: -1 }),
    ).toMatchObject({
      state: "failed",
      killRequested: false,
    });
  });

  it("tasks mark-failed on a task whose runner died while it ran: the next runner (resume) calls onKill once", async () => {
    const dag = new DAG({ dagId: "kbr6" });
    new Holder({ taskId: "h", dag, retries: 3 });
    const { runner } = testRunner(store);
    const run = await runner.createDagRun(dag);
    const key = { dagId: "kbr6", runId: run.runId, taskId: "h", mapIndex: -1 };
    // What a runner killed with -9 mid-try leaves behind.
    await store.insertTaskInstances([
      {
        ...key,
        state: "running",
        tryNumber: 1,
        maxTries: 3,
        nextMethod: null,
        nextKwargs: null,
        nextRetryMs: null,
        startMs: 0,
        endMs: null,
        runnerId: "gone-host:1:dead",
        killRequested: false,
        updatedMs: 0,
      },
    ]);
    await store.setXCom({
      ...key,
      tryNumber: 1,
      key: "resource",
      value: serializeValue("res-h-1", "test"),
      createdMs: 0,
    });
    expect(await markTaskFailed(store, key)).toBe("running");
    expect(await runner.runDagRun(dag, run.runId)).toBe("failed");
    await runner.stop();
    expect(Holder.kills).toEqual([{ taskId: "h", tryNumber: 1, resource: "res-h-1", aborted: true }]);
    expect(await store.getTaskInstance(key)).toMatchObject({
      state: "failed",
      tryNumber: 1,
      killRequested: false,
    });
  });

  it("tasks kill on a task whose runner died while it ran: resume calls onKill once, then fails the try", async () => {
    const dag = new DAG({ dagId: "kbr8" });
    new Holder({ taskId: "h", dag });
    const { runner } = testRunner(store);
    const run = await runner.createDagRun(dag);
    const key = { dagId: "kbr8", runId: run.runId, taskId: "h", mapIndex: -1 };
    await store.insertTaskInstances([
      {
        ...key,
        state: "running",
        tryNumber: 1,
        maxTries: 0,
        nextMethod: null,
        nextKwargs: null,
        nextRetryMs: null,
        startMs: 0,
        endMs: null,
        runnerId: "gone-host:1:dead",
        killRequested: false,
        updatedMs: 0,
      },
    ]);
    await store.setXCom({
      ...key,
      tryNumber: 1,
      key: "resource",
      value: serializeValue("res-h-1", "test"),
      createdMs: 0,
    });
    expect(await requestTaskKill(store, key)).toBe("running");
    expect(await runner.runDagRun(dag, run.runId)).toBe("failed");
    await runner.stop();
    expect(Holder.kills).toEqual([{ taskId: "h", tryNumber: 1, resource: "res-h-1", aborted: true }]);
    expect(await store.getTaskInstance(key)).toMatchObject({
      state: "failed",
      tryNumber: 1,
      killRequested: false,
    });
  });

  it("tasks mark-failed on a try running here: onKill exactly once", async () => {
    class Hanger extends Holder {
      override async execute(ctx: Context): Promise<unknown> {
        await ctx.ti.xcomPush("resource", "res-run");
        return new Promise((_resolve, reject) =>
          ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason as Error), { once: true }),
        );
      }
    }
    const dag = new DAG({ dagId: "kbr7" });
    new Hanger({ taskId: "h", dag });
    const { runner } = testRunner(store);
    const run = await runner.createDagRun(dag);
    const key = { dagId: "kbr7", runId: run.runId, taskId: "h", mapIndex: -1 };
    const done = runner.runDagRun(dag, run.runId);
    await sleepUntil(
      async () => (await store.listXComs({ dagId: "kbr7", runId: run.runId, key: "resource" })).length === 1,
      "running",
    );
    expect(await markTaskFailed(store, key)).toBe("running");
    expect(await done).toBe("failed");
    await runner.stop();
    expect(Holder.kills).toEqual([{ taskId: "h", tryNumber: 1, resource: "res-run", aborted: true }]);
    expect(await store.getTaskInstance(key)).toMatchObject({ state: "failed", killRequested: false });
  });
});
