/**
 * A deferrable ArmadaOperator whose job succeeds is ended by its trigger
 * (`[armada_operator] end_from_trigger`, Airflow's end_from_trigger): the
 * task never resumes, yet its result (XCom `return_value`), its log's last
 * lines and what downstream tasks read are those of a resumed task, and no
 * cancel follows the end. Against the dev server, both ways, in event and
 * poll tracking.
 */
import { afterEach, describe, expect, it } from "vitest";
import { closeArmadaHookClients } from "../../src/operator/hook.js";
import { lookoutUrl } from "../../src/operator/links.js";
import { DAG } from "../../src/runtime/dag.js";
import { resolveRuntimeConfig } from "../../src/runtime/runtime-config.js";
import { FnOperator } from "../runtime/support.js";
import { startEnv, type Env } from "./harness.js";

let env: Env | undefined;
afterEach(async () => {
  await env?.stop();
  env = undefined;
  closeArmadaHookClients();
});

/** Runs two deferrable Armada tasks and a downstream reader; what they left. */
async function runWith(endFromTrigger: boolean, tracking: "events" | "poll") {
  const config = resolveRuntimeConfig({
    env: { ...process.env, ARMADA_AIRFLOW__ARMADA_OPERATOR__END_FROM_TRIGGER: String(endFromTrigger) },
  });
  const e = (env = await startEnv({ config }));
  const dag = new DAG({ dagId: "ends" });
  const read: unknown[] = [];
  const reader = new FnOperator({ taskId: "reader", dag }, async (ctx) => {
    read.push(await ctx.ti.xcomPull({ taskIds: "a" }), await ctx.ti.xcomPull({ taskIds: "b" }));
  });
  for (const taskId of ["a", "b"]) {
    e.operator(taskId, dag, {
      deferrable: true,
      tracking,
      extraLinks: { docs: "http://docs.example/{{ ti.task_id }}" },
    }).then(reader);
  }
  expect(await e.run(dag)).toBe("success");
  const jobs = e.server.jobs();
  const results = await Promise.all(["a", "b"].map((t) => e.xcom("ends", "test_run_1", t, "return_value")));
  const expected = ["a", "b"].map((t) => {
    const job = jobs.find((j) => j.externalJobUri.startsWith(`airflow://ends/${t}/`));
    return {
      armada_queue: "test_queue_1",
      job_id: job?.id,
      job_set_id: job?.jobSetId,
      job_state: "SUCCEEDED",
      links: {
        lookout: lookoutUrl(e.server.lookoutUrlTemplate, job?.id ?? ""),
        docs: `http://docs.example/${t}`,
      },
    };
  });
  return {
    results,
    expected,
    read,
    jobStates: jobs.map((j) => j.state),
    resumes: e.logLines().filter((l) => /^Resuming .* after deferral/.test(l)).length,
    ended: e.logLines().filter((l) => l === "Trigger ended the task: marking task as SUCCESS").length,
    terminated: e.logLines().filter((l) => /^Armada job \S+ terminated with state: SUCCEEDED$/.test(l))
      .length,
    cancels: e.server.callCounts().CancelJobs ?? 0,
  };
}

describe("a trigger ends its task when the job succeeds", () => {
  for (const tracking of ["events", "poll"] as const) {
    it(`${tracking}: no resume, the same result and log lines as a resumed task, read downstream; off, the task resumes`, async () => {
      const ended = await runWith(true, tracking);
      expect(ended.results).toEqual(ended.expected);
      expect(ended.read).toEqual(ended.expected);
      expect([ended.resumes, ended.ended, ended.terminated, ended.cancels]).toEqual([0, 2, 2, 0]);
      expect(ended.jobStates).toEqual(["SUCCEEDED", "SUCCEEDED"]);
      await env!.stop();
      env = undefined;
      closeArmadaHookClients();

      const resumed = await runWith(false, tracking);
      expect(resumed.results).toEqual(resumed.expected);
      expect(resumed.read).toEqual(resumed.expected);
      expect([resumed.resumes, resumed.ended, resumed.terminated, resumed.cancels]).toEqual([2, 0, 2, 0]);
    });
  }
});
