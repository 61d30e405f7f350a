import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArmadaClient, ArmadaError, GrpcChannelArgs } from "../../src/client/index.js";
import { HealthCheckResponse_ServingStatus } from "../../src/gen/armada/health.js";
import { JobRunState } from "../../src/gen/armada/job.js";
import { JobState } from "../../src/gen/armada/submit.js";
import { FakeArmadaServer } from "./support/fake-armada-server.js";

describe("ArmadaClient: every method against an in-process server", () => {
  let server: FakeArmadaServer;
  let client: ArmadaClient;

  beforeAll(async () => {
    server = await new FakeArmadaServer().start();
    client = new ArmadaClient(new GrpcChannelArgs({ target: server.target }));
  });
  afterAll(async () => {
    client.close();
    await server.stop();
  });

  it("health and eventHealth report SERVING", async () => {
    expect((await client.health()).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    expect((await client.eventHealth()).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
  });

  it("manages queues: create, createQueues, get, getQueues, update, updateQueues, delete", async () => {
    await client.createQueue({ name: "q1", priorityFactor: 1 });
    const batch = await client.createQueues({
      queues: [
        { name: "q2", priorityFactor: 2 },
        { name: "q1", priorityFactor: 1 },
      ],
    });
    expect(batch.failedQueues.map((f) => f.queue?.name)).toEqual(["q1"]);
    expect((await client.getQueue({ name: "q2" })).priorityFactor).toBe(2);
    await client.updateQueue({ name: "q2", priorityFactor: 3, labels: { team: "a" } });
    expect(await client.getQueue({ name: "q2" })).toMatchObject({ priorityFactor: 3, labels: { team: "a" } });
    const upd = await client.updateQueues({ queues: [{ name: "q1", priorityFactor: 5 }, { name: "nope" }] });
    expect(upd.failedQueues.map((f) => f.queue?.name)).toEqual(["nope"]);
    const names: string[] = [];
    for await (const q of client.getQueues()) names.push(q.name);
    expect(names.sort()).toEqual(["q1", "q2"]);
    await client.deleteQueue({ name: "q2" });
    const err = await client.getQueue({ name: "q2" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArmadaError);
    expect((err as ArmadaError).code).toBe(status.NOT_FOUND);
    expect((err as ArmadaError).method).toBe("GetQueue");
  });

  it("submits, queries, reprioritizes, preempts and cancels jobs", async () => {
    await client.createQueue({ name: "jobs" });
    const res = await client.submitJobs({
      queue: "jobs",
      jobSetId: "set-1",
      jobRequestItems: [
        {
          priority: 1,
          namespace: "default",
          externalJobUri: "airflow://d/t/r/0",
          podSpecs: [{ containers: [{ name: "main", image: "busybox" }] }],
        },
        { priority: 2, namespace: "default" },
      ],
    });
    const [a, b] = res.jobResponseItems.map((i) => i.jobId);
    expect(a).toBeTruthy();
    expect(b).toBeTruthy();
    // The server received the pod spec exactly.
    expect(server.jobs.get(a!)!.item.podSpecs[0]!.containers[0]).toMatchObject({
      name: "main",
      image: "busybox",
    });

    expect((await client.getJobStatus({ jobIds: [a!, "missing"] })).jobStates).toEqual({
      [a!]: JobState.QUEUED,
      missing: JobState.UNKNOWN,
    });
    const byUri = await client.getJobStatusUsingExternalJobUri({
      queue: "jobs",
      jobset: "set-1",
      externalJobUri: "airflow://d/t/r/0",
    });
    expect(Object.keys(byUri.jobStates)).toEqual([a]);

    server.jobs.get(a!)!.runs.push({
      runId: "run-1",
      jobId: a!,
      state: JobRunState.RUN_STATE_RUNNING,
      cluster: "cluster-a",
      node: "node-1",
      leasedTs: new Date(Date.UTC(2024, 0, 1)),
      pendingTs: undefined,
      startedTs: undefined,
      finishedTs: undefined,
      ingressAddresses: { 8080: "10.0.0.1:8080" },
    });
    const details = await client.getJobDetails({ jobIds: [a!], expandJobRun: true });
    expect(details.jobDetails[a!]).toMatchObject({ queue: "jobs", jobset: "set-1", latestRunId: "run-1" });
    expect(details.jobDetails[a!]!.submittedTs).toEqual(new Date(Date.UTC(2024, 0, 1)));
    const runs = await client.getJobRunDetails({ runIds: ["run-1"] });
    expect(runs.jobRunDetails["run-1"]).toMatchObject({
      cluster: "cluster-a",
      ingressAddresses: { 8080: "10.0.0.1:8080" },
    });

    server.jobs.get(a!)!.state = JobState.RUNNING;
    expect((await client.getActiveQueues()).activeQueuesByPool["default"]!.queues).toEqual(["jobs"]);

    server.jobs.get(b!)!.error = "OOMKilled";
    expect((await client.getJobErrors({ jobIds: [b!] })).jobErrors).toEqual({ [b!]: "OOMKilled" });

    const rep = await client.reprioritizeJobs({
      jobIds: [a!, "ghost"],
      queue: "jobs",
      jobSetId: "set-1",
      newPriority: 9,
    });
    expect(rep.reprioritizationResults).toEqual({ ghost: "job not found" });
    expect(server.jobs.get(a!)!.item.priority).toBe(9);

    expect(
      (await client.preemptJobs({ queue: "jobs", jobSetId: "set-1", jobIds: [a!] })).preemptionResults,
    ).toEqual({});
    expect(server.jobs.get(a!)!.state).toBe(JobState.PREEMPTED);

    expect(
      (await client.cancelJobs({ queue: "jobs", jobSetId: "set-1", jobIds: [b!] })).cancelledIds,
    ).toEqual([b]);
    await client.cancelJobSet({ queue: "jobs", jobSetId: "set-1" });
    expect(server.jobs.get(a!)!.state).toBe(JobState.CANCELLED);

    const events = [];
    for await (const e of client.getJobSetEvents({ queue: "jobs", id: "set-1" })) events.push(e);
    expect(events.map((e) => e.message?.events?.$case)).toEqual(["submitted", "submitted"]);
    expect(events.map((e) => (e.message?.events?.value as { jobId: string }).jobId)).toEqual([a, b]);
  });
});
