import { credentials, Metadata, status } from "@grpc/grpc-js";
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import type { JobStatusResponse } from "../../src/gen/armada/job.js";
import { JobState, type JobSubmitResponse } from "../../src/gen/armada/submit.js";
import { startDevServer, type DevServer } from "armada-airflow/testing";
import { sleepUntil } from "../support/sleep-until.js";
import { call, clients, jobItem, readEvents } from "./helpers.js";

const tlsDir = path.join(import.meta.dirname, "fixtures", "tls");

describe("fault injection, call counts, auth and TLS", () => {
  let server: DevServer | undefined;
  let c: ReturnType<typeof clients> | undefined;
  afterEach(async () => {
    c?.close();
    await server?.stop();
    server = undefined;
  });

  it("fails the next N calls of a method with the given code, then recovers; counts every call", async () => {
    server = await startDevServer({ clock: new ManualClock(), queues: ["q"] });
    c = clients(server.grpcTarget);
    server.faults.failNext("GetJobStatus", 2, status.UNAVAILABLE);
    const ask = () => call<unknown, JobStatusResponse>(c!.jobs, "getJobStatus", { jobIds: ["x"] });
    await expect(ask()).rejects.toMatchObject({ code: status.UNAVAILABLE });
    await expect(ask()).rejects.toMatchObject({ code: status.UNAVAILABLE });
    expect((await ask()).jobStates.x).toBe(JobState.UNKNOWN);
    server.faults.failNext("/api.Submit/SubmitJobs", 1, status.DEADLINE_EXCEEDED, "slow disk");
    await expect(
      call(c.submit, "submitJobs", { queue: "q", jobSetId: "s", jobRequestItems: [jobItem()] }),
    ).rejects.toMatchObject({ code: status.DEADLINE_EXCEEDED, details: "slow disk" });
    expect(server.jobs()).toHaveLength(0);
    expect(server.callCounts()).toMatchObject({ GetJobStatus: 3, SubmitJobs: 1 });
    expect(() => server!.faults.failNext("NoSuchMethod", 1, status.INTERNAL)).toThrow(
      /unknown gRPC method "NoSuchMethod"/,
    );
  });

  it("takes faults from the options too, and names a bad one", async () => {
    server = await startDevServer({
      clock: new ManualClock(),
      faults: { failNext: [{ method: "GetJobStatus", n: 1, code: "unavailable" }], dropEventStreamAfter: 0 },
    });
    c = clients(server.grpcTarget);
    await expect(call(c.jobs, "getJobStatus", { jobIds: ["x"] })).rejects.toMatchObject({
      code: status.UNAVAILABLE,
    });
    await call(c.jobs, "getJobStatus", { jobIds: ["x"] });
    await expect(readEvents(c.events, { queue: "default", id: "any" })).rejects.toMatchObject({
      code: status.UNAVAILABLE,
    });
    expect(await readEvents(c.events, { queue: "default", id: "any" })).toEqual([]);
    await expect(
      startDevServer({ faults: { failNext: [{ method: "Nope", n: 1, code: 14 }] } }),
    ).rejects.toThrow(/faults\.failNext\.0\.method: unknown gRPC method "Nope"/);
    await expect(
      startDevServer({ faults: { failNext: [{ method: "Health", n: 1, code: "SOMETIMES" }] } }),
    ).rejects.toThrow(/faults\.failNext\.0\.code: "SOMETIMES" is not a gRPC error status/);
    await expect(startDevServer({ faults: { latency: { Nope: 5 } } })).rejects.toThrow(
      /faults\.latency\.Nope: unknown gRPC method/,
    );
  });

  it("counts duplicate submissions as separate jobs", async () => {
    server = await startDevServer({ clock: new ManualClock(), queues: ["q"] });
    c = clients(server.grpcTarget);
    for (let i = 0; i < 2; i++) {
      await call(c.submit, "submitJobs", {
        queue: "q",
        jobSetId: "s",
        jobRequestItems: [jobItem({ externalJobUri: "u" })],
      });
    }
    expect(server.jobs().filter((j) => j.externalJobUri === "u")).toHaveLength(2);
  });

  it("adds latency on the server clock, so a client deadline expires", async () => {
    const clock = new ManualClock();
    server = await startDevServer({ clock, queues: ["q"] });
    c = clients(server.grpcTarget);
    server.faults.latency("GetJobStatus", 5000);
    const slow = new Promise((resolve, reject) =>
      c!.jobs.getJobStatus({ jobIds: ["x"] }, new Metadata(), { deadline: Date.now() + 300 }, (err, res) =>
        err ? reject(err) : resolve(res),
      ),
    );
    await expect(slow).rejects.toMatchObject({ code: status.DEADLINE_EXCEEDED });
    const later = call<unknown, JobStatusResponse>(c.jobs, "getJobStatus", { jobIds: ["y"] });
    await sleepUntil(() => server!.callCounts().GetJobStatus === 2, "second call arrived");
    clock.advance(5000);
    expect((await later).jobStates.y).toBe(JobState.UNKNOWN);
    server.faults.latency("GetJobStatus", 0);
  });

  it("fails a job on demand with a reason", async () => {
    const clock = new ManualClock();
    server = await startDevServer({ clock, queues: ["q"] });
    c = clients(server.grpcTarget);
    const res = await call<unknown, JobSubmitResponse>(c.submit, "submitJobs", {
      queue: "q",
      jobSetId: "s",
      jobRequestItems: [jobItem()],
    });
    const id = res.jobResponseItems[0].jobId;
    clock.advance(400);
    await sleepUntil(() => server!.jobs()[0].state === "RUNNING", "RUNNING");
    server.faults.failJob(id, "OOMKilled");
    expect(server.jobs()[0]).toMatchObject({ state: "FAILED", error: "OOMKilled" });
    expect(server.jobs()[0].runs[0].state).toBe("FAILED");
    expect(() => server!.faults.failJob(id, "again")).toThrow(/already finished/);
  });

  it("requires bearer or basic credentials when auth is configured, and records the user", async () => {
    server = await startDevServer({
      clock: new ManualClock(),
      queues: ["q"],
      auth: { bearerTokens: ["s3cret-token"], basic: [{ username: "alice", password: "pw" }] },
    });
    c = clients(server.grpcTarget);
    const none = call(c.jobs, "getJobStatus", { jobIds: ["x"] });
    await expect(none).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
    const md = (v: string) => {
      const m = new Metadata();
      m.set("authorization", v);
      return m;
    };
    const wrong = call(c.jobs, "getJobStatus", { jobIds: ["x"] }, md("Bearer nope"));
    await expect(wrong).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
    await wrong.catch((e: Error) => expect(e.message).not.toContain("nope"));
    await call(c.jobs, "getJobStatus", { jobIds: ["x"] }, md("Bearer s3cret-token"));
    const basic = md(`Basic ${Buffer.from("alice:pw").toString("base64")}`);
    const res = await call<unknown, JobSubmitResponse>(
      c.submit,
      "submitJobs",
      { queue: "q", jobSetId: "s", jobRequestItems: [jobItem()] },
      basic,
    );
    const id = res.jobResponseItems[0].jobId;
    await call(
      c.submit,
      "cancelJobs",
      { jobId: id, jobSetId: "s", queue: "q", jobIds: [], reason: "r" },
      basic,
    );
    expect(server.jobs()[0]).toMatchObject({ owner: "alice", cancelUser: "alice" });
    await expect(
      call(
        c.jobs,
        "getJobStatus",
        { jobIds: ["x"] },
        md(`Basic ${Buffer.from("alice:bad").toString("base64")}`),
      ),
    ).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
  });

  it("serves TLS, and with a CA file requires a client certificate (mTLS)", async () => {
    const read = (f: string) => readFileSync(path.join(tlsDir, f));
    server = await startDevServer({
      clock: new ManualClock(),
      tls: { certFile: path.join(tlsDir, "server.crt"), keyFile: path.join(tlsDir, "server.key") },
    });
    c = clients(server.grpcTarget, credentials.createSsl(read("ca.crt")));
    expect(
      (await call<unknown, JobStatusResponse>(c.jobs, "getJobStatus", { jobIds: ["x"] })).jobStates.x,
    ).toBe(JobState.UNKNOWN);
    c.close();
    await server.stop();

    server = await startDevServer({
      clock: new ManualClock(),
      tls: {
        certFile: path.join(tlsDir, "server.crt"),
        keyFile: path.join(tlsDir, "server.key"),
        caFile: path.join(tlsDir, "ca.crt"),
      },
    });
    c = clients(server.grpcTarget, credentials.createSsl(read("ca.crt")));
    await expect(call(c.jobs, "getJobStatus", { jobIds: ["x"] })).rejects.toMatchObject({
      code: status.UNAVAILABLE,
    });
    c.close();
    c = clients(
      server.grpcTarget,
      credentials.createSsl(read("ca.crt"), read("client.key"), read("client.crt")),
    );
    expect(
      (await call<unknown, JobStatusResponse>(c.jobs, "getJobStatus", { jobIds: ["x"] })).jobStates.x,
    ).toBe(JobState.UNKNOWN);
  });

  it("says which port is taken", async () => {
    server = await startDevServer({ clock: new ManualClock() });
    const grpcPort = Number(server.grpcTarget.split(":")[1]);
    const httpPort = Number(new URL(server.httpUrl).port);
    await expect(startDevServer({ grpcPort })).rejects.toThrow(
      new RegExp(`cannot listen for gRPC on 127\\.0\\.0\\.1:${grpcPort} \\(grpcPort\\)`),
    );
    await expect(startDevServer({ httpPort })).rejects.toThrow(
      new RegExp(`cannot listen for HTTP on 127\\.0\\.0\\.1:${httpPort} \\(httpPort\\).*EADDRINUSE`),
    );
  });

  it("reports bad options by field name", async () => {
    await expect(startDevServer({ grpcPort: -1 })).rejects.toThrow(/grpcPort/);
    await expect(
      startDevServer({ clusters: [{ id: "c", nodes: [{ name: "n", cpu: "lots", memory: "1Gi" }] }] }),
    ).rejects.toThrow(/clusters\.0\.nodes\.0\.cpu: must be a positive Kubernetes quantity/);
    await expect(
      startDevServer({ tls: { certFile: "/nonexistent.crt", keyFile: "/nonexistent.key" } }),
    ).rejects.toThrow(/tls\.certFile: cannot read "\/nonexistent.crt"/);
  });
});
