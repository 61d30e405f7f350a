import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import type { JobStatusResponse } from "../../src/gen/armada/job.js";
import { JobState, type JobSubmitResponse, type Queue } from "../../src/gen/armada/submit.js";
import { startDevServer, type DevServer } from "armada-airflow/testing";
import { sleepUntil } from "../support/sleep-until.js";
import { call, clients, container, jobItem, kinds, readEvents, untilServing } from "./helpers.js";

describe("restart keeps state", () => {
  let server: DevServer | undefined;
  let c: ReturnType<typeof clients> | undefined;
  afterEach(async () => {
    c?.close();
    await server?.stop();
  });

  const statusOf = async (id: string) =>
    (await call<unknown, JobStatusResponse>(c!.jobs, "getJobStatus", { jobIds: [id] })).jobStates[id];

  it("in memory: restart() keeps jobs, events and the same ports", async () => {
    const clock = new ManualClock();
    server = await startDevServer({ clock, queues: ["q"] });
    c = clients(server.grpcTarget);
    const target = server.grpcTarget;
    const res = await call<unknown, JobSubmitResponse>(c.submit, "submitJobs", {
      queue: "q",
      jobSetId: "s",
      jobRequestItems: [jobItem()],
    });
    const id = res.jobResponseItems[0].jobId;
    await server.restart();
    expect(server.grpcTarget).toBe(target);
    // The restarted server says it serves before the test asks it anything.
    await untilServing(c);
    await sleepUntil(async () => {
      try {
        return (await statusOf(id)) === JobState.QUEUED;
      } catch {
        return false; // the channel reconnects after the restart
      }
    }, "reconnected");
    clock.advance(5400);
    await sleepUntil(async () => (await statusOf(id)) === JobState.SUCCEEDED, "SUCCEEDED");
  });

  it("the restarted server still serves once the old one's shutdown grace has run out", async () => {
    server = await startDevServer({ clock: new ManualClock(), queues: ["q"] });
    c = clients(server.grpcTarget);
    await untilServing(c);
    // The grace timers the shutdown sets during restart() run on fake time, so
    // "after the grace period" is a step of this test, not a wait.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      await server.restart();
      vi.advanceTimersByTime(10_000);
    } finally {
      vi.useRealTimers();
    }
    // Before the fix the old server's grace timer shut the new one down: nothing answered.
    await untilServing(c, 20_000);
    expect(
      (await call<unknown, JobStatusResponse>(c.jobs, "getJobStatus", { jobIds: ["x"] })).jobStates,
    ).toEqual({
      x: JobState.UNKNOWN,
    });
  });

  it("with statePath: a new server on the same file finds queues, jobs, runs, events and logs; a running simulation resumes", async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "devstate-")), "state.db");
    const clock = new ManualClock();
    server = await startDevServer({ clock, statePath: file, queues: [] });
    c = clients(server.grpcTarget);
    await call(c.queues, "createQueue", {
      name: "kept",
      priorityFactor: 2,
      userOwners: [],
      groupOwners: [],
      resourceLimits: {},
      resourceLimitsByPriorityClassName: {},
      permissions: [],
      cordoned: false,
      labelsDeprecated: [],
      labels: {},
      retryPolicies: [],
    } satisfies Queue);
    const res = await call<unknown, JobSubmitResponse>(c.submit, "submitJobs", {
      queue: "kept",
      jobSetId: "s",
      jobRequestItems: [
        jobItem({ externalJobUri: "airflow://d/t/r/-1" }),
        jobItem({ annotations: { "armada-airflow.dev/duration": "1s" } }),
      ],
    });
    const [long, short] = res.jobResponseItems.map((i) => i.jobId);
    clock.advance(400 + 1000);
    await sleepUntil(async () => (await statusOf(short)) === JobState.SUCCEEDED, "short done");
    expect(await statusOf(long)).toBe(JobState.RUNNING);
    const before = await readEvents(c.events, { queue: "kept", id: "s" });
    const runBefore = server.jobs().find((j) => j.id === long)!.runs[0];

    await server.restart();
    c.close();
    c = clients(server.grpcTarget);
    await untilServing(c);
    expect(await statusOf(short)).toBe(JobState.SUCCEEDED);
    expect(await statusOf(long)).toBe(JobState.RUNNING);
    const q = await call<unknown, Queue>(c.queues, "getQueue", { name: "kept" });
    expect(q.priorityFactor).toBe(2);
    const after = await readEvents(c.events, { queue: "kept", id: "s" });
    expect(after.map((e) => e.id)).toEqual(before.map((e) => e.id));
    const runAfter = server.jobs().find((j) => j.id === long)!.runs[0];
    expect(runAfter).toEqual(runBefore);
    const uri = await call<unknown, JobStatusResponse>(c.jobs, "getJobStatusUsingExternalJobUri", {
      queue: "kept",
      jobset: "s",
      externalJobUri: "airflow://d/t/r/-1",
    });
    expect(Object.keys(uri.jobStates)).toEqual([long]);
    // The simulation carries on from its start time: `sleep 5` ends 5 s after it started.
    clock.advance(runBefore.startedAt!.getTime() + 5000 - clock.nowMs());
    await sleepUntil(async () => (await statusOf(long)) === JobState.SUCCEEDED, "long done");
    const logs = await fetch(`${server.httpUrl}/api/v1/namespaces/default/pods/armada-${long}-0/log`, {
      headers: { authorization: `Bearer ${server.kubeToken}` },
    });
    expect(await logs.text()).toBe("hello\ncontainer main exited with code 0\n");
    const all = await readEvents(c.events, { queue: "kept", id: "s" });
    expect(kinds(all).filter((k) => k === "running")).toHaveLength(2);
    expect(kinds(all).at(-1)).toBe("succeeded");

    // A brand-new server process on the same file sees the same thing.
    await server.stop();
    c.close();
    server = await startDevServer({ clock, statePath: file, queues: [] });
    c = clients(server.grpcTarget);
    await untilServing(c);
    expect(await statusOf(long)).toBe(JobState.SUCCEEDED);
    expect(server.jobs().map((j) => j.id)).toEqual([long, short]);
    // Counted from what was restored: both runs had ended.
    expect(server.jobCounts()).toEqual({ jobs: 2, runsEnded: 2 });
  });
});

describe("restart with the process executor", () => {
  it("returns the lease of a job whose process died with the old server, and runs it again", async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "devstate-")), "state.db");
    const clock = new ManualClock();
    const server = await startDevServer({ clock, statePath: file, queues: ["q"], executor: "process" });
    const c = clients(server.grpcTarget);
    try {
      const res = await call<unknown, JobSubmitResponse>(c.submit, "submitJobs", {
        queue: "q",
        jobSetId: "p",
        jobRequestItems: [jobItem({}, [container("main", ["sh", "-c", "echo started; sleep 30"])])],
      });
      const id = res.jobResponseItems[0].jobId;
      clock.advance(400);
      await sleepUntil(() => server.jobs()[0].state === "RUNNING", "RUNNING");
      await server.restart();
      const job = server.jobs()[0];
      expect(job.state).toBe("QUEUED");
      expect(job.runs[0]).toMatchObject({ state: "LEASE_RETURNED" });
      expect(job.runs[0].reason).toMatch(/restarted/);
      clock.advance(400);
      await sleepUntil(
        () => server.jobs()[0].runs.length === 2 && server.jobs()[0].state === "RUNNING",
        "second run",
      );
      const c2 = clients(server.grpcTarget);
      try {
        await untilServing(c2);
        const events = await readEvents(c2.events, { queue: "q", id: "p" });
        expect(kinds(events)).toEqual([
          "submitted",
          "queued",
          "leased",
          "pending",
          "running",
          "leaseReturned",
          "queued",
          "leased",
          "pending",
          "running",
        ]);
        await call(c2.submit, "cancelJobs", { jobId: id, jobSetId: "p", queue: "q", jobIds: [], reason: "" });
      } finally {
        c2.close();
      }
    } finally {
      c.close();
      await server.stop();
    }
  });
});
