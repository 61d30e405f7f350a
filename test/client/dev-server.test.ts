/**
 * The client against the project's dev server (a separately written
 * Armada-compatible server): Kubernetes-native submit, status, details with
 * the job spec converted back, errors, queues, and a resumed event stream.
 */
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ArmadaClient,
  ArmadaError,
  BasicAuth,
  BearerTokenAuth,
  GrpcChannelArgs,
  jobToKubernetes,
} from "../../src/client/index.js";
import { JobState } from "../../src/gen/armada/submit.js";
import { type DevServer, ManualClock, startDevServer } from "../../src/testing/index.js";
import { sleepUntil } from "../support/sleep-until.js";
import { makeTestCerts } from "./support/certs.js";

const ITEM = `
priority: 1
namespace: default
podSpec:
  restartPolicy: Never
  containers:
    - name: main
      image: busybox:1.36
      command: [sh, -c, "echo hello"]
      resources:
        requests: { cpu: 500m, memory: 64Mi }
        limits: { cpu: 500m, memory: 64Mi }
      ports: [{ containerPort: 8080, name: http }]
      readinessProbe: { httpGet: { path: /, port: http } }
`;

describe("ArmadaClient against the dev server", () => {
  let dev: DevServer;
  let client: ArmadaClient;
  const clock = new ManualClock();

  beforeAll(async () => {
    dev = await startDevServer({ clock, faults: { dropEventStreamAfter: 2 }, defaultRunMs: 1_000 });
    client = new ArmadaClient(new GrpcChannelArgs({ target: dev.grpcTarget }), { clock });
  });
  afterAll(async () => {
    client.close();
    await dev.stop();
  });

  async function waitForState(jobId: string, want: JobState): Promise<void> {
    await sleepUntil(async () => {
      const s = (await client.getJobStatus({ jobIds: [jobId] })).jobStates[jobId];
      if (s !== want) clock.advance(250);
      return s === want;
    }, `job ${jobId} in state ${want}`);
  }

  it("submits a Kubernetes-native item and reads the job spec back unchanged", async () => {
    const res = await client.submitJobs({
      queue: "default",
      jobSetId: "k8s-native",
      jobRequestItems: [ITEM],
    });
    const jobId = res.jobResponseItems[0]!.jobId;
    expect(res.jobResponseItems[0]!.error).toBe("");
    await waitForState(jobId, JobState.SUCCEEDED);
    const details = await client.getJobDetails({ jobIds: [jobId], expandJobSpec: true, expandJobRun: true });
    const d = details.jobDetails[jobId]!;
    expect(d.jobRuns.length).toBeGreaterThan(0);
    const spec = jobToKubernetes(d.jobSpec!);
    const container = (spec.podSpec as { containers: Record<string, unknown>[] }).containers[0]!;
    expect(container.resources).toEqual({
      requests: { cpu: "500m", memory: "64Mi" },
      limits: { cpu: "500m", memory: "64Mi" },
    });
    expect(container.readinessProbe).toEqual({ httpGet: { path: "/", port: "http" } });
    expect(container.ports).toEqual([{ containerPort: 8080, name: "http" }]);
    const runId = d.jobRuns[0]!.runId;
    expect((await client.getJobRunDetails({ runIds: [runId] })).jobRunDetails[runId]!.jobId).toBe(jobId);
  });

  it("resumes the job-set event stream the server drops, without loss or repeats", async () => {
    const res = await client.submitJobs({
      queue: "default",
      jobSetId: "resume",
      jobRequestItems: [
        {
          namespace: "default",
          podSpecs: [
            {
              containers: [
                {
                  name: "c",
                  image: "busybox",
                  resources: { requests: { cpu: { string: "1" }, memory: { string: "1Gi" } } },
                },
              ],
            },
          ],
        },
      ],
    });
    const jobId = res.jobResponseItems[0]!.jobId;
    await waitForState(jobId, JobState.SUCCEEDED);
    const timer = setInterval(() => clock.pendingSleepers > 0 && clock.advance(10_000), 1);
    const ids: string[] = [];
    const cases: string[] = [];
    try {
      for await (const e of client.getJobSetEvents({ queue: "default", id: "resume" })) {
        ids.push(e.id);
        cases.push(e.message!.events!.$case);
      }
    } finally {
      clearInterval(timer);
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect(cases[0]).toBe("submitted");
    expect(cases.at(-1)).toBe("succeeded");
    expect(dev.callCounts()["GetJobSetEvents"]).toBeGreaterThanOrEqual(2);
  });

  it("lists queues and reports a missing one as NOT_FOUND", async () => {
    const names: string[] = [];
    for await (const q of client.getQueues()) names.push(q.name);
    expect(names).toContain("default");
    const e = await client.getQueue({ name: "no-such-queue" }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ArmadaError);
    expect((e as ArmadaError).code).toBe(status.NOT_FOUND);
  });

  it("refuses a malformed Kubernetes item before calling the server, naming the path", async () => {
    const before = dev.callCounts()["SubmitJobs"] ?? 0;
    const bad = ITEM.replace("memory: 64Mi }\n        limits", "memory: lots }\n        limits");
    const e = await client
      .submitJobs({ queue: "default", jobSetId: "bad", jobRequestItems: [bad] })
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ArmadaError);
    expect((e as ArmadaError).code).toBe(status.INVALID_ARGUMENT);
    expect((e as ArmadaError).message).toContain(
      "jobRequestItems[0] at podSpec.containers[0].resources.requests.memory",
    );
    expect(dev.callCounts()["SubmitJobs"] ?? 0).toBe(before);
  });
});

describe("ArmadaClient against the dev server with TLS and auth", () => {
  it("authenticates with bearer and basic credentials, and refuses a wrong token with a hint", async () => {
    const certs = makeTestCerts();
    const dev = await startDevServer({
      tls: { certFile: certs.serverCertFile, keyFile: certs.serverKeyFile },
      auth: { bearerTokens: ["dev-token-1234567"], basic: [{ username: "alice", password: "alice-pw" }] },
    });
    const tls = { caFile: certs.caFile };
    const clients = [
      new ArmadaClient(
        new GrpcChannelArgs({ target: dev.grpcTarget, tls, auth: new BearerTokenAuth("dev-token-1234567") }),
      ),
      new ArmadaClient(
        new GrpcChannelArgs({ target: dev.grpcTarget, tls, auth: new BasicAuth("alice", "alice-pw") }),
      ),
      new ArmadaClient(
        new GrpcChannelArgs({ target: dev.grpcTarget, tls, auth: new BearerTokenAuth("not-the-token-999") }),
      ),
    ];
    try {
      expect((await clients[0]!.getQueue({ name: "default" })).name).toBe("default");
      expect((await clients[1]!.getQueue({ name: "default" })).name).toBe("default");
      const e = await clients[2]!.getQueue({ name: "default" }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ArmadaError);
      expect((e as ArmadaError).code).toBe(status.UNAUTHENTICATED);
      expect((e as ArmadaError).message).toMatch(/rejected the credentials/);
      expect((e as ArmadaError).message).not.toContain("not-the-token-999");
    } finally {
      for (const c of clients) c.close();
      await dev.stop();
      certs.cleanup();
    }
  });
});
