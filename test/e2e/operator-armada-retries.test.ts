/**
 * The operator and Armada's retry engine, on the dev server through the task
 * runner: a job Armada runs again (new run id, another cluster) is followed
 * run by run — logs of both runs, a marker line, the latest run's reason and
 * failure category — and `armadaRetries: "failFast"` keeps Armada out of it.
 */
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { ArmadaClient } from "../../src/client/armada-client.js";
import { RetryAction } from "../../src/gen/armada/submit.js";
import { ArmadaOperator } from "../../src/operator/armada-operator.js";
import { ArmadaOperatorInputError } from "../../src/operator/errors.js";
import { closeArmadaHookClients } from "../../src/operator/hook.js";
import { DAG } from "../../src/runtime/dag.js";
import { startEnv, type Env } from "./harness.js";

let env: Env | undefined;
afterEach(async () => {
  await env?.stop();
  env = undefined;
});
afterAll(() => closeArmadaHookClients());

/** One node per cluster, so a retry that avoids its first node lands on cluster-2. */
const TWO_CLUSTERS = [
  { id: "cluster-1", nodes: [{ name: "c1-node", cpu: "4", memory: "8Gi" }] },
  { id: "cluster-2", nodes: [{ name: "c2-node", cpu: "2", memory: "8Gi" }] },
];

async function withPolicy(e: Env, rules: Parameters<ArmadaClient["createRetryPolicy"]>[0]) {
  const client = new ArmadaClient(e.channelArgs);
  try {
    await client.createRetryPolicy(rules);
    await client.updateQueue({ name: "test_queue_1", priorityFactor: 1, retryPolicies: [rules.name!] });
  } finally {
    client.close();
  }
}

const moveOnUserError = {
  name: "move-on-user-error",
  retryLimit: 1,
  defaultAction: RetryAction.RETRY_ACTION_FAIL,
  rules: [
    {
      action: RetryAction.RETRY_ACTION_RETRY,
      onCategory: "user_error",
      mutate: { affinity: { avoidSameNode: true } },
    },
  ],
};

function job(script: string) {
  return {
    namespace: "default",
    podSpec: {
      containers: [
        {
          name: "main",
          image: "busybox:1.36",
          command: ["sh", "-c", script],
          resources: { requests: { cpu: "100m", memory: "64Mi" }, limits: { cpu: "100m", memory: "64Mi" } },
        },
      ],
    },
  };
}

describe("ArmadaOperator follows each run Armada makes of its job", () => {
  it.each([false, true])(
    "a job re-run on another cluster: logs of both runs with a marker, the latest run's reason and category (deferrable %s)",
    async (deferrable) => {
      env = await startEnv({ server: { clusters: TWO_CLUSTERS } });
      await withPolicy(env, moveOnUserError);
      const dag = new DAG({ dagId: "rerun" });
      env.operator("rerun", dag, {
        containerLogs: "main",
        deferrable,
        // What is tested is the log of each run. The harness moves its clock in steps while anything sleeps on
        // it; with tracking events (more sleepers and real-time waits) the clock could pass the second run's end
        // and its pod's removal before the task's last read, in most runs. Not understood further yet.
        tracking: "poll",
        pollInterval: 1,
        jobRequest: job("echo run-start && sleep 4 && echo run-end && exit 1"),
      });
      expect(await env.run(dag)).toBe("failed");
      const [rec] = env.server.jobs();
      expect(rec!.runs.map((r) => [r.cluster, r.state])).toEqual([
        ["cluster-1", "FAILED"],
        ["cluster-2", "FAILED"],
      ]);
      const lines = env.logLines("rerun");
      const runLog = ["[main] run-start", "[main] run-end", "[main] container main exited with code 1"];
      const published = lines.filter((l) => l.startsWith("[main] ") || l.startsWith("--- run "));
      // Every line of each run once, in order, the second run announced on its own cluster.
      expect(published).toEqual([...runLog, `--- run 2 of job ${rec!.id} on cluster-2 ---`, ...runLog]);
      // The reason and category are the final run's (the first failed run was retryable, not the end).
      const failure = lines.find((l) => l.includes(`terminated with state 'Failed'`));
      expect(failure).toMatch(/policy retry limit of 1 reached after 2 failed runs/);
      expect(failure).toMatch(/\[failure category: user_error\]/);
      const ctx = (await env.xcom("rerun", "test_run_1", "rerun", "job_context")) as Record<string, unknown>;
      expect(ctx).toMatchObject({
        armada_job_state: "FAILED",
        armada_job_run_id: rec!.runs[1]!.runId,
        armada_job_cluster: "cluster-2",
        armada_job_run_number: 2,
      });
    },
  );

  it("a job whose failed run Armada retries is not taken as failed: the task succeeds with the second run", async () => {
    env = await startEnv();
    await withPolicy(env, {
      name: "oom-bump",
      retryLimit: 1,
      defaultAction: RetryAction.RETRY_ACTION_FAIL,
      rules: [
        {
          action: RetryAction.RETRY_ACTION_RETRY,
          onCategory: "oom",
          mutate: { resources: { memory: { factor: 2 } } },
        },
      ],
    });
    const dag = new DAG({ dagId: "oom" });
    env.operator("oom", dag, {
      containerLogs: "main",
      pollInterval: 1,
      jobRequest: job("dd if=/dev/zero of=/dev/shm/fill bs=1M count=100"),
    });
    expect(await env.run(dag)).toBe("success");
    const [rec] = env.server.jobs();
    expect(rec!.runs.map((r) => r.state)).toEqual(["FAILED", "SUCCEEDED"]);
  });

  it("armadaRetries \"failFast\" submits with Armada's fail-fast annotation: one run, Airflow's retries only", async () => {
    env = await startEnv({ server: { clusters: TWO_CLUSTERS } });
    await withPolicy(env, moveOnUserError);
    const dag = new DAG({ dagId: "fast" });
    env.operator("fast", dag, {
      armadaRetries: "failFast",
      retries: 1,
      retryDelay: 1,
      jobRequest: job("exit 1"),
    });
    expect(await env.run(dag)).toBe("failed");
    const jobs = env.server.jobs();
    // Two tries, two jobs, each run once: Armada never retried.
    expect(jobs).toHaveLength(2);
    for (const j of jobs) {
      expect(j.annotations["armadaproject.io/failFast"]).toBe("true");
      expect(j.runs).toHaveLength(1);
    }
  });

  it("refuses an armadaRetries value it does not know, naming the field", () => {
    const dag = new DAG({ dagId: "bad" });
    expect(
      () =>
        new ArmadaOperator({
          dag,
          taskId: "t",
          name: "t",
          channelArgs: { target: "127.0.0.1:1" },
          armadaQueue: "q",
          jobRequest: job("true"),
          armadaRetries: "never" as never,
        }),
    ).toThrow(ArmadaOperatorInputError);
  });
});
