import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ArmadaClient, BearerTokenAuth, GrpcChannelArgs } from "armada-airflow/client";
import { ManualClock } from "../../src/common/clock.js";
import { JobState } from "../../src/gen/armada/submit.js";
import { startDevServer, type DevServer } from "armada-airflow/testing";
import { sleepUntil } from "../support/sleep-until.js";

const tlsDir = path.join(import.meta.dirname, "fixtures", "tls");

// The same client code that talks to a real Armada, pointed at the dev server.
describe("the dev server driven by our ArmadaClient", () => {
  let server: DevServer | undefined;
  let client: ArmadaClient | undefined;
  afterEach(async () => {
    client?.close();
    await server?.stop();
  });

  it("submits a Kubernetes-style YAML job with gzip, follows its events across a dropped stream, and reads its result", async () => {
    const clock = new ManualClock();
    server = await startDevServer({ clock, queues: ["team"] });
    client = new ArmadaClient(new GrpcChannelArgs({ target: server.grpcTarget, compression: "gzip" }));
    const res = await client.submitJobs({
      queue: "team",
      jobSetId: "client-set",
      jobRequestItems: [
        `
namespace: default
priority: 1
podSpecs:
  - restartPolicy: Never
    containers:
      - name: main
        image: busybox
        command: [sh, -c, "echo from-yaml && sleep 2 && exit 5"]
        resources:
          requests: {cpu: 500m, memory: 256Mi}
          limits: {cpu: 500m, memory: 256Mi}
`,
      ],
    });
    const id = res.jobResponseItems[0].jobId;
    server.faults.dropEventStreamAfter(3);
    const seen: string[] = [];
    const ac = new AbortController();
    const reading = (async () => {
      for await (const m of client!.getJobSetEvents(
        { queue: "team", id: "client-set", watch: true },
        { signal: ac.signal },
      )) {
        seen.push(m.message?.events?.$case ?? "?");
        if (seen.at(-1) === "failed") ac.abort();
      }
    })();
    await sleepUntil(() => seen.length >= 2, "first events");
    clock.advance(400);
    clock.advance(2000);
    await reading;
    expect(seen).toEqual(["submitted", "queued", "leased", "pending", "running", "failed"]);
    expect(server.callCounts().GetJobSetEvents).toBe(2);
    expect((await client.getJobStatus({ jobIds: [id] })).jobStates[id]).toBe(JobState.FAILED);
    expect((await client.getJobErrors({ jobIds: [id] })).jobErrors[id]).toBe(
      "container main failed with exit code 5",
    );
    expect(server.jobs()[0].resources).toEqual({ cpuMillis: 500, memoryBytes: 256 * 2 ** 20 });
  });

  it("authenticates with a bearer token over TLS", async () => {
    server = await startDevServer({
      clock: new ManualClock(),
      auth: { bearerTokens: ["t0ken"] },
      tls: { certFile: path.join(tlsDir, "server.crt"), keyFile: path.join(tlsDir, "server.key") },
    });
    const target = server.grpcTarget.replace("127.0.0.1", "localhost");
    client = new ArmadaClient(
      new GrpcChannelArgs({
        target,
        auth: new BearerTokenAuth("t0ken"),
        tls: { caFile: path.join(tlsDir, "ca.crt") },
      }),
    );
    expect((await client.health()).status).toBe(1);
    const queues: string[] = [];
    for await (const q of client.getQueues()) queues.push(q.name);
    expect(queues).toEqual(["default"]);
    client.close();
    client = new ArmadaClient(
      new GrpcChannelArgs({
        target,
        auth: new BearerTokenAuth("wrong"),
        tls: { caFile: path.join(tlsDir, "ca.crt") },
      }),
    );
    await expect(client.health()).rejects.toMatchObject({
      message: expect.stringMatching(/UNAUTHENTICATED/i),
    });
  });
});
