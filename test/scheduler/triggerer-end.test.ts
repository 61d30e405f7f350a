/**
 * A trigger run by the standalone triggerer (`armada-airflow triggerer`)
 * that ends its task (TaskSuccessEvent, Airflow's end_from_trigger): the
 * triggerer writes the event's XComs and SUCCESS itself, the scheduler
 * never resumes the task, and the run goes on downstream. In-process, on
 * SQLite.
 */
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { systemClock } from "../../src/common/clock.js";
import { BaseOperator, type Context } from "../../src/runtime/index.js";
import { DAG } from "../../src/runtime/dag.js";
import { Runner } from "../../src/runtime/runner.js";
import { resolveRuntimeConfig } from "../../src/runtime/runtime-config.js";
import {
  BaseTrigger,
  registerTrigger,
  TaskSuccessEvent,
  type TriggerEvent,
} from "../../src/runtime/trigger.js";
import { TriggererService } from "../../src/scheduler/triggerer-service.js";
import { tempSqliteStore } from "../runtime/support.js";

const CLASSPATH = "tests.triggerer_end.EndingTrigger";
const resumed: string[] = [];

class EndingTrigger extends BaseTrigger {
  serialize(): [string, Record<string, unknown>] {
    return [CLASSPATH, {}];
  }
  async *run(): AsyncIterable<TriggerEvent> {
    yield new TaskSuccessEvent({ return_value: { ended: "by trigger" } });
  }
}
registerTrigger(CLASSPATH, () => new EndingTrigger());

class Deferring extends BaseOperator {
  async execute(): Promise<unknown> {
    this.defer({ trigger: new EndingTrigger(), methodName: "resumed" });
  }
  async resumed(): Promise<unknown> {
    resumed.push(this.taskId);
    return "resumed";
  }
}

class Reads extends BaseOperator {
  async execute(context: Context): Promise<unknown> {
    return context.ti.xcomPull({ taskIds: "t" });
  }
}

let dispose: (() => Promise<void>) | undefined;
afterEach(async () => {
  await dispose?.();
  dispose = undefined;
  resumed.length = 0;
});

describe("the standalone triggerer", () => {
  it("ends a task whose trigger says so: XComs and SUCCESS written there, no resume, downstream runs", async () => {
    const t = await tempSqliteStore();
    const cleanups: (() => Promise<void>)[] = [t.dispose];
    dispose = async () => {
      for (const c of cleanups.reverse()) await c();
    };
    const scheduler = new Runner({ store: t.store, heartbeatMs: 20, runTriggers: false });
    cleanups.push(() => scheduler.stop());
    const triggerer = new TriggererService({
      store: t.store,
      clock: systemClock,
      pollIntervalMs: 20,
      heartbeatMs: 20,
      heartbeatTimeoutMs: 30_000,
      config: resolveRuntimeConfig({
        env: { ARMADA_AIRFLOW_HOME: path.join(os.tmpdir(), "aa-no-such-home") },
      }),
      log: () => {},
    });
    const dag = new DAG({ dagId: "ending" });
    new Deferring({ dag, taskId: "t" }).then(new Reads({ dag, taskId: "after" }));
    await scheduler.createDagRun(dag, { runId: "r" });
    const run = scheduler.runDagRun(dag, "r");
    await triggerer.start();
    const loop = triggerer.loop();
    let released = false;
    const release = async () => {
      if (released) return;
      released = true;
      triggerer.requestStop();
      await loop;
      await triggerer.release();
    };
    cleanups.push(release);
    expect(await run).toBe("success");
    expect(resumed).toEqual([]);
    const ti = (await t.store.getTaskInstance({ dagId: "ending", runId: "r", taskId: "t", mapIndex: -1 }))!;
    expect([ti.state, ti.tryNumber, ti.nextMethod]).toEqual(["success", 1, null]);
    const after = await t.store.listXComs({
      dagId: "ending",
      runId: "r",
      taskIds: ["after"],
      key: "return_value",
    });
    expect(after.map((x) => JSON.parse(x.value))).toEqual([{ ended: "by trigger" }]);
    await release(); // its log lines are flushed by then
    const lines = (await t.store.listLogs({ dagId: "ending", runId: "r", taskId: "t" })).map(
      (l) => l.message,
    );
    expect(lines).toContain("Trigger ended the task: marking task as SUCCESS");
    expect(await t.store.listTriggers()).toEqual([]);
  });
});
