/**
 * A deferrable ArmadaOperator submits its job from the triggerer: its task
 * defers before the submit, so the submit holds no task slot, and the
 * submits of a fan-out wider than the run's slots are all out at once
 * (sharing SubmitJobs calls), each item with its own client id.
 */
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { closeArmadaHookClients } from "../../src/operator/hook.js";
import { DAG } from "../../src/runtime/dag.js";
import { sleepUntil } from "../support/sleep-until.js";
import { startEnv, type Env } from "./harness.js";

let env: Env | undefined;
afterEach(async () => {
  await env?.stop();
  env = undefined;
});
afterAll(() => closeArmadaHookClients());

describe("submitting from the triggerer", () => {
  it("defers every task of a fan-out wider than its slots before any submit is answered, then runs each to success with one job", async () => {
    const e = (env = await startEnv());
    // Held on the server's clock, which stands still until the test lets time flow: no submit is answered.
    e.server.faults.latency("SubmitJobs", 1_000);
    e.flowing = false;
    const dag = new DAG({ dagId: "submit_fan_out", maxActiveTasks: 4 });
    const n = 24;
    for (let i = 0; i < n; i++) {
      // No hookFactory: a hook given in code cannot travel with a stored trigger, and the task submits itself.
      e.operator(`t${i}`, dag, { deferrable: true, hookFactory: undefined, tracking: "events" });
    }
    const run = e.run(dag, "r1");
    let seen: string[] = [];
    // With the submit in the task, 4 tasks would hold the 4 slots waiting for Armada and none would defer.
    await sleepUntil(
      async () => {
        seen = (await e.store.listTaskInstances("submit_fan_out", "r1")).map((t) => t.state);
        return seen.length === n && seen.every((x) => x === "deferred");
      },
      () => `every task deferred, its submit out (states: ${seen.join(",")})`,
      20_000,
    );
    await sleepUntil(() => (e.server.callCounts().SubmitJobs ?? 0) > 0, "the submits sent");
    expect(e.server.jobs(), "no submit answered yet").toHaveLength(0);
    expect(await e.xcom("submit_fan_out", "r1", "t0", "job_context")).toBeUndefined();

    e.flowing = true;
    expect(await run).toBe("success");
    const jobs = e.server.jobs();
    expect(jobs).toHaveLength(n);
    expect(new Set(jobs.map((j) => j.externalJobUri)).size).toBe(n);
    expect(jobs.every((j) => j.state === "SUCCEEDED")).toBe(true);
    // The trigger wrote each task's job to XCom as the task would, and the task followed that job.
    const ctx = (await e.xcom("submit_fan_out", "r1", "t0", "job_context")) as { armada_job_id: string };
    expect(jobs.map((j) => j.id)).toContain(ctx.armada_job_id);
    expect(await e.xcom("submit_fan_out", "r1", "t0", "armada_lookout_url")).toContain(ctx.armada_job_id);
    const log = e.logLines("t0").join("\n");
    expect(log).toMatch(/Deferring; the triggerer submits the job/);
    expect(log).toMatch(new RegExp(`Submitted job to Armada with job-id ${ctx.armada_job_id}`));
    // Every submit was out at once: they share calls (a few, by the batcher's windows), never one per slot-full.
    expect(e.server.callCounts().SubmitJobs).toBeLessThan(n / 4);
  });

  it("a refused job fails its try with the operator's error, the triggerer's submit handing it to the task", async () => {
    const e = (env = await startEnv());
    const dag = new DAG({ dagId: "refused" });
    e.operator("bad", dag, { deferrable: true, hookFactory: undefined, armadaQueue: "no_such_queue" });
    expect(await e.run(dag, "r1")).toBe("failed");
    const log = e.logLines("bad").join("\n");
    expect(log).toMatch(/Submitting from the triggerer failed/);
    expect(log).toMatch(/no_such_queue/);
    expect(e.server.jobs()).toHaveLength(0);
  });
});
