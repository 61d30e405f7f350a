import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import type { JobDetailsResponse, JobErrorsResponse, JobStatusResponse } from "../../src/gen/armada/job.js";
import { JobState, type JobSubmitResponse } from "../../src/gen/armada/submit.js";
import { startDevServer, type DevServer } from "armada-airflow/testing";
import { call, clients, jobItem } from "./helpers.js";

describe("query API: ingestion delay and external job URI lookup", () => {
  let clock: ManualClock;
  let server: DevServer;
  let c: ReturnType<typeof clients>;

  beforeEach(async () => {
    clock = new ManualClock();
    server = await startDevServer({ clock, queues: ["q"], ingestionDelayMs: 2000 });
    c = clients(server.grpcTarget);
  });
  afterEach(async () => {
    c.close();
    await server.stop();
  });

  const submit = async (items = [jobItem()], jobSetId = "set") =>
    (
      await call<unknown, JobSubmitResponse>(c.submit, "submitJobs", {
        queue: "q",
        jobSetId,
        jobRequestItems: items,
      })
    ).jobResponseItems.map((i) => i.jobId);

  it("answers UNKNOWN (and nothing in details/errors) until the ingestion delay has passed", async () => {
    const [id] = await submit();
    const status = async () =>
      (await call<unknown, JobStatusResponse>(c.jobs, "getJobStatus", { jobIds: [id] })).jobStates[id];
    expect(await status()).toBe(JobState.UNKNOWN);
    const details = await call<unknown, JobDetailsResponse>(c.jobs, "getJobDetails", {
      jobIds: [id],
      expandJobSpec: false,
      expandJobRun: true,
    });
    expect(details.jobDetails).toEqual({});
    expect(
      (await call<unknown, JobErrorsResponse>(c.jobs, "getJobErrors", { jobIds: [id] })).jobErrors,
    ).toEqual({});
    clock.advance(1999);
    expect(await status()).toBe(JobState.UNKNOWN);
    clock.advance(1);
    // The job has moved on meanwhile; once ingested the query API shows where it is now.
    expect(await status()).toBe(JobState.RUNNING);
  });

  it("changes the delay at run time through the fault injector", async () => {
    server.faults.setIngestionDelay(0);
    const [id] = await submit();
    const r = await call<unknown, JobStatusResponse>(c.jobs, "getJobStatus", { jobIds: [id] });
    expect(r.jobStates[id]).toBe(JobState.QUEUED);
    expect(() => server.faults.setIngestionDelay(-1)).toThrow(/ms must be >= 0/);
  });

  it("finds jobs by the external_job_uri field or the armadaproject.io/externalJobUri annotation", async () => {
    server.faults.setIngestionDelay(0);
    const uri = "airflow://dag/task/run_1/-1";
    const [byField, byAnnotation, other] = await submit([
      jobItem({ externalJobUri: uri }),
      jobItem({ annotations: { "armadaproject.io/externalJobUri": uri } }),
      jobItem({ externalJobUri: "airflow://dag/other/run_1/-1" }),
    ]);
    const [elsewhere] = await submit([jobItem({ externalJobUri: uri })], "another-set");
    const res = await call<unknown, JobStatusResponse>(c.jobs, "getJobStatusUsingExternalJobUri", {
      queue: "q",
      jobset: "set",
      externalJobUri: uri,
    });
    expect(Object.keys(res.jobStates).sort()).toEqual([byField, byAnnotation].sort());
    expect(res.jobStates[byField]).toBe(JobState.QUEUED);
    expect(res.jobStates).not.toHaveProperty(other);
    expect(res.jobStates).not.toHaveProperty(elsewhere);
    const none = await call<unknown, JobStatusResponse>(c.jobs, "getJobStatusUsingExternalJobUri", {
      queue: "q",
      jobset: "set",
      externalJobUri: "airflow://nope/x/y/-1",
    });
    expect(none.jobStates).toEqual({});
    expect(server.jobs().find((j) => j.id === byAnnotation)?.externalJobUri).toBe(uri);
  });

  it("returns the job spec only when asked", async () => {
    server.faults.setIngestionDelay(0);
    const [id] = await submit([jobItem({ annotations: { a: "b" } })]);
    const plain = await call<unknown, JobDetailsResponse>(c.jobs, "getJobDetails", {
      jobIds: [id],
      expandJobSpec: false,
      expandJobRun: false,
    });
    expect(plain.jobDetails[id].jobSpec).toBeUndefined();
    const full = await call<unknown, JobDetailsResponse>(c.jobs, "getJobDetails", {
      jobIds: [id],
      expandJobSpec: true,
      expandJobRun: false,
    });
    expect(full.jobDetails[id].jobSpec?.annotations).toEqual({ a: "b" });
    expect(full.jobDetails[id].jobSpec?.podSpecs[0].containers[0].name).toBe("main");
  });
});
