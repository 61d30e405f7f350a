/**
 * GPUs and ingress on the dev server, through the public gRPC API: a job
 * asking for `nvidia.com/gpu` runs only on a node that has them and waits,
 * queued with the scheduler's reason, where none does; a job with ingress
 * or services gets the `ingressInfo` event and run ingress addresses on
 * loopback, where (in process mode) its container answers.
 */
import { createServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ArmadaClient, GrpcChannelArgs } from "../../src/client/index.js";
import { ManualClock } from "../../src/common/clock.js";
import type { JobIngressInfoEvent } from "../../src/gen/armada/event.js";
import { JobState, ServiceType } from "../../src/gen/armada/submit.js";
import { startDevServer, type DevServer, type DevServerOptions } from "armada-airflow/testing";
import { sleepUntil } from "../support/sleep-until.js";

let server: DevServer | undefined;
let client: ArmadaClient | undefined;
afterEach(async () => {
  client?.close();
  await server?.stop();
  server = client = undefined;
});

async function start(options: DevServerOptions) {
  const clock = new ManualClock();
  server = await startDevServer({ clock, queues: ["q"], ...options });
  client = new ArmadaClient(new GrpcChannelArgs({ target: server.grpcTarget }));
  return { clock, server, client };
}

const gpuJob = (gpus: string, script = "echo trained") => ({
  namespace: "default",
  podSpec: {
    containers: [
      {
        name: "main",
        image: "busybox",
        command: ["sh", "-c", script],
        resources: {
          requests: { cpu: "1", memory: "1Gi" },
          limits: { cpu: "1", memory: "1Gi", "nvidia.com/gpu": gpus },
        },
      },
    ],
  },
});

describe("GPUs", () => {
  it("a GPU job runs only on a node that has GPUs, though another node has more room", async () => {
    const { clock, client: c } = await start({
      clusters: [
        { id: "cluster-1", nodes: [{ name: "big-cpu", cpu: "32", memory: "64Gi" }] },
        { id: "cluster-2", nodes: [{ name: "gpu-node", cpu: "4", memory: "16Gi", gpus: 2 }] },
      ],
    });
    const ids = (
      await c.submitJobs({ queue: "q", jobSetId: "g", jobRequestItems: [gpuJob("2"), gpuJob("0")] })
    ).jobResponseItems.map((r) => r.jobId);
    await sleepUntil(async () => {
      clock.advance(200);
      const s = (await c.getJobStatus({ jobIds: ids })).jobStates;
      return ids.every((id) => s[id] === JobState.SUCCEEDED);
    }, "both jobs succeed");
    const d = (await c.getJobDetails({ jobIds: ids, expandJobRun: true })).jobDetails;
    expect(d[ids[0]!]!.jobRuns[0]!.node).toBe("gpu-node");
    expect(d[ids[1]!]!.jobRuns[0]!.node).toBe("big-cpu");
  });

  it("with no node that has enough GPUs the job stays queued with the scheduler's reason, not holding up its queue", async () => {
    const {
      clock,
      client: c,
      server: s,
    } = await start({
      clusters: [{ id: "cluster-1", nodes: [{ name: "n1", cpu: "8", memory: "32Gi", gpus: 1 }] }],
    });
    const [gpu, plain] = (
      await c.submitJobs({ queue: "q", jobSetId: "g", jobRequestItems: [gpuJob("4"), gpuJob("0")] })
    ).jobResponseItems.map((r) => r.jobId);
    await sleepUntil(async () => {
      clock.advance(200);
      return (await c.getJobStatus({ jobIds: [plain!] })).jobStates[plain!] === JobState.SUCCEEDED;
    }, "the job behind it runs");
    clock.advance(10_000);
    expect((await c.getJobStatus({ jobIds: [gpu!] })).jobStates[gpu!]).toBe(JobState.QUEUED);
    const page = await (await fetch(`${s.httpUrl}/jobs/${gpu}`)).text();
    expect(page).toContain("0/1 nodes are available: 1 Insufficient nvidia.com/gpu");
  });
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

describe("ingress and services", () => {
  it("the ingressInfo event and run ingress addresses are on loopback, where the container's port answers", async () => {
    const { clock, client: c } = await start({ executor: "process" });
    const port = await freePort();
    const serve = `require("http").createServer((q, s) => s.end("pong")).listen(${port}, "127.0.0.1", () => console.log("listening"))`;
    const [id] = (
      await c.submitJobs({
        queue: "q",
        jobSetId: "web",
        jobRequestItems: [
          {
            namespace: "default",
            ingress: [{ ports: [port] }],
            services: [{ type: ServiceType.Headless, ports: [9999] }],
            podSpec: {
              containers: [
                {
                  name: "web",
                  image: "node",
                  command: [process.execPath, "-e", serve],
                  ports: [{ containerPort: port, name: "http" }],
                  resources: { requests: { cpu: "100m", memory: "256Mi" } },
                },
              ],
            },
          },
        ],
      })
    ).jobResponseItems.map((r) => r.jobId);
    let info: JobIngressInfoEvent | undefined;
    await sleepUntil(async () => {
      clock.advance(100);
      for await (const e of c.getJobSetEvents({ queue: "q", id: "web", watch: false })) {
        if (e.message?.events?.$case === "ingressInfo") info = e.message.events.value;
      }
      return info !== undefined;
    }, "ingressInfo event");
    expect(info!.jobId).toBe(id);
    expect(info!.podName).toBe(`armada-${id}-0`);
    // The headless service has no address to reach from outside; the ingress port has one.
    expect(info!.ingressAddresses).toEqual({ [port]: `127.0.0.1:${port}` });
    const run = (await c.getJobDetails({ jobIds: [id!], expandJobRun: true })).jobDetails[id!]!.jobRuns[0]!;
    expect(run.ingressAddresses).toEqual({ [port]: `127.0.0.1:${port}` });
    let answer = "";
    await sleepUntil(async () => {
      answer = await fetch(`http://${info!.ingressAddresses[port]}/`)
        .then((r) => r.text())
        .catch(() => "");
      return answer === "pong";
    }, "the container answers at its ingress address");
    expect(answer).toBe("pong");
    await c.cancelJobs({ jobIds: [id!], queue: "q", jobSetId: "web" });
  });
});
