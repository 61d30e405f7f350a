import { CoreV1Api, KubeConfig, Log } from "@kubernetes/client-node";
import { PassThrough } from "node:stream";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import type { JobSubmitResponse } from "../../src/gen/armada/submit.js";
import { startDevServer, type DevServer } from "armada-airflow/testing";
import { sleepUntil } from "../support/sleep-until.js";
import { call, clients, container, jobItem } from "./helpers.js";

describe("Kubernetes pod-log API, read with @kubernetes/client-node", () => {
  let clock: ManualClock;
  let server: DevServer;
  let c: ReturnType<typeof clients>;

  beforeEach(async () => {
    clock = new ManualClock();
    // ns-1 must exist on the pretend clusters, as on a real one.
    server = await startDevServer({
      clock,
      queues: ["q"],
      namespaces: ["default", "ns-1"],
      timing: { podRetentionMs: 60_000 },
    });
    c = clients(server.grpcTarget);
  });
  afterEach(async () => {
    c.close();
    await server.stop();
  });

  const kube = (context: string) => {
    const kc = new KubeConfig();
    kc.loadFromString(server.kubeconfig());
    kc.setCurrentContext(context);
    return kc;
  };
  const submitScript = async (script: string, namespace = "ns-1") => {
    const res = await call<unknown, JobSubmitResponse>(c.submit, "submitJobs", {
      queue: "q",
      jobSetId: "logs",
      jobRequestItems: [
        jobItem({ namespace }, [
          container("main", ["sh", "-c", script]),
          container("side", ["sh", "-c", "echo side-car"]),
        ]),
      ],
    });
    return res.jobResponseItems[0].jobId;
  };
  const stateOf = (id: string) => server.jobs().find((j) => j.id === id)!.state;

  it("has one context per cluster id, and reads a finished job's log with timestamps and sinceTime", async () => {
    const kc = kube("cluster-1");
    expect(kc.getContexts().map((x) => x.name)).toEqual(["cluster-1", "cluster-2"]);
    const id = await submitScript("echo first && sleep 2 && echo second && echo done");
    clock.advance(400 + 2000);
    await sleepUntil(() => stateOf(id) === "SUCCEEDED", "SUCCEEDED");
    const run = server.jobs()[0].runs[0];
    const api = kube(run.cluster).makeApiClient(CoreV1Api);
    const pod = `armada-${id}-0`;
    const text = await api.readNamespacedPodLog({
      name: pod,
      namespace: "ns-1",
      container: "main",
      timestamps: true,
    });
    const started = run.startedAt!.getTime();
    const ts = (ms: number) => `${new Date(ms).toISOString().slice(0, 23)}000000Z`;
    expect(text).toBe(
      `${ts(started)} first\n${ts(started + 2000)} second\n${ts(started + 2000)} done\n${ts(started + 2000)} container main exited with code 0\n`,
    );
    // CoreV1Api has no sinceTime; the Log helper does.
    const out = new PassThrough();
    let since = "";
    out.on("data", (d: Buffer) => (since += d.toString()));
    const ended = new Promise<void>((resolve) => out.on("end", resolve));
    await new Log(kube(run.cluster)).log("ns-1", pod, "main", out, {
      sinceTime: new Date(started + 1000).toISOString(),
    });
    await ended;
    expect(since).toBe("second\ndone\ncontainer main exited with code 0\n");
    const side = await api.readNamespacedPodLog({ name: pod, namespace: "ns-1", container: "side" });
    expect(side.split("\n")[0]).toBe("side-car");
    // sinceSeconds counts back from the server's clock.
    const recent = await api.readNamespacedPodLog({
      name: pod,
      namespace: "ns-1",
      container: "main",
      sinceSeconds: 1,
    });
    expect(recent).toBe("second\ndone\ncontainer main exited with code 0\n");
  });

  it("answers 404 with a Status body once the pod is gone, and 400 for an unknown container", async () => {
    const id = await submitScript("echo hi");
    clock.advance(1400);
    await sleepUntil(() => stateOf(id) === "SUCCEEDED", "SUCCEEDED");
    const api = kube("cluster-1").makeApiClient(CoreV1Api);
    const pod = `armada-${id}-0`;
    await expect(
      api.readNamespacedPodLog({ name: pod, namespace: "ns-1", container: "nope" }),
    ).rejects.toMatchObject({
      code: 400,
      body: expect.stringContaining(`container nope is not valid for pod ${pod}`),
    });
    clock.advance(60_000);
    await sleepUntil(async () => {
      try {
        await api.readNamespacedPodLog({ name: pod, namespace: "ns-1", container: "main" });
        return false;
      } catch (err) {
        const e = err as { code: number; body: string };
        expect(e.code).toBe(404);
        expect(JSON.parse(e.body)).toMatchObject({
          kind: "Status",
          reason: "NotFound",
          message: `pods "${pod}" not found`,
        });
        return true;
      }
    }, "pod deleted");
    await expect(
      api.readNamespacedPodLog({ name: "armada-unknown-0", namespace: "ns-1", container: "main" }),
    ).rejects.toMatchObject({ code: 404 });
  });

  it("answers 400 while the container waits to start, honours tailLines, and needs a container name for a multi-container pod", async () => {
    const id = await submitScript("echo a && echo b && echo c");
    const pod = `armada-${id}-0`;
    const api = kube("cluster-1").makeApiClient(CoreV1Api);
    clock.advance(200); // leased at 100, pending at 200
    await sleepUntil(() => stateOf(id) === "PENDING", "PENDING");
    await expect(
      api.readNamespacedPodLog({ name: pod, namespace: "ns-1", container: "main" }),
    ).rejects.toMatchObject({
      code: 400,
      body: expect.stringContaining("is waiting to start: ContainerCreating"),
    });
    clock.advance(1200);
    await sleepUntil(() => stateOf(id) === "SUCCEEDED", "SUCCEEDED");
    const tail = await api.readNamespacedPodLog({
      name: pod,
      namespace: "ns-1",
      container: "main",
      tailLines: 2,
    });
    expect(tail).toBe("c\ncontainer main exited with code 0\n");
    await expect(api.readNamespacedPodLog({ name: pod, namespace: "ns-1" })).rejects.toMatchObject({
      code: 400,
      body: expect.stringContaining(
        `a container name must be specified for pod ${pod}, choose one of: [main side]`,
      ),
    });
  });

  it("refuses a request without the right bearer token", async () => {
    const kc = new KubeConfig();
    kc.loadFromString(server.kubeconfig().replace(server.kubeToken, "wrong-token"));
    const api = kc.makeApiClient(CoreV1Api);
    await expect(
      api.readNamespacedPodLog({ name: "armada-x-0", namespace: "default" }),
    ).rejects.toMatchObject({ code: 401 });
  });

  it("follows a running container's log until it exits", async () => {
    const id = await submitScript("echo one && sleep 1 && echo two && sleep 1 && echo three");
    clock.advance(400);
    await sleepUntil(() => stateOf(id) === "RUNNING", "RUNNING");
    const out = new PassThrough();
    let text = "";
    out.on("data", (d: Buffer) => (text += d.toString()));
    const ended = new Promise<void>((resolve) => out.on("end", resolve));
    await new Log(kube("cluster-1")).log("ns-1", `armada-${id}-0`, "main", out, { follow: true });
    await sleepUntil(() => text.includes("one\n"), "first line");
    expect(text).not.toContain("two");
    clock.advance(1000);
    await sleepUntil(() => text.includes("two\n"), "second line");
    clock.advance(1000);
    await ended;
    expect(text).toBe("one\ntwo\nthree\ncontainer main exited with code 0\n");
  });

  it("writes a kubeconfig file readable only by its owner", async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "kc-")), "config");
    await server.writeKubeconfig(file);
    expect(readFileSync(file, "utf8")).toBe(server.kubeconfig());
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});
