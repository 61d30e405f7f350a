/**
 * What a pod meets on Kubernetes, in the dev server's process mode, through
 * the public gRPC API and the pod-log API: the downward API in its
 * environment, init containers run first and in order, and emptyDir volumes
 * shared by the pod's containers.
 */
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArmadaClient, GrpcChannelArgs } from "../../src/client/index.js";
import { ManualClock } from "../../src/common/clock.js";
import { JobState } from "../../src/gen/armada/submit.js";
import { startDevServer, type DevServer } from "armada-airflow/testing";
import { mountNamespaceSupport } from "../../src/devserver/pod-volumes.js";
import { sleepUntil } from "../support/sleep-until.js";

const TERMINAL = new Set([JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.REJECTED]);
const res = { requests: { cpu: "250m", memory: "64Mi" }, limits: { cpu: "250m", memory: "64Mi" } };

let server: DevServer;
let client: ArmadaClient;
let clock: ManualClock;
beforeAll(async () => {
  clock = new ManualClock();
  server = await startDevServer({ clock, queues: ["q"], executor: "process" });
  client = new ArmadaClient(new GrpcChannelArgs({ target: server.grpcTarget }));
});
afterAll(async () => {
  client?.close();
  await server?.stop();
});

let n = 0;
async function run(item: Record<string, unknown>) {
  const jobSetId = `s${++n}`;
  const r = await client.submitJobs({
    queue: "q",
    jobSetId,
    jobRequestItems: [{ namespace: "default", ...item }],
  });
  const id = r.jobResponseItems[0]!.jobId;
  let state = JobState.UNKNOWN;
  await sleepUntil(async () => {
    clock.advance(100);
    state = (await client.getJobStatus({ jobIds: [id] })).jobStates[id]!;
    return TERMINAL.has(state);
  }, `job ${id} ends`);
  const error = (await client.getJobErrors({ jobIds: [id] })).jobErrors[id] ?? "";
  const log = async (container: string) => {
    const r2 = await fetch(
      `${server.httpUrl}/api/v1/namespaces/default/pods/armada-${id}-0/log?container=${container}`,
      { headers: { authorization: `Bearer ${server.kubeToken}` } },
    );
    return r2.ok ? await r2.text() : `HTTP ${r2.status}`;
  };
  return { id, state, error, log };
}

describe("downward API: the environment Kubernetes gives a container", () => {
  it("fieldRef and resourceFieldRef get the pod's values; $(VAR) is expanded; HOSTNAME is the pod name", async () => {
    const r = await run({
      labels: { team: "ml" },
      annotations: { "example.com/owner": "ada" },
      podSpec: {
        containers: [
          {
            name: "main",
            image: "busybox",
            command: [
              "sh",
              "-c",
              'for v in POD NS UID TEAM OWNER NODE IP JOB CPU_M MEM_MI GREETING HOSTNAME; do eval "echo $v=\\$$$$v"; done',
            ],
            env: [
              { name: "POD", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
              { name: "NS", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
              { name: "UID", valueFrom: { fieldRef: { fieldPath: "metadata.uid" } } },
              { name: "TEAM", valueFrom: { fieldRef: { fieldPath: "metadata.labels['team']" } } },
              {
                name: "OWNER",
                valueFrom: { fieldRef: { fieldPath: "metadata.annotations['example.com/owner']" } },
              },
              { name: "NODE", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
              { name: "IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
              // What the executor puts on the pod, read as Armada's own integrations read the job id.
              { name: "JOB", valueFrom: { fieldRef: { fieldPath: "metadata.labels['armada_job_id']" } } },
              { name: "CPU_M", valueFrom: { resourceFieldRef: { resource: "limits.cpu", divisor: "1m" } } },
              {
                name: "MEM_MI",
                valueFrom: { resourceFieldRef: { resource: "requests.memory", divisor: "1Mi" } },
              },
              { name: "WHO", value: "world" },
              { name: "GREETING", value: "hello $(WHO) $$(WHO)" },
            ],
            resources: res,
          },
        ],
      },
    });
    expect(r.state).toBe(JobState.SUCCEEDED);
    const details = (await client.getJobDetails({ jobIds: [r.id], expandJobRun: true })).jobDetails[r.id]!;
    const run1 = details.jobRuns[0]!;
    const env = Object.fromEntries(
      (await r.log("main"))
        .trim()
        .split("\n")
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
    expect(env).toEqual({
      POD: `armada-${r.id}-0`,
      NS: "default",
      UID: run1.runId,
      TEAM: "ml",
      OWNER: "ada",
      NODE: run1.node,
      IP: "127.0.0.1",
      JOB: r.id,
      CPU_M: "250",
      MEM_MI: "64",
      GREETING: "hello world $(WHO)",
      HOSTNAME: `armada-${r.id}-0`,
    });
  });

  it("a field path Kubernetes does not support fails the pod with the API server's words; so does a missing ConfigMap", async () => {
    const bad = await run({
      podSpec: {
        containers: [
          {
            name: "main",
            image: "busybox",
            command: ["true"],
            env: [{ name: "X", valueFrom: { fieldRef: { fieldPath: "metadata.generation" } } }],
            resources: res,
          },
        ],
      },
    });
    expect(bad.state).toBe(JobState.FAILED);
    expect(bad.error).toMatch(
      /Pod "armada-\w+-0" is invalid: spec\.containers\[0\]\.env\[0\]\.valueFrom\.fieldRef\.fieldPath: Unsupported value: "metadata\.generation"/,
    );
    const cm = await run({
      podSpec: {
        containers: [
          {
            name: "main",
            image: "busybox",
            command: ["true"],
            env: [{ name: "X", valueFrom: { configMapKeyRef: { name: "settings", key: "x" } } }],
            resources: res,
          },
        ],
      },
    });
    expect(cm.error).toMatch(/CreateContainerConfigError: configmap "settings" not found/);
  });
});

describe("init containers run first, one at a time, in order", () => {
  it("runs them before the containers; their logs are the pod's", async () => {
    const r = await run({
      podSpec: {
        initContainers: [
          {
            name: "first",
            image: "busybox",
            command: ["sh", "-c", "echo first; date +%s%N > /tmp/aa-init-$(POD)"],
            resources: res,
            env: [{ name: "POD", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } }],
          },
          {
            name: "second",
            image: "busybox",
            command: ["sh", "-c", "test -f /tmp/aa-init-$(POD) && echo second saw first"],
            resources: res,
            env: [{ name: "POD", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } }],
          },
        ],
        containers: [
          {
            name: "main",
            image: "busybox",
            command: [
              "sh",
              "-c",
              "test -f /tmp/aa-init-$(POD) && echo main after inits; rm -f /tmp/aa-init-$(POD)",
            ],
            env: [{ name: "POD", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } }],
            resources: res,
          },
        ],
      },
    });
    expect(r.state).toBe(JobState.SUCCEEDED);
    expect(await r.log("first")).toBe("first\n");
    expect(await r.log("second")).toBe("second saw first\n");
    expect(await r.log("main")).toBe("main after inits\n");
  });

  it("a failing init container fails the job with its own reason; later containers never start", async () => {
    const r = await run({
      podSpec: {
        initContainers: [
          {
            name: "migrate",
            image: "busybox",
            command: ["sh", "-c", "echo cannot migrate; exit 4"],
            resources: res,
          },
          { name: "never", image: "busybox", command: ["sh", "-c", "echo ran"], resources: res },
        ],
        containers: [{ name: "main", image: "busybox", command: ["sh", "-c", "echo ran"], resources: res }],
      },
    });
    expect(r.state).toBe(JobState.FAILED);
    expect(r.error).toBe("Init:Error: init container migrate failed with exit code 4");
    expect(await r.log("migrate")).toBe("cannot migrate\n");
    expect(await r.log("main")).toBe("");
    const events = [];
    for await (const e of client.getJobSetEvents({ queue: "q", id: `s${n}`, watch: false })) events.push(e);
    const failed = events.find((e) => e.message?.events?.$case === "failed")!.message!.events!.value as {
      exitCodes: Record<string, number>;
      failureCategory: string;
    };
    expect(failed.exitCodes).toEqual({ migrate: 4 });
    expect(failed.failureCategory).toBe("uncategorized");
  });
});

describe("emptyDir volumes", () => {
  const support = mountNamespaceSupport();
  it("are one folder per pod, shared by its containers at their mountPath, gone with the pod", async () => {
    // This machine's answer decides which behaviour is checked: both are the server's, neither is skipped.
    const r = await run({
      podSpec: {
        volumes: [{ name: "scratch", emptyDir: {} }],
        initContainers: [
          {
            name: "writer",
            image: "busybox",
            command: ["sh", "-c", "echo from-init > /aa-scratch-test/handoff"],
            volumeMounts: [{ name: "scratch", mountPath: "/aa-scratch-test" }],
            resources: res,
          },
        ],
        containers: [
          {
            name: "main",
            image: "busybox",
            command: ["sh", "-c", "cat /mnt/in/handoff; ls /aa-scratch-test 2>/dev/null | wc -l"],
            volumeMounts: [{ name: "scratch", mountPath: "/mnt/in", readOnly: true }],
            resources: res,
          },
        ],
      },
    });
    if ("problem" in support) {
      expect(r.state).toBe(JobState.FAILED);
      expect(r.error).toMatch(/cannot make a private mount namespace/);
      return;
    }
    expect(r.error).toBe("");
    expect(r.state).toBe(JobState.SUCCEEDED);
    // The init container's file is in the main container's mount; the host never saw the mount.
    expect(await r.log("main")).toBe("from-init\n0\n");
    expect(existsSync("/aa-scratch-test")).toBe(false);
  });

  it("a volume kind the dev server cannot provide fails the pod, naming it", async () => {
    const r = await run({
      podSpec: {
        volumes: [{ name: "data", hostPath: { path: "/srv/data" } }],
        containers: [
          {
            name: "main",
            image: "busybox",
            command: ["true"],
            volumeMounts: [{ name: "data", mountPath: "/data" }],
            resources: res,
          },
        ],
      },
    });
    expect(r.state).toBe(JobState.FAILED);
    expect(r.error).toBe(
      "volume data is a hostPath volume; the dev server's process executor provides emptyDir volumes only",
    );
  });
});
