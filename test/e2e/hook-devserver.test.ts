/** ArmadaHook against the dev server: shared clients, lookups, cancel. */
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GrpcChannelArgs } from "../../src/client/channel-args.js";
import { ManualClock } from "../../src/common/clock.js";
import { ArmadaHook, closeArmadaHookClients } from "../../src/operator/hook.js";
import { JobState } from "../../src/client/job-states.js";
import { RunningJobContext } from "../../src/operator/running-job-context.js";
import { jobRequestItemFromKubernetes } from "../../src/client/kubernetes-job-request-item.js";
import { startDevServer, type DevServer } from "../../src/testing/index.js";
import { sleepUntil } from "../support/sleep-until.js";

let server: DevServer;
const clock = new ManualClock(Date.UTC(2024, 0, 1));
beforeAll(async () => {
  server = await startDevServer({ clock, queues: ["q"] });
});
afterAll(async () => {
  closeArmadaHookClients();
  await server.stop();
});

const item = (uri: string) => ({
  ...jobRequestItemFromKubernetes({
    podSpec: { containers: [{ name: "main", image: "busybox", args: ["sleep", "600"], resources: { requests: { cpu: "1" } } }] },
  }),
  externalJobUri: uri,
});

describe("ArmadaHook", () => {
  it("shares one client per channel, across hooks with equal channel args", () => {
    const a = new ArmadaHook(new GrpcChannelArgs({ target: server.grpcTarget }), { clock });
    const b = new ArmadaHook(new GrpcChannelArgs({ target: server.grpcTarget }), { clock });
    expect(a.client).toBe(b.client);
    expect(a.statusBatcher).toBe(b.statusBatcher);
    const other = new ArmadaHook(new GrpcChannelArgs({ target: server.grpcTarget, options: [["grpc.keepalive_time_ms", 60000]] }));
    expect(other.client).not.toBe(a.client);
  });

  it("submits, finds the most recent job by external job URI, and reports state and cluster", async () => {
    const hook = new ArmadaHook(new GrpcChannelArgs({ target: server.grpcTarget }), { clock });
    const uri = "airflow://d/t/r/-1";
    const first = await hook.submitJob({ queue: "q", jobSetId: "s1", item: item(uri), externalJobUri: uri });
    clock.advance(1000);
    const second = await hook.submitJob({ queue: "q", jobSetId: "s1", item: item(uri), externalJobUri: uri });
    const found = await hook.jobByExternalJobUri("q", "s1", uri);
    expect(found?.jobId).toBe(second);
    expect(found?.jobId).not.toBe(first);
    expect(await hook.jobByExternalJobUri("q", "s1", "airflow://none/x/y/-1")).toBeUndefined();
    await sleepUntil(async () => {
      clock.advance(200);
      return (await hook.getJobState(second)) === JobState.RUNNING;
    }, "job running");
    const info = await hook.getJobInfo(second);
    expect(info.cluster).toMatch(/^cluster-\d$/);
    expect(info.namespace).toBe("default");
  });

  it("passes on Armada's per-item submit error", async () => {
    const hook = new ArmadaHook(new GrpcChannelArgs({ target: server.grpcTarget }), { clock });
    await expect(
      hook.submitJob({ queue: "", jobSetId: "s", item: item("u"), externalJobUri: "u" }),
    ).rejects.toThrow(/queue/);
  });

  it("cancels a job, and logs rather than throws when cancelling fails", async () => {
    const hook = new ArmadaHook(new GrpcChannelArgs({ target: server.grpcTarget }), { clock });
    const id = await hook.submitJob({ queue: "q", jobSetId: "s2", item: item("u2"), externalJobUri: "u2" });
    const ctx = new RunningJobContext({ armadaQueue: "q", jobId: id, jobSetId: "s2", submitTime: clock.now() });
    const warnings: string[] = [];
    const log = { info: () => {}, warn: (m: string) => void warnings.push(m), error: () => {} };
    server.faults.failNext("CancelJobs", 1, status.INTERNAL, "boom");
    const failed = await hook.cancelJob(ctx, log);
    expect(failed.jobState).toBe("CANCELLED");
    expect(warnings.join("\n")).toMatch(/Failed to cancel Armada job .*boom/);
    await hook.cancelJob(ctx, log);
    await sleepUntil(() => server.jobs().find((j) => j.id === id)?.state === "CANCELLED", "job cancelled");
  });
});
