import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  BaseOperator,
  BaseTrigger,
  DAG,
  DateTimeTrigger,
  ManualClock,
  TaskFatalError,
  TaskSuccessEvent,
  TriggerEvent,
  getCurrentContext,
  registerTrigger,
  type Context,
  type TaskInstanceState,
} from "armada-airflow";
import { markTaskFailed, requestTaskKill, type KyselyStore } from "armada-airflow/store";
import { sleepUntil } from "../support/sleep-until.js";
import { FnOperator, taskInstanceRow, tempSqliteStore, testRunner } from "./support.js";

let env: Awaited<ReturnType<typeof tempSqliteStore>>;
let store: KyselyStore;
beforeEach(async () => {
  env = await tempSqliteStore();
  store = env.store;
});
afterEach(async () => {
  await env.dispose();
});

async function tiState(
  dagId: string,
  runId: string,
  taskId: string,
  mapIndex = -1,
): Promise<TaskInstanceState | undefined> {
  return (await store.getTaskInstance({ dagId, runId, taskId, mapIndex }))?.state;
}

/**
 * Registers under `classpath` a trigger that never fires on its own (it waits until removed) and returns a
 * factory of it; its cleanup hands the task's id and state at that moment to `onCleanup`.
 */
function foreverTrigger(
  classpath: string,
  onCleanup: (taskId: string, state: TaskInstanceState) => void,
): () => BaseTrigger {
  class Forever extends BaseTrigger {
    serialize(): [string, Record<string, unknown>] {
      return [classpath, {}];
    }
    async *run(): AsyncIterable<TriggerEvent> {
      await this.clock.sleep(1e9, this.signal);
      yield new TriggerEvent(null);
    }
    override async cleanup(): Promise<void> {
      onCleanup(this.taskInstance!.taskId, await this.taskInstance!.currentState());
    }
  }
  registerTrigger(classpath, () => new Forever());
  return () => new Forever();
}

describe("Runner", () => {
  it("runs dependencies in order, passes XCom and records logs", async () => {
    const dag = new DAG({ dagId: "plain", params: { who: "dag" } });
    const order: string[] = [];
    const a = new FnOperator({ taskId: "a", dag }, async (ctx) => {
      order.push("a");
      await ctx.ti.xcomPush("extra", { n: 1, when: new Date("2024-01-02T00:00:00Z") });
      ctx.ti.log.info("hello from %s", "a");
      return { v: 42 };
    });
    const b = new FnOperator({ taskId: "b", dag }, async (ctx) => {
      order.push("b");
      expect(getCurrentContext().ti.taskId).toBe("b");
      const fromA = await ctx.ti.xcomPull({ taskIds: "a" });
      const extra = await ctx.ti.xcomPull({ taskIds: "a", key: "extra" });
      return { fromA, extra, who: ctx.params.who, conf: ctx.conf, mapIndex: ctx.ti.mapIndex };
    });
    a.then(b);
    const { runner, events } = testRunner(store);
    const run = await runner.createDagRun(dag, { conf: { who: "conf" } });
    expect(await runner.runDagRun(dag, run.runId)).toBe("success");
    await runner.stop();
    expect(order).toEqual(["a", "b"]);
    const xb = await store.listXComs({
      dagId: "plain",
      runId: run.runId,
      taskIds: ["b"],
      key: "return_value",
    });
    expect(JSON.parse(xb[0]!.value)).toEqual({
      fromA: { v: 42 },
      extra: {
        n: 1,
        when: {
          __classname__: "pendulum.datetime.DateTime",
          __version__: 2,
          __data__: { timestamp: 1704153600, tz: "UTC" },
        },
      },
      who: "conf",
      conf: { who: "conf" },
      mapIndex: -1,
    });
    const logs = await store.listLogs({ dagId: "plain", runId: run.runId, taskId: "a" });
    expect(logs.map((l) => l.message)).toContain("hello from a");
    expect(events.some((e) => e.type === "ti" && e.taskId === "b" && e.state === "success")).toBe(true);
  });

  it("retries as Airflow counts tries: tryNumber 1..retries+1, maxTries = retries", async () => {
    const dag = new DAG({ dagId: "retry", defaultArgs: { retries: 2, retryDelay: 0 } });
    const seen: [number, number][] = [];
    new FnOperator({ taskId: "flaky", dag }, async (ctx) => {
      seen.push([ctx.ti.tryNumber, ctx.ti.maxTries]);
      if (ctx.ti.tryNumber < 3) throw new Error(`boom ${ctx.ti.tryNumber}`);
      return "ok";
    });
    const { runner } = testRunner(store);
    const run = await runner.createDagRun(dag);
    expect(await runner.runDagRun(dag, run.runId)).toBe("success");
    await runner.stop();
    expect(seen).toEqual([
      [1, 2],
      [2, 2],
      [3, 2],
    ]);
    const tries = await store.listTaskTries({
      dagId: "retry",
      runId: run.runId,
      taskId: "flaky",
      mapIndex: -1,
    });
    expect(tries.map((t) => [t.tryNumber, t.state])).toEqual([
      [1, "up_for_retry"],
      [2, "up_for_retry"],
      [3, "success"],
    ]);
    expect(tries[0]!.error).toContain("boom 1");
  });

  it("fails when retries run out; downstream is upstream_failed; all_done still runs", async () => {
    const dag = new DAG({ dagId: "fail", defaultArgs: { retries: 1, retryDelay: 0 } });
    let tries = 0;
    const bad = new FnOperator({ taskId: "bad", dag }, async () => {
      tries++;
      throw new Error("always");
    });
    const after = new FnOperator({ taskId: "after", dag }, async () => "never");
    const cleanup = new FnOperator(
      { taskId: "cleanup", dag, triggerRule: "all_done" },
      async () => "cleaned",
    );
    bad.then([after, cleanup]);
    const { runner } = testRunner(store);
    const run = await runner.createDagRun(dag);
    expect(await runner.runDagRun(dag, run.runId)).toBe("failed");
    await runner.stop();
    expect(tries).toBe(2);
    expect(await tiState("fail", run.runId, "bad")).toBe("failed");
    expect(await tiState("fail", run.runId, "after")).toBe("upstream_failed");
    expect(await tiState("fail", run.runId, "cleanup")).toBe("success");
  });

  it("a template error fails the try, naming the template field path and the variable", async () => {
    class Templated extends BaseOperator {
      command: unknown = { args: ["run", "{{ params.missing }}"] };
      override templateFields = ["command"];
      async execute(): Promise<unknown> {
        return this.command;
      }
    }
    const dag = new DAG({ dagId: "bad-template" });
    new Templated({ taskId: "t", dag });
    const { runner } = testRunner(store);
    const run = await runner.createDagRun(dag);
    expect(await runner.runDagRun(dag, run.runId)).toBe("failed");
    await runner.stop();
    const [attempt] = await store.listTaskTries({
      dagId: "bad-template",
      runId: run.runId,
      taskId: "t",
      mapIndex: -1,
    });
    expect(attempt!.error).toContain(
      "Cannot render template field 'command.args[1]': 'params.missing' is undefined",
    );
  });

  it("task instances of tasks no longer in the DAG end REMOVED", async () => {
    const dag = new DAG({ dagId: "changed" });
    new FnOperator({ taskId: "kept", dag }, () => 1);
    const { runner } = testRunner(store);
    const run = await runner.createDagRun(dag);
    await store.insertTaskInstances([
      taskInstanceRow({ dagId: "changed", runId: run.runId, taskId: "gone" }),
    ]);
    expect(await runner.runDagRun(dag, run.runId)).toBe("success");
    await runner.stop();
    expect(await tiState("changed", run.runId, "gone")).toBe("removed");
  });

  it("a TaskFatalError (recognised by brand, also from a subclass) is not retried", async () => {
    class MyFatal extends TaskFatalError {}
    const dag = new DAG({ dagId: "fatal", defaultArgs: { retries: 3, retryDelay: 0 } });
    let tries = 0;
    new FnOperator({ taskId: "t", dag }, async () => {
      tries++;
      throw new MyFatal("no point retrying");
    });
    const { runner } = testRunner(store);
    const run = await runner.createDagRun(dag);
    expect(await runner.runDagRun(dag, run.runId)).toBe("failed");
    await runner.stop();
    expect(tries).toBe(1);
  });

  it("waits retryDelay (exponential backoff capped by maxRetryDelay) on the injected clock", async () => {
    const clock = new ManualClock();
    const dag = new DAG({ dagId: "delay" });
    const starts: number[] = [];
    new FnOperator(
      { taskId: "t", dag, retries: 2, retryDelay: 60, retryExponentialBackoff: true, maxRetryDelay: 100 },
      async (ctx) => {
        starts.push(ctx.clock.nowMs());
        if (ctx.ti.tryNumber < 3) throw new Error("again");
      },
    );
    // Counts the runner's reads of what changed: each scheduling pass makes one (two when it looks finished).
    let reads = 0;
    const counted = new Proxy(store, {
      get(target, prop) {
        const value: unknown = Reflect.get(target, prop, target);
        if (typeof value !== "function") return value;
        const fn = (value as (...a: unknown[]) => unknown).bind(target);
        if (prop !== "listTaskInstancesChangedSince") return fn;
        return (...a: unknown[]) => {
          reads++;
          return fn(...a);
        };
      },
    });
    const { runner } = testRunner(counted, clock);
    const run = await runner.createDagRun(dag);
    const done = runner.runDagRun(dag, run.runId);
    const t0 = clock.nowMs();
    await sleepUntil(
      async () => (await tiState("delay", run.runId, "t")) === "up_for_retry",
      "first failure",
    );
    const ti = (await store.getTaskInstance({
      dagId: "delay",
      runId: run.runId,
      taskId: "t",
      mapIndex: -1,
    }))!;
    // try 1: 60 * 2^0 = 60 plus jitter in [0, 60): between 60 and 100 (the cap).
    const firstDelay = ti.nextRetryMs! - t0;
    expect(firstDelay).toBeGreaterThanOrEqual(60_000);
    expect(firstDelay).toBeLessThanOrEqual(100_000);
    clock.advance(firstDelay - 1);
    // Instead of a fixed pause: three reads after the move span at least two whole scheduling
    // passes that saw the time 1 ms short of the retry, and neither started the try.
    const seen = reads;
    await sleepUntil(() => reads >= seen + 3, "two scheduling passes after the clock moved");
    expect(starts).toHaveLength(1);
    clock.advance(1);
    await sleepUntil(
      async () => starts.length === 2 && (await tiState("delay", run.runId, "t")) === "up_for_retry",
      "second failure",
    );
    // try 2: 120 + jitter, capped at 100.
    clock.advance(100_000);
    expect(await done).toBe("success");
    await runner.stop();
    expect(starts[2]! - starts[1]!).toBe(100_000);
  });

  it("defers, resumes in methodName with the event payload on the same try, and keeps the try's XCom", async () => {
    const clock = new ManualClock();
    class Waiter extends BaseOperator {
      async execute(ctx: Context): Promise<unknown> {
        await ctx.ti.xcomPush("before", "x");
        this.defer({
          trigger: new DateTimeTrigger(clock.nowMs() + 10_000),
          methodName: "resumeHere",
          kwargs: { k: 1 },
        });
      }
      async resumeHere(ctx: Context, event: unknown, kwargs: Record<string, unknown>): Promise<unknown> {
        return {
          event,
          kwargs,
          tryNumber: ctx.ti.tryNumber,
          before: await ctx.ti.xcomPull({ key: "before" }),
        };
      }
    }
    const dag = new DAG({ dagId: "defer" });
    new Waiter({ taskId: "w", dag });
    const { runner } = testRunner(store, clock);
    const run = await runner.createDagRun(dag);
    const done = runner.runDagRun(dag, run.runId);
    await sleepUntil(
      async () => (await tiState("defer", run.runId, "w")) === "deferred" && clock.pendingSleepers > 0,
      "deferred",
    );
    expect(await store.listTriggers()).toHaveLength(1);
    clock.advance(10_000);
    expect(await done).toBe("success");
    await runner.stop();
    const rv = await store.listXComs({
      dagId: "defer",
      runId: run.runId,
      taskIds: ["w"],
      key: "return_value",
    });
    expect(JSON.parse(rv[0]!.value)).toEqual({
      event: new Date(Date.UTC(2024, 0, 1) + 10_000).toISOString(),
      kwargs: { k: 1 },
      tryNumber: 1,
      before: "x",
    });
    expect(await store.listTriggers()).toHaveLength(0);
  });

  it("a trigger's TaskSuccessEvent ends the task: its XComs written, SUCCESS without a resume, downstream runs", async () => {
    const clock = new ManualClock();
    const resumed: string[] = [];
    const cleanups: TaskInstanceState[] = [];
    class Ends extends BaseTrigger {
      serialize(): [string, Record<string, unknown>] {
        return ["test.Ends", {}];
      }
      async *run(): AsyncIterable<TriggerEvent> {
        await this.clock.sleep(5_000, this.signal);
        yield new TaskSuccessEvent({ return_value: { job: "j-1" }, extra: 7 });
      }
      override async cleanup(): Promise<void> {
        cleanups.push(await this.taskInstance!.currentState());
      }
    }
    registerTrigger("test.Ends", () => new Ends());
    class Waiter extends BaseOperator {
      async execute(): Promise<unknown> {
        this.defer({ trigger: new Ends(), methodName: "resumeHere" });
      }
      async resumeHere(): Promise<unknown> {
        resumed.push(this.taskId);
        return "resumed";
      }
    }
    const dag = new DAG({ dagId: "ends" });
    const w = new Waiter({ taskId: "w", dag });
    // DateTimeTrigger's own endFromTrigger (Airflow's end_from_trigger), through its stored form.
    const sensor = new (class extends BaseOperator {
      async execute(): Promise<unknown> {
        this.defer({
          trigger: new DateTimeTrigger(clock.nowMs() + 5_000, { endFromTrigger: true }),
          methodName: "resumeHere",
        });
      }
      async resumeHere(): Promise<unknown> {
        resumed.push(this.taskId);
        return "resumed";
      }
    })({ taskId: "sensor", dag });
    const after = new FnOperator({ taskId: "after", dag }, async (ctx) => ctx.ti.xcomPull({ taskIds: "w" }));
    w.then(after);
    sensor.then(after);
    const { runner } = testRunner(store, clock);
    const run = await runner.createDagRun(dag);
    const done = runner.runDagRun(dag, run.runId);
    await sleepUntil(
      async () =>
        (await tiState("ends", run.runId, "w")) === "deferred" &&
        (await tiState("ends", run.runId, "sensor")) === "deferred" &&
        clock.pendingSleepers > 1,
      "both deferred",
    );
    clock.advance(5_000);
    expect(await done).toBe("success");
    await runner.stop();
    expect(resumed).toEqual([]);
    expect(cleanups).toEqual(["success"]);
    const xcom = async (taskId: string, key: string) =>
      (await store.listXComs({ dagId: "ends", runId: run.runId, taskIds: [taskId], key })).map((x) =>
        JSON.parse(x.value),
      );
    expect(await xcom("w", "return_value")).toEqual([{ job: "j-1" }]);
    expect(await xcom("w", "extra")).toEqual([7]);
    expect(await xcom("sensor", "return_value")).toEqual([]);
    expect(await xcom("after", "return_value")).toEqual([{ job: "j-1" }]);
    for (const taskId of ["w", "sensor"]) {
      const ti = (await store.getTaskInstance({ dagId: "ends", runId: run.runId, taskId, mapIndex: -1 }))!;
      expect([ti.state, ti.tryNumber, ti.nextMethod, ti.endMs !== null]).toEqual(["success", 1, null, true]);
      expect((await store.listTaskTries(ti)).map((t) => t.state)).toEqual(["success"]);
      const lines = (await store.listLogs({ dagId: "ends", runId: run.runId, taskId, mapIndex: -1 })).map(
        (l) => l.message,
      );
      expect(lines).toContain("Trigger ended the task: marking task as SUCCESS");
      expect(lines.some((l) => l.includes("Trigger fired"))).toBe(false);
    }
    expect(await store.listTriggers()).toHaveLength(0);
  });

  it("enforces the defer timeout and calls cleanup with the task's final state", async () => {
    const clock = new ManualClock();
    const cleanups: string[] = [];
    class Never extends BaseTrigger {
      serialize(): [string, Record<string, unknown>] {
        return ["tests.Never", {}];
      }
      async *run(): AsyncIterable<TriggerEvent> {
        await this.clock.sleep(1e9, this.signal);
        yield new TriggerEvent(null);
      }
      override async cleanup(): Promise<void> {
        cleanups.push(await this.taskInstance!.currentState());
      }
    }
    registerTrigger("tests.Never", () => new Never());
    const dag = new DAG({ dagId: "timeout" });
    new FnOperator({ taskId: "t", dag }, async (_ctx, self) =>
      self.defer({ trigger: new Never(), methodName: "execute", timeout: 30 }),
    );
    const { runner } = testRunner(store, clock);
    const run = await runner.createDagRun(dag);
    const done = runner.runDagRun(dag, run.runId);
    await sleepUntil(
      async () => (await tiState("timeout", run.runId, "t")) === "deferred" && clock.pendingSleepers >= 2,
      "deferred",
    );
    clock.advance(30_000);
    expect(await done).toBe("failed");
    await runner.stop();
    expect(cleanups).toEqual(["failed"]);
    const tries = await store.listTaskTries({
      dagId: "timeout",
      runId: run.runId,
      taskId: "t",
      mapIndex: -1,
    });
    expect(tries[0]!.error).toContain("Trigger timeout");
  });

  it("maps over a literal list and over an upstream output, with mapIndex", async () => {
    const dag = new DAG({ dagId: "mapped" });
    class Square extends BaseOperator {
      x = 0;
      async execute(ctx: Context): Promise<unknown> {
        return { x: this.x * this.x, mapIndex: ctx.ti.mapIndex };
      }
    }
    const make = new FnOperator({ taskId: "make", dag }, async () => [2, 3]);
    const lit = new Square({ taskId: "lit", dag }).expand({ x: [1, 2, 3] });
    const dyn = new Square({ taskId: "dyn", dag }).expand({ x: make.output });
    const sum = new FnOperator({ taskId: "sum", dag }, async (ctx) => ({
      lit: await ctx.ti.xcomPull({ taskIds: "lit" }),
      dyn: await ctx.ti.xcomPull({ taskIds: "dyn" }),
      one: await ctx.ti.xcomPull({ taskIds: "dyn", mapIndexes: 1 }),
    }));
    lit.then(sum);
    dyn.then(sum);
    const { runner } = testRunner(store);
    const run = await runner.createDagRun(dag);
    expect(await runner.runDagRun(dag, run.runId)).toBe("success");
    await runner.stop();
    const rv = await store.listXComs({
      dagId: "mapped",
      runId: run.runId,
      taskIds: ["sum"],
      key: "return_value",
    });
    expect(JSON.parse(rv[0]!.value)).toEqual({
      lit: [
        { x: 1, mapIndex: 0 },
        { x: 4, mapIndex: 1 },
        { x: 9, mapIndex: 2 },
      ],
      dyn: [
        { x: 4, mapIndex: 0 },
        { x: 9, mapIndex: 1 },
      ],
      one: { x: 9, mapIndex: 1 },
    });
  });

  it("an executionTimeout calls onKill and fails the try (retryable)", async () => {
    const clock = new ManualClock();
    const dag = new DAG({ dagId: "exec-timeout" });
    let killed = 0;
    new FnOperator(
      { taskId: "slow", dag, executionTimeout: 5, retries: 1, retryDelay: 0 },
      (ctx) =>
        new Promise((_r, reject) =>
          ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason as Error)),
        ),
      () => killed++,
    );
    const { runner } = testRunner(store, clock);
    const run = await runner.createDagRun(dag);
    const done = runner.runDagRun(dag, run.runId);
    await sleepUntil(
      async () =>
        (await tiState("exec-timeout", run.runId, "slow")) === "running" && clock.pendingSleepers > 0,
      "running",
    );
    clock.advance(5_000);
    await sleepUntil(
      async () =>
        killed === 1 &&
        (await store.listTaskTries({ dagId: "exec-timeout", runId: run.runId, taskId: "slow", mapIndex: -1 }))
          .length === 2,
      "retry",
    );
    await sleepUntil(() => clock.pendingSleepers > 0, "second try sleeping");
    clock.advance(5_000);
    expect(await done).toBe("failed");
    await runner.stop();
    expect(killed).toBe(2);
    const tries = await store.listTaskTries({
      dagId: "exec-timeout",
      runId: run.runId,
      taskId: "slow",
      mapIndex: -1,
    });
    expect(tries.map((t) => t.state)).toEqual(["up_for_retry", "failed"]);
    expect(tries[0]!.error).toContain("timed out after 5 seconds");
  });

  it("executionTimeout is one deadline from the try's start across deferrals: onKill, then a retryable timeout", async () => {
    const clock = new ManualClock();
    let kills = 0;
    let resumes = 0;
    /** Defers every 10 s for ever, as a deferrable operator waiting on a job stuck in QUEUED does. */
    class Poller extends BaseOperator {
      async execute(): Promise<unknown> {
        this.defer({
          trigger: new DateTimeTrigger(clock.nowMs() + 10_000),
          methodName: "again",
          timeout: 3600,
        });
      }
      async again(): Promise<unknown> {
        resumes++;
        this.defer({
          trigger: new DateTimeTrigger(clock.nowMs() + 10_000),
          methodName: "again",
          timeout: 3600,
        });
      }
      override onKill(): void {
        kills++;
      }
    }
    const dag = new DAG({ dagId: "exec-deadline" });
    new Poller({ taskId: "p", dag, executionTimeout: 25, retries: 1, retryDelay: 3600 });
    const { runner } = testRunner(store, clock);
    const run = await runner.createDagRun(dag);
    const key = { dagId: "exec-deadline", runId: run.runId, taskId: "p", mapIndex: -1 };
    const done = runner.runDagRun(dag, run.runId);
    const deferredAgain = async (n: number) =>
      sleepUntil(
        async () =>
          resumes === n &&
          (await tiState("exec-deadline", run.runId, "p")) === "deferred" &&
          clock.pendingSleepers > 0,
        `deferral ${n + 1}`,
      );
    await deferredAgain(0);
    clock.advance(10_000);
    await deferredAgain(1);
    clock.advance(10_000);
    await deferredAgain(2);
    // 20 s into the try; its deadline is at 25 s, although each deferral asked for an hour.
    expect((await store.listTriggers())[0]!.timeoutMs).toBe(
      (await store.getTaskInstance(key))!.startMs! + 25_000,
    );
    clock.advance(5_000);
    await sleepUntil(
      async () => (await tiState("exec-deadline", run.runId, "p")) === "up_for_retry",
      "timed out",
    );
    expect(kills).toBe(1);
    const tries = await store.listTaskTries(key);
    expect(tries.map((t) => t.state)).toEqual(["up_for_retry"]);
    expect(tries[0]!.error).toContain(
      "timed out after 25 seconds (executionTimeout, counted from the start of try 1)",
    );
    expect(await store.listTriggers()).toHaveLength(0);
    void runner.shutdown("test over");
    await done;
    await runner.stop();
  });

  it("tasks kill / mark-failed from outside: onKill for running, trigger cleanup for deferred; never success", async () => {
    const dag = new DAG({ dagId: "kill", defaultArgs: { retries: 1, retryDelay: 3600 } });
    const kills: string[] = [];
    const cleanups: string[] = [];
    const forever = foreverTrigger("tests.Forever", (taskId, state) => cleanups.push(`${taskId}:${state}`));
    const hang = (ctx: Context) =>
      new Promise<never>((_r, reject) =>
        ctx.signal.addEventListener("abort", () => reject(new Error("aborted"))),
      );
    new FnOperator({ taskId: "run-kill", dag }, hang, () => kills.push("run-kill"));
    new FnOperator({ taskId: "run-fail", dag }, hang, () => kills.push("run-fail"));
    new FnOperator({ taskId: "def-kill", dag }, async (_c, self) =>
      self.defer({ trigger: forever(), methodName: "execute" }),
    );
    new FnOperator({ taskId: "def-fail", dag }, async (_c, self) =>
      self.defer({ trigger: forever(), methodName: "execute" }),
    );
    const { runner } = testRunner(store);
    const run = await runner.createDagRun(dag);
    const done = runner.runDagRun(dag, run.runId);
    const k = (taskId: string) => ({ dagId: "kill", runId: run.runId, taskId, mapIndex: -1 });
    await sleepUntil(
      async () =>
        (await tiState("kill", run.runId, "run-kill")) === "running" &&
        (await tiState("kill", run.runId, "run-fail")) === "running" &&
        (await tiState("kill", run.runId, "def-kill")) === "deferred" &&
        (await tiState("kill", run.runId, "def-fail")) === "deferred",
      "all started",
    );
    await requestTaskKill(store, k("run-kill"));
    await markTaskFailed(store, k("run-fail"));
    await requestTaskKill(store, k("def-kill"));
    await markTaskFailed(store, k("def-fail"));
    await sleepUntil(() => kills.length === 2 && cleanups.length === 2, "kills handled");
    expect(kills.sort()).toEqual(["run-fail", "run-kill"]);
    expect(cleanups.sort()).toEqual(["def-fail:failed", "def-kill:up_for_retry"]);
    expect(await tiState("kill", run.runId, "run-kill")).toBe("up_for_retry");
    expect(await tiState("kill", run.runId, "run-fail")).toBe("failed");
    expect(await tiState("kill", run.runId, "def-kill")).toBe("up_for_retry");
    // SIGTERM-style shutdown ends what is left without success.
    await runner.shutdown("SIGTERM");
    expect(await done).toBe("interrupted");
    await runner.stop();
  });

  it("marked failed as its deferral commits, while a pass ran during the deferral's write: the trigger's cleanup still runs", async () => {
    // The fault matrix's lost cancel (deferrable, PostgreSQL, a loaded machine): a scheduling pass ran while
    // the deferral's write was in flight, and the task was marked failed before the next pass read the
    // deferral. That pass must still find the stored trigger, or its cleanup (the job's cancel) never runs.
    const dag = new DAG({ dagId: "race" });
    const cleanups: string[] = [];
    const forever = foreverTrigger("tests.ForeverRace", (taskId, state) =>
      cleanups.push(`${taskId}:${state}`),
    );
    new FnOperator({ taskId: "def", dag }, async (_c, self) =>
      self.defer({ trigger: forever(), methodName: "execute" }),
    );
    let refreshes = 0;
    let held = false;
    const racing = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === "listTaskInstancesChangedSince")
          return (...args: Parameters<KyselyStore["listTaskInstancesChangedSince"]>) => {
            refreshes++;
            return target.listTaskInstancesChangedSince(...args);
          };
        if (prop === "transition")
          return async (t: Parameters<KyselyStore["transition"]>[0]) => {
            if (t.kind !== "defer" || held) return target.transition(t);
            held = true;
            // Two refreshes after the hold began: a whole pass ran while the deferral was unwritten.
            const from = refreshes;
            await sleepUntil(() => refreshes >= from + 2, "a pass during the deferral's write");
            const ok = await target.transition(t);
            // Marked failed from outside before the runner's next pass reads the deferral.
            await markTaskFailed(target, t.key);
            return ok;
          };
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    const { runner } = testRunner(racing);
    const run = await runner.createDagRun(dag);
    expect(await runner.runDagRun(dag, run.runId)).toBe("failed");
    expect(held).toBe(true);
    expect(cleanups).toEqual(["def:failed"]);
    expect(await store.listTriggers({ dagId: "race", runId: run.runId })).toEqual([]);
    await runner.stop();
  });

  it("shutdown kills running tries (onKill) and deferred ones (cleanup sees the final state)", async () => {
    const dag = new DAG({ dagId: "shutdown" });
    const seen: string[] = [];
    const forever = foreverTrigger("tests.Forever2", (_taskId, state) => seen.push(`cleanup:${state}`));
    new FnOperator(
      { taskId: "r", dag },
      (ctx) =>
        new Promise((_r, reject) => ctx.signal.addEventListener("abort", () => reject(new Error("x")))),
      () => seen.push("onKill"),
    );
    new FnOperator({ taskId: "d", dag }, async (_c, self) =>
      self.defer({ trigger: forever(), methodName: "execute" }),
    );
    const { runner } = testRunner(store);
    const run = await runner.createDagRun(dag);
    const done = runner.runDagRun(dag, run.runId);
    await sleepUntil(
      async () =>
        (await tiState("shutdown", run.runId, "r")) === "running" &&
        (await tiState("shutdown", run.runId, "d")) === "deferred",
      "started",
    );
    await runner.shutdown("SIGTERM");
    expect(await done).toBe("interrupted");
    await runner.stop();
    expect(seen.sort()).toEqual(["cleanup:failed", "onKill"]);
    expect(await tiState("shutdown", run.runId, "r")).toBe("failed");
    expect(await tiState("shutdown", run.runId, "d")).toBe("failed");
  });

  it("100 mapped deferred tasks share one loop: one sleeper per trigger, all resume on one clock advance", async () => {
    const clock = new ManualClock();
    const dag = new DAG({ dagId: "many" });
    class Waiter extends BaseOperator {
      n = 0;
      async execute(): Promise<unknown> {
        this.defer({ trigger: new DateTimeTrigger(clock.nowMs() + 1000), methodName: "done" });
      }
      async done(): Promise<unknown> {
        return this.n;
      }
    }
    new Waiter({ taskId: "w", dag }).expand({ n: Array.from({ length: 100 }, (_, i) => i) });
    const { runner } = testRunner(store, clock);
    const run = await runner.createDagRun(dag);
    const done = runner.runDagRun(dag, run.runId);
    await sleepUntil(
      async () => (await store.listTriggers()).length === 100 && clock.pendingSleepers >= 100,
      "100 deferred",
      20_000,
    );
    expect(clock.pendingSleepers).toBe(100);
    clock.advance(1000);
    expect(await done).toBe("success");
    await runner.stop();
    const rv = await store.listXComs({
      dagId: "many",
      runId: run.runId,
      taskIds: ["w"],
      key: "return_value",
    });
    expect(rv.map((r) => Number(r.value)).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 100 }, (_, i) => i),
    );
  });
});
