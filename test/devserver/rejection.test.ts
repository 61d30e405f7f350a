import { afterEach, beforeAll, afterAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import type { JobErrorsResponse, JobStatusResponse } from "../../src/gen/armada/job.js";
import {
  JobState,
  Queue,
  type JobSubmitResponse,
  type JobSubmitRequestItem,
} from "../../src/gen/armada/submit.js";
import { startDevServer, type DevServer } from "armada-airflow/testing";
import { call, clients, container, jobItem, kinds, readEvents } from "./helpers.js";

describe("jobs the server refuses end REJECTED with a real server's reason", () => {
  const clock = new ManualClock();
  let server: DevServer;
  let c: ReturnType<typeof clients>;
  beforeAll(async () => {
    server = await startDevServer({ clock, queues: ["q"] });
    c = clients(server.grpcTarget);
  });
  afterAll(async () => {
    c.close();
    await server.stop();
  });
  afterEach(() => server.faults.clear());

  const rejectWith = async (queue: string, item: JobSubmitRequestItem) => {
    const res = await call<unknown, JobSubmitResponse>(c.submit, "submitJobs", {
      queue,
      jobSetId: "rejects",
      jobRequestItems: [item],
    });
    const id = res.jobResponseItems[0].jobId;
    const st = await call<unknown, JobStatusResponse>(c.jobs, "getJobStatus", { jobIds: [id] });
    expect(st.jobStates[id]).toBe(JobState.REJECTED);
    const errs = await call<unknown, JobErrorsResponse>(c.jobs, "getJobErrors", { jobIds: [id] });
    return errs.jobErrors[id];
  };

  it("unknown queue", async () => {
    expect(await rejectWith("no-such-queue", jobItem())).toBe('queue "no-such-queue" does not exist');
  });

  it("cordoned queue", async () => {
    await call(c.queues, "createQueue", Queue.fromPartial({ name: "closed", cordoned: true }));
    expect(await rejectWith("closed", jobItem())).toBe('queue "closed" is cordoned');
  });

  it("no containers", async () => {
    expect(await rejectWith("q", jobItem({}, []))).toBe("pod spec has no containers");
  });

  it("no pod spec at all", async () => {
    expect(await rejectWith("q", jobItem({ podSpecs: [] }))).toBe("job has no pod spec");
  });

  it("missing resource requests", async () => {
    const reason = await rejectWith(
      "q",
      jobItem({}, [container("main", ["true"], { resources: { requests: {}, limits: {} } })]),
    );
    expect(reason).toBe("container main has no resource requests specified");
  });

  it("invalid container name", async () => {
    const reason = await rejectWith("q", jobItem({}, [container("Main_1", ["true"])]));
    expect(reason).toMatch(/^container name "Main_1" is invalid: a lowercase RFC 1123 label/);
  });

  it("invalid namespace", async () => {
    expect(await rejectWith("q", jobItem({ namespace: "Not_Valid" }))).toMatch(
      /^namespace "Not_Valid" is invalid/,
    );
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
    const res = await call<unknown, JobSubmitResponse>(c.submit, "submitJobs", {
      queue: "q",
      jobSetId: "mixed",
      jobRequestItems: [jobItem(), jobItem({}, [])],
    });
    const [ok, bad] = res.jobResponseItems.map((i) => i.jobId);
    const st = await call<unknown, JobStatusResponse>(c.jobs, "getJobStatus", { jobIds: [ok, bad] });
    expect(st.jobStates).toEqual({ [ok]: JobState.QUEUED, [bad]: JobState.REJECTED });
    const events = await readEvents(c.events, { queue: "q", id: "mixed" });
    expect(kinds(events.filter((e) => e.message?.events?.value.jobId === bad))).toEqual([
      "submitted",
      "failed",
    ]);
  });

  it("fails the whole request when queue or job set is missing", async () => {
    await expect(
      call(c.submit, "submitJobs", { queue: "", jobSetId: "x", jobRequestItems: [jobItem()] }),
    ).rejects.toThrow(/queue is a required field/);
    await expect(
      call(c.submit, "submitJobs", { queue: "q", jobSetId: "", jobRequestItems: [jobItem()] }),
    ).rejects.toThrow(/job_set_id is a required field/);
  });
});
