/**
 * `armada-airflow scheduler` runs the orphan sweep every
 * `[scheduler] orphan_sweep_interval_s` of its clock (here a ManualClock the
 * test moves), against a dev server: a live job whose task instance has
 * finished is cancelled, and the scheduler's log says so.
 */
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ArmadaClient } from "../../src/client/armada-client.js";
import { GrpcChannelArgs } from "../../src/client/channel-args.js";
import { ManualClock } from "../../src/common/clock.js";
import { startDevServer, type DevServer } from "../../src/testing/index.js";
import { sleepUntil } from "../support/sleep-until.js";
import { schedulerSandbox, srcIndex, type SchedulerSandbox } from "./support.js";

let server: DevServer;
let client: ArmadaClient;
let sb: SchedulerSandbox | undefined;
beforeAll(async () => {
  server = await startDevServer({ queues: ["default"] });
  client = new ArmadaClient(new GrpcChannelArgs({ target: server.grpcTarget }));
}, 60_000);
afterEach(async () => {
  await sb?.dispose();
  sb = undefined;
});
afterAll(async () => {
  client?.close();
  await server?.stop();
});

const dagText = (target: string) => `import { ArmadaOperator, DAG } from ${JSON.stringify(srcIndex)};
export const dag = new DAG({ dagId: "swept", schedule: null });
new ArmadaOperator({
  dag,
  taskId: "job",
  name: "job",
  channelArgs: { target: ${JSON.stringify(target)} },
  armadaQueue: "default",
  pollInterval: 1,
  jobRequest: {
    namespace: "default",
    podSpec: { containers: [{ name: "main", image: "busybox:1.36", command: ["sh", "-c"], args: ["echo done"],
      resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "10m", memory: "16Mi" } } }] },
  },
});
`;

/** A live job carrying the URI of task instance swept/job[-1] of `runId`, as a runner killed before storing it leaves one. */
async function strayJob(runId: string): Promise<string> {
  const uri = `airflow://swept/job/${runId}/-1`;
  const res = await client.submitJobs({
    queue: "default",
    jobSetId: runId,
    jobRequestItems: [
      {
        namespace: "default",
        externalJobUri: uri,
        annotations: { "armadaproject.io/externalJobUri": uri },
        podSpec: {
          containers: [
            {
              name: "main",
              image: "busybox:1.36",
              command: ["sh", "-c"],
              args: ["sleep 3600"],
              resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "10m", memory: "16Mi" } },
            },
          ],
        },
      },
    ],
  });
  return res.jobResponseItems[0]!.jobId;
}

const stateOf = (jobId: string) => server.jobs().find((j) => j.id === jobId)?.state;

describe("armada-airflow scheduler: the periodic orphan sweep", () => {
  it("cancels, every orphan_sweep_interval_s of the scheduler's clock, live jobs whose task instance finished, and logs them", async () => {
    sb = schedulerSandbox({ ARMADA_TARGET: server.grpcTarget });
    sb.write("swept.ts", dagText(server.grpcTarget));
    // A run whose Armada task succeeded, then a job for the same task instance that nothing follows.
    const ran = await sb.run(["dags", "test", path.join(sb.dags, "swept.ts"), "--run-id", "r1"]);
    expect(ran.code, ran.stderr).toBe(0);
    const [followed] = server.jobs().filter((j) => j.jobSetId === "r1");
    const stray = await strayJob("r1");
    await sleepUntil(() => stateOf(stray) === "RUNNING", "the stray job runs", 30_000);

    const clock = new ManualClock(Date.now());
    const s = await sb.startScheduler(clock);
    expect(s.stderr.text).toContain("orphan sweep every 300s");
    clock.advance(300_000);
    await s.said(
      new RegExp(
        `orphan sweep: cancelled Armada job ${stray} \\(RUNNING.*of swept/r1/job\\[-1\\]: its task instance is success`,
      ),
    );
    await sleepUntil(() => stateOf(stray) === "CANCELLED", "the stray job cancelled", 30_000);
    expect(stateOf(followed!.id)).toBe("SUCCEEDED");

    // One interval later, a run that ended since: swept. The stray job of r1, which ended before the sweep
    // before, is left to `armada sweep` (the periodic sweep does not read the whole history each time).
    const ran2 = await sb.run(["dags", "test", path.join(sb.dags, "swept.ts"), "--run-id", "r2"]);
    expect(ran2.code, ran2.stderr).toBe(0);
    const late = await strayJob("r1");
    const second = await strayJob("r2");
    await sleepUntil(
      () => stateOf(second) === "RUNNING" && stateOf(late) === "RUNNING",
      "the stray jobs run",
      30_000,
    );
    clock.advance(300_000);
    await s.said(`orphan sweep: cancelled Armada job ${second}`);
    expect(s.stderr.text.match(/orphan sweep: cancelled/g)).toHaveLength(2);
    expect(stateOf(late)).toBe("RUNNING");
    const all = await sb.run(["armada", "sweep"]);
    expect(all.stdout).toMatch(new RegExp(`${late}.*cancelled`));
    expect(await s.stop()).toBe(0);
  }, 120_000);

  it("is off with orphan_sweep_interval_s = 0, and a negative interval is refused naming the setting", async () => {
    sb = schedulerSandbox({
      ARMADA_TARGET: server.grpcTarget,
      ARMADA_AIRFLOW__SCHEDULER__ORPHAN_SWEEP_INTERVAL_S: "0",
    });
    const s = await sb.startScheduler(new ManualClock(Date.now()));
    expect(s.stderr.text).toContain("orphan sweep off");
    expect(await s.stop()).toBe(0);

    sb.env.ARMADA_AIRFLOW__SCHEDULER__ORPHAN_SWEEP_INTERVAL_S = "-5";
    const bad = await sb.run(["scheduler", "--dags-folder", sb.dags]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("scheduler.orphan_sweep_interval_s must be a number of seconds >= 0");
  }, 60_000);
});
