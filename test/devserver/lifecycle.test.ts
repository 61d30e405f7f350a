import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import {
  JobRunState,
  type JobDetailsResponse,
  type JobStatusResponse,
  type JobErrorsResponse,
  type JobRunDetailsResponse,
} from "../../src/gen/armada/job.js";
import { JobState, type JobSubmitResponse } from "../../src/gen/armada/submit.js";
import { startDevServer, type DevServer } from "armada-airflow/testing";
import { sleepUntil } from "../support/sleep-until.js";
import { call, clients, container, jobItem, kinds, readEvents } from "./helpers.js";

describe("dev server lifecycle through the public gRPC API", () => {
  let clock: ManualClock;
  let server: DevServer;
  let c: ReturnType<typeof clients>;

  beforeEach(async () => {
    clock = new ManualClock();
    server = await startDevServer({ clock, queues: ["q1"] });
    c = clients(server.grpcTarget);
  });
  afterEach(async () => {
    c.close();
    await server.stop();
  });

  const status = async (id: string) =>
    (await call<unknown, JobStatusResponse>(c.jobs, "getJobStatus", { jobIds: [id] })).jobStates[id];

  it("moves a job SUBMITTED -> QUEUED -> LEASED -> PENDING -> RUNNING -> SUCCEEDED on the clock", async () => {
    const res = await call<unknown, JobSubmitResponse>(c.submit, "submitJobs", {
      queue: "q1",
      jobSetId: "set-1",
      jobRequestItems: [jobItem()],
    });
    const id = res.jobResponseItems[0].jobId;
    expect(res.jobResponseItems[0].error).toBe("");
    expect(id).toMatch(/^[0-9a-z]{26}$/);
    expect(await status(id)).toBe(JobState.QUEUED);

    clock.advance(100);
    await sleepUntil(async () => (await status(id)) === JobState.LEASED, "LEASED");
    clock.advance(100);
    await sleepUntil(async () => (await status(id)) === JobState.PENDING, "PENDING");
    clock.advance(200);
    await sleepUntil(async () => (await status(id)) === JobState.RUNNING, "RUNNING");
    clock.advance(4999);
    expect(await status(id)).toBe(JobState.RUNNING);
    clock.advance(1);
    await sleepUntil(async () => (await status(id)) === JobState.SUCCEEDED, "SUCCEEDED");

    const details = await call<unknown, JobDetailsResponse>(c.jobs, "getJobDetails", {
      jobIds: [id],
      expandJobSpec: false,
      expandJobRun: true,
    });
    const d = details.jobDetails[id];
    expect(d.queue).toBe("q1");
    expect(d.jobset).toBe("set-1");
    expect(d.state).toBe(JobState.SUCCEEDED);
    expect(d.jobRuns).toHaveLength(1);
    const run = d.jobRuns[0];
    expect(d.latestRunId).toBe(run.runId);
    expect(run.state).toBe(JobRunState.RUN_STATE_SUCCEEDED);
    expect(["cluster-1", "cluster-2"]).toContain(run.cluster);
    expect(run.node).toMatch(/^cluster-\d-node-\d$/);
    const t0 = Date.UTC(2024, 0, 1);
    expect(run.leasedTs?.getTime()).toBe(t0 + 100);
    expect(run.pendingTs?.getTime()).toBe(t0 + 200);
    expect(run.startedTs?.getTime()).toBe(t0 + 400);
    expect(run.finishedTs?.getTime()).toBe(t0 + 5400);

    const runs = await call<unknown, JobRunDetailsResponse>(c.jobs, "getJobRunDetails", {
      runIds: [run.runId],
    });
    expect(runs.jobRunDetails[run.runId].cluster).toBe(run.cluster);

    const events = await readEvents(c.events, { queue: "q1", id: "set-1" });
    expect(kinds(events)).toEqual(["submitted", "queued", "leased", "pending", "running", "succeeded"]);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    const errors = await call<unknown, JobErrorsResponse>(c.jobs, "getJobErrors", { jobIds: [id] });
    expect(errors.jobErrors[id]).toBe("");
    expect(server.jobs()).toHaveLength(1);
    expect(server.jobs()[0].state).toBe("SUCCEEDED");
  });

  it("fails a job whose command exits non-zero, with the exit code in the reason", async () => {
    const res = await call<unknown, JobSubmitResponse>(c.submit, "submitJobs", {
      queue: "q1",
      jobSetId: "set-2",
      jobRequestItems: [
        jobItem({
          annotations: { "armada-airflow.dev/exit-code": "3", "armada-airflow.dev/duration": "2s" },
        }),
      ],
    });
    const id = res.jobResponseItems[0].jobId;
    clock.advance(2400);
    await sleepUntil(async () => (await status(id)) === JobState.FAILED, "FAILED");
    const errors = await call<unknown, JobErrorsResponse>(c.jobs, "getJobErrors", { jobIds: [id] });
    expect(errors.jobErrors[id]).toBe("container main failed with exit code 3");
    const events = await readEvents(c.events, { queue: "q1", id: "set-2" });
    expect(kinds(events).at(-1)).toBe("failed");
  });

  it("fails a job whose image reference a kubelet could not parse, before it runs", async () => {
    const res = await call<unknown, JobSubmitResponse>(c.submit, "submitJobs", {
      queue: "q1",
      jobSetId: "set-3",
      jobRequestItems: [jobItem({}, [container("main", ["true"], { image: "Not A/Valid:Image!" })])],
    });
    const id = res.jobResponseItems[0].jobId;
    clock.advance(400);
    await sleepUntil(async () => (await status(id)) === JobState.FAILED, "FAILED");
    const errors = await call<unknown, JobErrorsResponse>(c.jobs, "getJobErrors", { jobIds: [id] });
    expect(errors.jobErrors[id]).toMatch(/^container main: InvalidImageName: .*"Not A\/Valid:Image!"/);
    const events = await readEvents(c.events, { queue: "q1", id: "set-3" });
    expect(kinds(events)).toEqual(["submitted", "queued", "leased", "pending", "failed"]);
    expect(server.jobs()[0].runs[0]).toMatchObject({ state: "FAILED" });
    expect(server.jobs()[0].lastTransitionAt.getTime()).toBe(Date.UTC(2024, 0, 1) + 400);
  });

  it("answers UNKNOWN for a job id it never saw", async () => {
    expect(await status("01hzzzzzzzzzzzzzzzzzzzzzzz")).toBe(JobState.UNKNOWN);
  });
});

describe("dev server on the wall clock", () => {
  it("finishes a job without a duration in about 1.4 s, so a local DAG feels live", async () => {
    const server = await startDevServer({ queues: ["q"] });
    const c = clients(server.grpcTarget);
    try {
      const t0 = Date.now();
      await call(c.submit, "submitJobs", {
        queue: "q",
        jobSetId: "live",
        jobRequestItems: [jobItem({}, [container("main", ["echo", "hi"])])],
      });
      await sleepUntil(() => server.jobs()[0].state === "SUCCEEDED", "SUCCEEDED", 10_000);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
      const run = server.jobs()[0].runs[0];
      expect(run.finishedAt!.getTime() - run.startedAt!.getTime()).toBe(1000);
    } finally {
      c.close();
      await server.stop();
    }
  });
});
