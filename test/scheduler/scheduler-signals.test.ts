/**
 * Stopping a scheduler process: SIGTERM stops it taking work and, when its
 * runs outlast --stop-timeout, hands them over by exiting (deferred tasks stay
 * deferred); a second signal exits at once. The next scheduler carries on in
 * the same tries.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { KyselyStore } from "armada-airflow/store";
import { killProcesses } from "../support/child-processes.js";
import { spawnSourceCli } from "../support/source-cli.js";
import { waitWhileRunning } from "../support/wait-while-running.js";
import { srcIndex } from "./support.js";

const roots: string[] = [];
afterEach(async () => {
  await killProcesses();
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

function setUp() {
  const root = mkdtempSync(path.join(os.tmpdir(), "aa-sched-sig-"));
  roots.push(root);
  const dags = path.join(root, "dags");
  const home = path.join(root, "home");
  mkdirSync(dags);
  mkdirSync(home);
  const flag = path.join(root, "go");
  // A task that defers until a file exists, then returns its try number.
  writeFileSync(
    path.join(dags, "waits.mts"),
    `import { existsSync } from "node:fs";
import { BaseOperator, BaseTrigger, DAG, TriggerEvent, registerTrigger, type Context } from ${JSON.stringify(srcIndex)};
class FileTrigger extends BaseTrigger {
  constructor(readonly file: string) { super(); }
  serialize(): [string, Record<string, unknown>] { return ["tests.FileTrigger", { file: this.file }]; }
  async *run() {
    while (!existsSync(this.file)) await new Promise((r) => setTimeout(r, 20));
    yield new TriggerEvent("there");
  }
}
registerTrigger("tests.FileTrigger", (k) => new FileTrigger(String(k.file)));
class Wait extends BaseOperator {
  async execute() { this.defer({ trigger: new FileTrigger(${JSON.stringify(flag)}), methodName: "done" }); }
  async done(ctx: Context) { return ctx.ti.tryNumber; }
}
export const dag = new DAG({ dagId: "waits", schedule: "@once", startDate: "2024-01-01" });
new Wait({ taskId: "wait", dag });
`,
  );
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ARMADA_AIRFLOW_HOME: home,
    ARMADA_AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION: "false",
    ARMADA_AIRFLOW__CORE__RUNNER_HEARTBEAT_MS: "100",
    ARMADA_AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME: "0.05",
  };
  return { dags, home, flag, env };
}

const RUN = "scheduled__2024-01-01T00:00:00+00:00";

describe("stopping the scheduler", () => {
  it(
    "SIGTERM past --stop-timeout hands the runs over: the task stays deferred and the next scheduler resumes it in the same try",
    { timeout: 120_000 },
    async () => {
      const { dags, home, flag, env } = setUp();
      const store = await KyselyStore.open({ home });
      try {
        const first = spawnSourceCli(["scheduler", "--dags-folder", dags, "--stop-timeout", "0"], env);
        await first.waitForOutput("[scheduler] ready");
        const ti = { dagId: "waits", runId: RUN, taskId: "wait", mapIndex: -1 };
        await waitWhileRunning(first, async () => (await store.getTaskInstance(ti))?.state === "deferred", {
          what: "the task deferred",
        });
        first.kill("SIGTERM");
        expect(await first.exited).toBe(0);
        expect(first.output()).toContain("handing them over to the next scheduler");
        expect((await store.getTaskInstance(ti))?.state).toBe("deferred");
        expect(await store.listTriggersOf(ti)).toHaveLength(1);

        const second = spawnSourceCli(["scheduler", "--dags-folder", dags], env);
        await second.waitForOutput("[scheduler] ready");
        await second.waitForOutput("Taking over DAG run waits");
        writeFileSync(flag, "");
        await waitWhileRunning(
          second,
          async () => (await store.getDagRun("waits", RUN))?.state === "success",
          { what: "the run done" },
        );
        const after = (await store.getTaskInstance(ti))!;
        expect([after.state, after.tryNumber]).toEqual(["success", 1]);
        const xcom = await store.listXComs({
          dagId: "waits",
          runId: RUN,
          taskIds: ["wait"],
          key: "return_value",
        });
        expect(xcom.map((x) => JSON.parse(x.value) as unknown)).toEqual([1]);
        // With nothing left to run, SIGTERM stops it at once.
        second.kill("SIGTERM");
        await second.waitForOutput("[scheduler] stopped");
        expect(await second.exited).toBe(143);
      } finally {
        await store.close();
      }
      expect(existsSync(flag)).toBe(true);
    },
  );

  it("a second signal exits at once while the first waits for runs", { timeout: 120_000 }, async () => {
    const { dags, home, env } = setUp();
    const store = await KyselyStore.open({ home });
    try {
      const s = spawnSourceCli(["scheduler", "--dags-folder", dags, "--stop-timeout", "3600"], env);
      await s.waitForOutput("[scheduler] ready");
      const ti = { dagId: "waits", runId: RUN, taskId: "wait", mapIndex: -1 };
      await waitWhileRunning(s, async () => (await store.getTaskInstance(ti))?.state === "deferred", {
        what: "the task deferred",
      });
      s.kill("SIGTERM");
      await s.waitForOutput("taking no new work; waiting up to 3600s for 1 runs");
      s.kill("SIGTERM");
      expect(await s.exited).toBe(143);
      expect((await store.getTaskInstance(ti))?.state).toBe("deferred");
    } finally {
      await store.close();
    }
  });
});
