import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import type { JobFailedEvent } from "../../src/gen/armada/event.js";
import type { JobErrorsResponse, JobStatusResponse } from "../../src/gen/armada/job.js";
import { JobState, type JobSubmitResponse } from "../../src/gen/armada/submit.js";
import { killProcesses } from "../support/child-processes.js";
import { sleepUntil } from "../support/sleep-until.js";
import { runSourceCli, spawnSourceCli } from "../support/source-cli.js";
import { call, clients, container, jobItem, readEvents } from "./helpers.js";

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
      // One API server per cluster, under the printed base URL.
      expect(kc.getCurrentCluster()?.server).toBe(`${kube}/clusters/${kc.getCurrentCluster()?.name}`);
      const logs = await kc
        .makeApiClient(CoreV1Api)
        .readNamespacedPodLog({ name: `armada-${id}-0`, namespace: "default" });
      expect(logs).toContain("hello");
    } finally {
      c.close();
    }
  });

  it("refuses a malformed --failure-category with the expected form", async () => {
    const r = await runSourceCli(["dev", "--failure-category", "gpu=exit-code:x"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      '"gpu=exit-code:x": exit-code needs a comma-separated list of exit codes 0-255',
    );
  });

  it("--namespace, --image and --failure-category shape what a job meets", async () => {
    const child = spawnSourceCli([
      "dev",
      "--grpc-port",
      "0",
      "--http-port",
      "0",
      "--namespace",
      "team-a",
      "--image",
      "busybox:*",
      "--failure-category",
      "infra/pull=message:ImagePullBackOff",
    ]);
    const out = await child.waitForOutput("Press Ctrl+C");
    const c = clients(/gRPC:\s+(\S+)/.exec(out)![1]);
    try {
      const quick = { "armada-airflow.dev/duration": "50ms" };
      const items = [
        jobItem({ namespace: "team-a", annotations: quick }),
        jobItem({ namespace: "personal-anonymous", annotations: quick }, [
          container("main", ["true"], { image: "python:3.12" }),
        ]),
        jobItem({ namespace: "team-b", annotations: quick }),
      ];
      const res = await call<unknown, JobSubmitResponse>(c.submit, "submitJobs", {
        queue: "default",
        jobSetId: "flags",
        jobRequestItems: items,
      });
      const ids = res.jobResponseItems.map((i) => i.jobId);
      let states: Record<string, JobState> = {};
      await sleepUntil(
        async () => {
          states = (await call<unknown, JobStatusResponse>(c.jobs, "getJobStatus", { jobIds: ids }))
            .jobStates;
          return ids.every((id) => states[id] === JobState.SUCCEEDED || states[id] === JobState.FAILED);
        },
        "jobs end",
        10_000,
      );
      expect(ids.map((id) => states[id])).toEqual([JobState.SUCCEEDED, JobState.FAILED, JobState.FAILED]);
      const errors = (await call<unknown, JobErrorsResponse>(c.jobs, "getJobErrors", { jobIds: ids }))
        .jobErrors;
      expect(errors[ids[1]]).toContain('ImagePullBackOff: Back-off pulling image "python:3.12"');
      expect(errors[ids[2]]).toContain('namespaces "team-b" not found');
      const events = await readEvents(c.events, { queue: "default", id: "flags" });
      const failed = events
        .map((e) => e.message?.events)
        .filter((e) => e?.$case === "failed")
        .map((e) => e!.value as JobFailedEvent);
      expect(failed.find((f) => f.jobId === ids[1])?.failureCategory).toBe("infra");
      expect(failed.find((f) => f.jobId === ids[1])?.failureSubcategory).toBe("pull");
      expect(failed.find((f) => f.jobId === ids[2])?.failureCategory).toBe("uncategorized");
    } finally {
      c.close();
    }
  });
  it("refuses a malformed --node with the form it takes", async () => {
    const r = await runSourceCli(["dev", "--node", "gpu-1:cpu=lots,memory=32Gi"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      '--node "gpu-1:cpu=lots,memory=32Gi": cpu: "lots" is not a Kubernetes quantity',
    );
    expect(r.stderr).toContain("form: [CLUSTER/]NAME:cpu=8,memory=32Gi[,gpus=N][,label.KEY=VALUE]");
  });

  it("--node gives the cluster its shape: a GPU job runs on the GPU node, one asking for more GPUs than any node has waits with the scheduler's reason", async () => {
    const child = spawnSourceCli([
      "dev",
      "--grpc-port",
      "0",
      "--http-port",
      "0",
      "--node",
      "gpu-cluster/gpu-1:cpu=8,memory=32Gi,gpus=2,label.pool=gpu",
      "--node",
      "gpu-cluster/cpu-1:cpu=4,memory=16Gi",
    ]);
    const out = await child.waitForOutput("Press Ctrl+C");
    expect(out).toContain(
      "Cluster:     gpu-cluster: gpu-1 (cpu 8, memory 32Gi, 2 GPU), cpu-1 (cpu 4, memory 16Gi)",
    );
    const c = clients(/gRPC:\s+(\S+)/.exec(out)![1]);
    const lookout = /Lookout:\s+(\S+)/.exec(out)![1];
    try {
      const gpuContainer = (n: string) =>
        container("main", ["true"], {
          resources: {
            requests: { cpu: { string: "1" }, memory: { string: "1Gi" } },
            limits: { cpu: { string: "1" }, memory: { string: "1Gi" }, "nvidia.com/gpu": { string: n } },
          },
        });
      const quick = { "armada-airflow.dev/duration": "50ms" };
      const res = await call<unknown, JobSubmitResponse>(c.submit, "submitJobs", {
        queue: "default",
        jobSetId: "nodes",
        jobRequestItems: [
          jobItem({ annotations: quick }, [gpuContainer("3")]),
          jobItem({ annotations: quick }, [gpuContainer("2")]),
        ],
      });
      const [tooMany, fits] = res.jobResponseItems.map((i) => i.jobId);
      await sleepUntil(
        async () =>
          (await call<unknown, JobStatusResponse>(c.jobs, "getJobStatus", { jobIds: [fits] })).jobStates[
            fits!
          ] === JobState.SUCCEEDED,
        "the 2-GPU job succeeds",
        10_000,
      );
      const details = await call<
        unknown,
        { jobDetails: Record<string, { jobRuns: { node: string; cluster: string }[] }> }
      >(c.jobs, "getJobDetails", { jobIds: [fits], expandJobRun: true });
      expect(details.jobDetails[fits!]!.jobRuns[0]).toMatchObject({ node: "gpu-1", cluster: "gpu-cluster" });
      // Submitted first, it did not hold up the job behind it, and it says why it waits.
      const states = (await call<unknown, JobStatusResponse>(c.jobs, "getJobStatus", { jobIds: [tooMany] }))
        .jobStates;
      expect(states[tooMany!]).toBe(JobState.QUEUED);
      const page = await (await fetch(`${lookout}jobs/${tooMany}`)).text();
      expect(page).toContain("0/2 nodes are available: 2 Insufficient nvidia.com/gpu");
    } finally {
      c.close();
    }
  });
});
