import { status, type ServiceError } from "@grpc/grpc-js";
import { afterEach, beforeAll, afterAll, describe, expect, it } from "vitest";
import { ArmadaClient, ArmadaError, GrpcChannelArgs } from "armada-airflow/client";
import { ManualClock } from "../../src/common/clock.js";
import type { JobErrorsResponse, JobStatusResponse } from "../../src/gen/armada/job.js";
import {
  JobState,
  Queue,
  type JobSubmitResponse,
  type JobSubmitRequestItem,
} from "../../src/gen/armada/submit.js";
import { PodSpec } from "../../src/gen/k8s.io/api/core/v1/generated.js";
import { startDevServer, type DevServer } from "armada-airflow/testing";
import { sleepUntil } from "../support/sleep-until.js";
import { call, clients, container, jobItem, kinds, readEvents } from "./helpers.js";

/** A dev server on a manual clock and generated clients for it, started before a describe block's tests. */
function devServerPerDescribe() {
  const t = {
    clock: new ManualClock(),
    server: undefined as unknown as DevServer,
    c: undefined as unknown as ReturnType<typeof clients>,
  };
  beforeAll(async () => {
    t.server = await startDevServer({ clock: t.clock, queues: ["q"] });
    t.c = clients(t.server.grpcTarget);
  });
  afterAll(async () => {
    t.c.close();
    await t.server.stop();
  });
  return t;
}

describe("jobs the server accepts but cannot run end REJECTED with a real server's reason", () => {
  const t = devServerPerDescribe();
  afterEach(() => t.server.faults.clear());

  const rejectWith = async (queue: string, item: JobSubmitRequestItem) => {
    const res = await call<unknown, JobSubmitResponse>(t.c.submit, "submitJobs", {
      queue,
      jobSetId: "rejects",
      jobRequestItems: [item],
    });
    const id = res.jobResponseItems[0].jobId;
    const st = await call<unknown, JobStatusResponse>(t.c.jobs, "getJobStatus", { jobIds: [id] });
    expect(st.jobStates[id]).toBe(JobState.REJECTED);
    const errs = await call<unknown, JobErrorsResponse>(t.c.jobs, "getJobErrors", { jobIds: [id] });
    return errs.jobErrors[id];
  };

  it("missing resource requests", async () => {
    const reason = await rejectWith(
      "q",
      jobItem({}, [container("main", ["true"], { resources: { requests: {}, limits: {} } })]),
    );
    expect(reason).toBe("container main has no resource requests specified");
  });

  it("more than any node offers", async () => {
    const big = container("main", ["true"], {
      resources: {
        requests: { cpu: { string: "64" }, memory: { string: "1Gi" } },
        limits: { cpu: { string: "64" } },
      },
    });
    expect(await rejectWith("q", jobItem({}, [big]))).toMatch(
      /^job does not fit on any node: it requests cpu 64000m/,
    );
  });

  it("a malformed duration annotation", async () => {
    expect(
      await rejectWith("q", jobItem({ annotations: { "armada-airflow.dev/duration": "soon" } })),
    ).toMatch(/armada-airflow.dev\/duration="soon" is not a duration/);
  });

  it("sends submitted then failed events for a rejected job, and keeps the batch's other jobs", async () => {
    const res = await call<unknown, JobSubmitResponse>(t.c.submit, "submitJobs", {
      queue: "q",
      jobSetId: "mixed",
      jobRequestItems: [
        jobItem(),
        jobItem({}, [container("main", ["true"], { resources: { requests: {}, limits: {} } })]),
      ],
    });
    const [ok, bad] = res.jobResponseItems.map((i) => i.jobId);
    const st = await call<unknown, JobStatusResponse>(t.c.jobs, "getJobStatus", { jobIds: [ok, bad] });
    expect(st.jobStates).toEqual({ [ok]: JobState.QUEUED, [bad]: JobState.REJECTED });
    const events = await readEvents(t.c.events, { queue: "q", id: "mixed" });
    expect(kinds(events.filter((e) => e.message?.events?.value.jobId === bad))).toEqual([
      "submitted",
      "failed",
    ]);
  });
});

describe("requests the real server refuses as a whole fail the call and store nothing", () => {
  const t = devServerPerDescribe();

  /** Submits and expects the call to fail; returns the gRPC code and message, and checks nothing was stored. */
  const refused = async (queue: string, jobSetId: string, items: JobSubmitRequestItem[]) => {
    const before = t.server.jobs().length;
    const err = await call(t.c.submit, "submitJobs", { queue, jobSetId, jobRequestItems: items }).then(
      () => undefined,
      (e: ServiceError) => e,
    );
    expect(err, "the call must fail").toBeDefined();
    expect(t.server.jobs()).toHaveLength(before);
    const events = await readEvents(t.c.events, { queue: queue || "q", id: jobSetId || "x" });
    expect(events).toEqual([]);
    return { code: err!.code, details: err!.details };
  };

  it("a queue that does not exist: PERMISSION_DENIED, could not find queue", async () => {
    expect(await refused("no-such-queue", "s1", [jobItem()])).toEqual({
      code: status.PERMISSION_DENIED,
      details: 'could not find queue "no-such-queue"',
    });
  });

  it("an empty queue name: the queue lookup comes first, so also PERMISSION_DENIED", async () => {
    expect(await refused("", "s2", [jobItem()])).toEqual({
      code: status.PERMISSION_DENIED,
      details: 'could not find queue ""',
    });
  });

  it("an empty or too long job set id", async () => {
    expect(await refused("q", "", [jobItem()])).toEqual({
      code: status.INVALID_ARGUMENT,
      details: "job set id is a required field",
    });
    expect(await refused("q", "x".repeat(1024), [jobItem()])).toEqual({
      code: status.INVALID_ARGUMENT,
      details: "job set id of length 1024 must be less than max character length 1024",
    });
  });

  it("a pod spec without containers fails the whole batch", async () => {
    expect(await refused("q", "s3", [jobItem(), jobItem({}, [])])).toEqual({
      code: status.INVALID_ARGUMENT,
      details: "pod spec has no containers",
    });
  });

  it("an item without a pod spec fails the whole batch, the good item included", async () => {
    expect(await refused("q", "s3", [jobItem(), jobItem({ podSpecs: [] })])).toEqual({
      code: status.INVALID_ARGUMENT,
      details: "Job must contain at least one PodSpec",
    });
  });

  it("pod_spec and pod_specs together, and more than one pod spec", async () => {
    const pod = PodSpec.fromPartial({ containers: [container("main", ["true"])] });
    expect(await refused("q", "s4", [jobItem({ podSpec: pod })])).toEqual({
      code: status.INVALID_ARGUMENT,
      details: "PodSpec must be nil if PodSpecs is provided (i.e., these are exclusive)",
    });
    expect(await refused("q", "s4", [jobItem({ podSpecs: [pod, pod] })])).toEqual({
      code: status.INVALID_ARGUMENT,
      details: "Jobs with multiple pods are not supported",
    });
  });

  it("a priority class the server does not know; the default ones are accepted", async () => {
    const withClass = (name: string) =>
      jobItem({
        podSpecs: [
          PodSpec.fromPartial({ priorityClassName: name, containers: [container("main", ["true"])] }),
        ],
      });
    expect(await refused("q", "s5", [withClass("gold")])).toEqual({
      code: status.INVALID_ARGUMENT,
      details: "priority class gold is not supported",
    });
    const ok = await call<unknown, JobSubmitResponse>(t.c.submit, "submitJobs", {
      queue: "q",
      jobSetId: "s5",
      jobRequestItems: [withClass("armada-default"), withClass("armada-preemptible")],
    });
    expect(ok.jobResponseItems.map((i) => i.error)).toEqual(["", ""]);
  });

  it("a client id longer than 100 characters", async () => {
    expect(await refused("q", "s6", [jobItem({ clientId: "c".repeat(101) })])).toEqual({
      code: status.INVALID_ARGUMENT,
      details: "client id of length 101 is greater than max allowed length of  100",
    });
  });

  it("an empty batch is answered with no items, as the real server does", async () => {
    const res = await call<unknown, JobSubmitResponse>(t.c.submit, "submitJobs", {
      queue: "q",
      jobSetId: "s7",
      jobRequestItems: [],
    });
    expect(res.jobResponseItems).toEqual([]);
  });

  it("our ArmadaClient reports the missing queue as PERMISSION_DENIED with the server's words", async () => {
    const client = new ArmadaClient(new GrpcChannelArgs({ target: t.server.grpcTarget }));
    try {
      const err = await client
        .submitJobs({ queue: "ghost", jobSetId: "s8", jobRequestItems: [jobItem()] })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(ArmadaError);
      expect((err as ArmadaError).codeName).toBe("PERMISSION_DENIED");
      expect((err as ArmadaError).details).toBe('could not find queue "ghost"');
    } finally {
      client.close();
    }
  });
});

describe("a cordoned queue accepts jobs and keeps them queued until it is uncordoned, as Armada does", () => {
  const t = devServerPerDescribe();

  it("queued while cordoned, leased after uncordon", async () => {
    await call(t.c.queues, "createQueue", Queue.fromPartial({ name: "closed", cordoned: true }));
    const res = await call<unknown, JobSubmitResponse>(t.c.submit, "submitJobs", {
      queue: "closed",
      jobSetId: "cordon",
      jobRequestItems: [jobItem()],
    });
    const id = res.jobResponseItems[0].jobId;
    t.clock.advance(5_000);
    const status1 = await call<unknown, JobStatusResponse>(t.c.jobs, "getJobStatus", { jobIds: [id] });
    expect(status1.jobStates[id]).toBe(JobState.QUEUED);
    await call(t.c.queues, "uncordonQueue", { name: "closed" });
    t.clock.advance(150);
    const status2 = await call<unknown, JobStatusResponse>(t.c.jobs, "getJobStatus", { jobIds: [id] });
    expect(status2.jobStates[id]).toBe(JobState.LEASED);
  });
});

describe("names Armada leaves to Kubernetes: the job is accepted, and fails creating its pod with the API server's words", () => {
  const t = devServerPerDescribe();

  const failWith = async (item: JobSubmitRequestItem) => {
    const res = await call<unknown, JobSubmitResponse>(t.c.submit, "submitJobs", {
      queue: "q",
      jobSetId: "names",
      jobRequestItems: [item],
    });
    const id = res.jobResponseItems[0].jobId;
    expect(res.jobResponseItems[0].error).toBe("");
    await sleepUntil(async () => {
      t.clock.advance(500);
      const st = await call<unknown, JobStatusResponse>(t.c.jobs, "getJobStatus", { jobIds: [id] });
      return st.jobStates[id] === JobState.FAILED;
    }, `job ${id} fails`);
    const errs = await call<unknown, JobErrorsResponse>(t.c.jobs, "getJobErrors", { jobIds: [id] });
    return { id, reason: errs.jobErrors[id] };
  };

  it("an invalid container name", async () => {
    const { id, reason } = await failWith(jobItem({}, [container("Main_1", ["true"])]));
    expect(reason).toContain(
      `failed to create pod armada-${id}-0: Pod "armada-${id}-0" is invalid: spec.containers[0].name: Invalid value: "Main_1": a lowercase RFC 1123 label`,
    );
  });

  it("an invalid namespace name: there is no such namespace", async () => {
    const { reason } = await failWith(jobItem({ namespace: "Not_Valid" }));
    expect(reason).toContain('namespaces "Not_Valid" not found');
  });
});
