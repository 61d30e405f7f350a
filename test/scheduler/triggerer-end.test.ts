/**
 * A trigger run by the standalone triggerer (`armada-airflow triggerer`)
 * that ends its task (TaskSuccessEvent, Airflow's end_from_trigger): the
 * triggerer writes the event's XComs and SUCCESS itself, the scheduler
 * never resumes the task, and the run goes on downstream. In-process, on
 * SQLite.
 */
import { afterEach, describe, expect, it } from "vitest";
import { BaseOperator, type Context } from "../../src/runtime/index.js";
import { DAG } from "../../src/runtime/dag.js";
import {
  BaseTrigger,
  registerTrigger,
  TaskSuccessEvent,
  type TriggerEvent,
} from "../../src/runtime/trigger.js";
import { schedulerWithTriggerer } from "./support.js";

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
    const s = await schedulerWithTriggerer();
    dispose = s.dispose;
    const dag = new DAG({ dagId: "ending" });
    new Deferring({ dag, taskId: "t" }).then(new Reads({ dag, taskId: "after" }));
    await s.scheduler.createDagRun(dag, { runId: "r" });
    expect(await s.scheduler.runDagRun(dag, "r")).toBe("success");
    expect(resumed).toEqual([]);
    const ti = (await s.store.getTaskInstance({ dagId: "ending", runId: "r", taskId: "t", mapIndex: -1 }))!;
    expect([ti.state, ti.tryNumber, ti.nextMethod]).toEqual(["success", 1, null]);
    const after = await s.store.listXComs({ dagId: "ending", runId: "r", taskIds: ["after"], key: "return_value" });
    expect(after.map((x) => JSON.parse(x.value))).toEqual([{ ended: "by trigger" }]);
    await s.release(); // its log lines are flushed by then
    const lines = (await s.store.listLogs({ dagId: "ending", runId: "r", taskId: "t" })).map((l) => l.message);
    expect(lines).toContain("Trigger ended the task: marking task as SUCCESS");
    expect(await s.store.listTriggers()).toEqual([]);
  });
});
