import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import type { JobSubmitResponse } from "../../src/gen/armada/submit.js";
import { killProcesses } from "../support/child-processes.js";
import { sleepUntil } from "../support/sleep-until.js";
import { runSourceCli, spawnSourceCli } from "../support/source-cli.js";
import { call, clients, jobItem } from "./helpers.js";

describe("armada-airflow dev", () => {
  // Whatever the outcome, the server process (and its group) is gone after each test.
  afterEach(() => killProcesses());

  it("rejects a bad port with a message naming the flag", async () => {
    const r = await runSourceCli(["dev", "--grpc-port", "http"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('--grpc-port must be an integer from 0 to 65535, got "http"');
  });

  // How fast it starts is a figure of `npm run bench`, not a bound here: on a loaded machine
  // start-up takes what it takes, and the test waits for the server to say it is ready.
  it("starts and says it is ready, prints its gRPC, Lookout and Kubernetes addresses, and serves a job end to end", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "dev-cli-"));
    const kubeconfig = path.join(dir, "kubeconfig");
    const child = spawnSourceCli([
      "dev",
      "--grpc-port",
      "0",
      "--http-port",
      "0",
      "--write-kubeconfig",
      kubeconfig,
      "--queue",
      "cli-q",
      "--state",
      path.join(dir, "state.db"),
    ]);
    // The readiness line comes last, after the addresses and the kubeconfig are written.
    const out = await child.waitForOutput("Press Ctrl+C");
    expect(out).toMatch(/Armada dev server ready in \d+ ms/);
    const grpc = /gRPC:\s+(\S+)/.exec(out)![1];
    const lookout = /Lookout:\s+(\S+)/.exec(out)![1];
    const kube = /Kubernetes:\s+(\S+)/.exec(out)![1];
    expect(grpc).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(lookout).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(out).toContain(`kubeconfig written to ${kubeconfig}`);

    const c = clients(grpc);
    try {
      const res = await call<unknown, JobSubmitResponse>(c.submit, "submitJobs", {
        queue: "cli-q",
        jobSetId: "cli",
        jobRequestItems: [jobItem({ annotations: { "armada-airflow.dev/duration": "100ms" } })],
      });
      const id = res.jobResponseItems[0].jobId;
      const page = () => fetch(`${lookout}jobs/${id}`).then((r) => r.text());
      await sleepUntil(
        async () => (await page()).includes('data-state="SUCCEEDED"'),
        "job succeeded",
        10_000,
      );
      const kc = new KubeConfig();
      kc.loadFromString(readFileSync(kubeconfig, "utf8"));
      expect(kc.getCurrentCluster()?.server).toBe(kube);
      const logs = await kc
        .makeApiClient(CoreV1Api)
        .readNamespacedPodLog({ name: `armada-${id}-0`, namespace: "default" });
      expect(logs).toContain("hello");
    } finally {
      c.close();
    }
  });
});
