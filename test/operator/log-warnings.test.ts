/**
 * Warnings about reading container logs are said once per task try, across
 * the fresh operator copies of a deferrable task, and only when they apply:
 * no kubeconfig at all is said plainly (not as a "loaded-context" that does
 * not exist), and the k8sTokenRetriever advice only for a fixed token sent
 * to a remote cluster.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import { GrpcChannelArgs } from "../../src/client/channel-args.js";
import { ArmadaOperator, type ArmadaOperatorOptions } from "../../src/operator/armada-operator.js";
import { JobState } from "../../src/client/job-states.js";
import { firstTimeThisTry } from "../../src/operator/once-per-try.js";
import { KubernetesPodLogManager } from "../../src/operator/pod-log-manager.js";
import { runWithContext } from "../../src/runtime/context.js";
import { isTaskDeferred } from "../../src/runtime/errors.js";
import { FakeHook, FakeTaskInstance, makeContext, withTimeFlowing } from "./support.js";

const jobRequest = { namespace: "default", podSpec: { containers: [{ name: "main", image: "busybox" }] } };

function kubeconfig(server: string, user: Record<string, unknown>): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "cluster-1", server, skipTLSVerify: true }],
    users: [{ name: "u", ...user }],
    contexts: [{ name: "cluster-1", cluster: "cluster-1", user: "u" }],
    currentContext: "cluster-1",
  });
  return kc;
}

/**
 * Runs a deferrable operator to its end as the runtime does: a fresh copy
 * for every poll, on one task instance. Returns the task log.
 */
async function runDeferrable(options: Partial<ArmadaOperatorOptions>, states: JobState[]) {
  const hook = new FakeHook(states);
  const make = () =>
    new ArmadaOperator({
      taskId: "t",
      name: "n",
      channelArgs: new GrpcChannelArgs({ target: "127.0.0.1:1" }),
      armadaQueue: "q",
      jobRequest,
      containerLogs: "main",
      deferrable: true,
      pollInterval: 1,
      hookFactory: () => hook,
      ...options,
    });
  const first = make();
  const ti = new FakeTaskInstance(first);
  const clock = new ManualClock();
  const context = makeContext(first, ti, clock);
  const run = (fn: () => Promise<unknown>) => withTimeFlowing(clock, () => runWithContext(context, fn));
  let err = await run(async () => {
    await first.renderTemplateFields(context);
    return first.execute(context);
  }).catch((e: unknown) => e);
  let polls = 1;
  while (isTaskDeferred(err)) {
    const copy = make();
    const ctx = { ...context, task: copy };
    err = await run(async () => {
      await copy.renderTemplateFields(ctx);
      return copy._trigger_reentry(ctx);
    }).catch((e: unknown) => e);
    polls++;
  }
  return { lines: ti.log.lines, polls, result: err };
}

/** Decides what to warn about as the real manager does, without reaching any cluster. */
class NoRead extends KubernetesPodLogManager {
  override async fetchContainerLogs(): Promise<string | undefined> {
    return undefined;
  }
}

const RUNNING_THEN_DONE = [
  JobState.RUNNING,
  JobState.RUNNING,
  JobState.RUNNING,
  JobState.RUNNING,
  JobState.SUCCEEDED,
];

describe("log warnings across the polls of a deferrable task", () => {
  it("a log read that keeps failing is said once per try, not at every poll", async () => {
    const { lines, polls } = await runDeferrable(
      {
        podLogManager: {
          fetchContainerLogs: async () => {
            throw new Error("connection refused");
          },
        } as never,
      },
      RUNNING_THEN_DONE,
    );
    expect(polls).toBeGreaterThanOrEqual(4);
    expect(lines.filter((l) => l.includes("Error fetching logs"))).toHaveLength(1);
  });

  it("says the k8sTokenRetriever advice once, for a fixed token to a remote cluster", async () => {
    const manager = new NoRead({
      kubeConfig: kubeconfig("https://k8s.example.com:6443", { token: "fixed" }),
    });
    const { lines } = await runDeferrable({ podLogManager: manager }, RUNNING_THEN_DONE);
    expect(lines.filter((l) => l.includes("without k8sTokenRetriever"))).toEqual([
      expect.stringMatching(/logs of cluster cluster-1 are read with the kubeconfig's fixed token/),
    ]);
  });

  it("does not say it for a local cluster, a refreshing credential or a token retriever", async () => {
    for (const manager of [
      new NoRead({ kubeConfig: kubeconfig("http://127.0.0.1:1", { token: "fixed" }) }),
      new NoRead({
        kubeConfig: kubeconfig("https://k8s.example.com:6443", {
          exec: { command: "get-token", apiVersion: "client.authentication.k8s.io/v1" },
        }),
      }),
      new NoRead({
        kubeConfig: kubeconfig("https://k8s.example.com:6443", { token: "fixed" }),
        tokenRetriever: { getToken: () => "fresh" },
      }),
    ]) {
      const { lines } = await runDeferrable({ podLogManager: manager }, [
        JobState.RUNNING,
        JobState.SUCCEEDED,
      ]);
      expect(lines.filter((l) => l.includes("k8sTokenRetriever"))).toEqual([]);
    }
  });
});

describe("no kubeconfig at all", () => {
  const saved = {
    KUBECONFIG: process.env.KUBECONFIG,
    HOME: process.env.HOME,
    K: process.env.KUBERNETES_SERVICE_HOST,
  };
  const home = mkdtempSync(path.join(os.tmpdir(), "aa-no-kube-"));
  afterEach(() => {
    for (const [k, v] of [
      ["KUBECONFIG", saved.KUBECONFIG],
      ["HOME", saved.HOME],
      ["KUBERNETES_SERVICE_HOST", saved.K],
    ] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    rmSync(home, { recursive: true, force: true });
  });

  it("is said as such, with the fix, instead of naming an invented 'loaded-context'", async () => {
    delete process.env.KUBECONFIG;
    delete process.env.KUBERNETES_SERVICE_HOST;
    process.env.HOME = home;
    const manager = new KubernetesPodLogManager();
    const err = (await manager
      .fetchContainerLogs({
        k8sContext: "cluster-1",
        namespace: "default",
        pod: "armada-x-0",
        container: "main",
        log: { info: () => {}, warn: () => {}, error: () => {} },
      })
      .catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(
      /^no kubeconfig found .*set KUBECONFIG .*or pass the operator's kubeConfig option/,
    );
    expect(err.message).not.toContain("loaded-context");
  });
});

describe("firstTimeThisTry", () => {
  it("is true once per topic and try of a task instance", () => {
    const ti = { dagId: "d", runId: "r", taskId: "once", mapIndex: -1, tryNumber: 1 };
    expect(firstTimeThisTry(ti, "a")).toBe(true);
    expect(firstTimeThisTry(ti, "a")).toBe(false);
    expect(firstTimeThisTry(ti, "b")).toBe(true);
    expect(firstTimeThisTry({ ...ti, tryNumber: 2 }, "a")).toBe(true);
    expect(firstTimeThisTry({ ...ti, mapIndex: 0 }, "a")).toBe(true);
  });
});
