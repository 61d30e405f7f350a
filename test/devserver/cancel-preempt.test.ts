import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import {
  JobRunState,
  type JobDetailsResponse,
  type JobErrorsResponse,
  type JobStatusResponse,
} from "../../src/gen/armada/job.js";
import {
  JobState,
  type CancellationResult,
  type JobSubmitResponse,
  type PreemptionResult,
} from "../../src/gen/armada/submit.js";
import { startDevServer, type DevServer } from "armada-airflow/testing";
import { sleepUntil } from "../support/sleep-until.js";
import { call, clients, jobItem, kinds, readEvents } from "./helpers.js";

describe("cancellation and preemption", () => {
  let clock: ManualClock;
  let server: DevServer;
  let c: ReturnType<typeof clients>;

  beforeEach(async () => {
    clock = new ManualClock();
    server = await startDevServer({ clock, queues: ["q"] });
    c = clients(server.grpcTarget);
  });
  afterEach(async () => {
    c.close();
    await server.stop();
  });

  const submit = async (n: number, jobSetId = "set") =>
    (
      await call<unknown, JobSubmitResponse>(c.submit, "submitJobs", {
        queue: "q",
        jobSetId,
        jobRequestItems: Array.from({ length: n }, () => jobItem()),
      })
    ).jobResponseItems.map((i) => i.jobId);
  const states = async (ids: string[]) => {
    const r = await call<unknown, JobStatusResponse>(c.jobs, "getJobStatus", { jobIds: ids });
    return ids.map((id) => r.jobStates[id]);
  };

  it("cancels a running job with a reason; the run ends CANCELLED and the job is not cancelled twice", async () => {
    const [id] = await submit(1);
    clock.advance(400);
    await sleepUntil(async () => (await states([id]))[0] === JobState.RUNNING, "RUNNING");
    expect(server.jobCounts()).toEqual({ jobs: 1, runsEnded: 0 });
    const res = await call<unknown, CancellationResult>(c.submit, "cancelJobs", {
      jobId: id,
      jobSetId: "set",
      queue: "q",
      jobIds: [],
      reason: "user asked",
    });
    expect(res.cancelledIds).toEqual([id]);
    expect(await states([id])).toEqual([JobState.CANCELLED]);
    const d = (
      await call<unknown, JobDetailsResponse>(c.jobs, "getJobDetails", {
        jobIds: [id],
        expandJobSpec: false,
        expandJobRun: true,
      })
    ).jobDetails[id];
    expect(d.cancelReason).toBe("user asked");
    expect(d.cancelTs?.getTime()).toBe(clock.nowMs());
    expect(d.cancelUser).toBe("anonymous");
    expect(d.jobRuns[0].state).toBe(JobRunState.RUN_STATE_CANCELLED);
    const again = await call<unknown, CancellationResult>(c.submit, "cancelJobs", {
      jobId: id,
      jobSetId: "set",
      queue: "q",
      jobIds: [],
      reason: "",
    });
    expect(again.cancelledIds).toEqual([]);
    // The cancelled run ended once, however many cancels came.
    expect(server.jobCounts()).toEqual({ jobs: 1, runsEnded: 1 });
    const ev = await readEvents(c.events, { queue: "q", id: "set" });
    expect(kinds(ev).slice(-2)).toEqual(["cancelling", "cancelled"]);
    // Capacity came back: nothing is left holding the node.
    clock.advance(10_000);
    expect(server.jobs()[0].state).toBe("CANCELLED");
  });

  it("cancels only the jobs of a job set in the filtered states", async () => {
    // One node with room for exactly one 1-CPU job: the second job stays QUEUED.
    await server.stop();
    server = await startDevServer({
      clock,
      queues: ["q"],
      clusters: [{ id: "c1", nodes: [{ name: "n1", cpu: "1", memory: "4Gi" }] }],
    });
    c.close();
    c = clients(server.grpcTarget);
    const [running, queued] = await submit(2);
    const [other] = await submit(1, "other-set");
    clock.advance(400);
    await sleepUntil(async () => (await states([running]))[0] === JobState.RUNNING, "RUNNING");
    expect(await states([queued, other])).toEqual([JobState.QUEUED, JobState.QUEUED]);
    await call(c.submit, "cancelJobSet", {
      jobSetId: "set",
      queue: "q",
      filter: { states: [JobState.QUEUED] },
      reason: "only the waiting ones",
    });
    expect(await states([running, queued, other])).toEqual([
      JobState.RUNNING,
      JobState.CANCELLED,
      JobState.QUEUED,
    ]);
    const errs = server.jobs().find((j) => j.id === queued)!;
    expect(errs.cancelReason).toBe("only the waiting ones");
    // Without a filter every unfinished job of the set goes.
    await call(c.submit, "cancelJobSet", { jobSetId: "set", queue: "q", filter: undefined, reason: "" });
    expect(await states([running, other])).toEqual([JobState.CANCELLED, JobState.QUEUED]);
  });

  it("rejects a job-set filter naming a finished state", async () => {
    await expect(
      call(c.submit, "cancelJobSet", {
        jobSetId: "set",
        queue: "q",
        filter: { states: [JobState.SUCCEEDED] },
        reason: "",
      }),
    ).rejects.toThrow(/SUCCEEDED cannot be cancelled/);
  });

  it("preempts a running job through PreemptJobs and through the fault injector", async () => {
    const [a, b] = await submit(2);
    clock.advance(400);
    await sleepUntil(async () => (await states([a, b])).every((s) => s === JobState.RUNNING), "RUNNING");
    const res = await call<unknown, PreemptionResult>(c.submit, "preemptJobs", {
      queue: "q",
      jobSetId: "set",
      jobIds: [a],
      reason: "make room",
    });
    expect(res.preemptionResults).toEqual({ [a]: "" });
    server.faults.preemptJob(b);
    expect(await states([a, b])).toEqual([JobState.PREEMPTED, JobState.PREEMPTED]);
    const errors = await call<unknown, JobErrorsResponse>(c.jobs, "getJobErrors", { jobIds: [a, b] });
    expect(errors.jobErrors[a]).toBe("make room");
    expect(errors.jobErrors[b]).toMatch(/preempted/);
    const d = (
      await call<unknown, JobDetailsResponse>(c.jobs, "getJobDetails", {
        jobIds: [a],
        expandJobSpec: false,
        expandJobRun: true,
      })
    ).jobDetails[a];
    expect(d.jobRuns[0].state).toBe(JobRunState.RUN_STATE_PREEMPTED);
    expect(kinds(await readEvents(c.events, { queue: "q", id: "set" }))).toContain("preempted");
    expect(() => server.faults.preemptJob(a)).toThrow(/not leased, pending or running/);
  });
});
