/**
 * Armada's retry engine on the dev server, through the public client:
 * `RetryPolicyService` CRUD, queues naming a policy, and failed runs retried
 * (a new run of the same job id) or failed for good by the policy's rules.
 */
import { afterEach, describe, expect, it } from "vitest";
import { status } from "@grpc/grpc-js";
import { ArmadaClient, ArmadaError, GrpcChannelArgs } from "../../src/client/index.js";
import { ManualClock } from "../../src/common/clock.js";
import type { JobFailedEvent } from "../../src/gen/armada/event.js";
import { JobState, RetryAction, type DeepPartial, type RetryPolicy } from "../../src/gen/armada/submit.js";
import { startDevServer, type DevServer, type DevServerOptions } from "armada-airflow/testing";
import { sleepUntil } from "../support/sleep-until.js";

const TERMINAL = new Set([JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.REJECTED]);

let server: DevServer | undefined;
let client: ArmadaClient | undefined;
afterEach(async () => {
  client?.close();
  await server?.stop();
  server = client = undefined;
});

async function start(options: DevServerOptions = {}) {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  server = await startDevServer({ clock, queues: [], ...options });
  client = new ArmadaClient(new GrpcChannelArgs({ target: server.grpcTarget }));
  return { clock, server, client };
}

const retryUserErrors: DeepPartial<RetryPolicy> = {
  name: "retry-user-errors",
  retryLimit: 2,
  defaultAction: RetryAction.RETRY_ACTION_FAIL,
  rules: [{ action: RetryAction.RETRY_ACTION_RETRY, onCategory: "user_error" }],
};

function item(script: string, memory = "64Mi", annotations: Record<string, string> = {}) {
  return {
    namespace: "default",
    annotations,
    podSpec: {
      restartPolicy: "Never",
      containers: [
        {
          name: "main",
          image: "busybox:1.36",
          command: ["sh", "-c", script],
          resources: { requests: { cpu: "100m", memory }, limits: { cpu: "100m", memory } },
        },
      ],
    },
  };
}

/** Submits one job, moves the clock until it ends, and returns what the API says of it. */
async function runToEnd(
  env: Awaited<ReturnType<typeof start>>,
  queue: string,
  jobItem: ReturnType<typeof item>,
  jobSetId = "set",
) {
  const { clock, client: c } = env;
  const res = await c.submitJobs({ queue, jobSetId, jobRequestItems: [jobItem] });
  const id = res.jobResponseItems[0]!.jobId;
  let state = JobState.UNKNOWN;
  await sleepUntil(async () => {
    clock.advance(250);
    state = (await c.getJobStatus({ jobIds: [id] })).jobStates[id]!;
    return TERMINAL.has(state);
  }, `job ${id} ends`);
  const events = [];
  for await (const e of c.getJobSetEvents({ queue, id: jobSetId, watch: false })) {
    const ev = e.message?.events;
    if (ev && (ev.value as { jobId?: string }).jobId === id) events.push(ev);
  }
  const details = (await c.getJobDetails({ jobIds: [id], expandJobRun: true, expandJobSpec: true }))
    .jobDetails[id]!;
  const error = (await c.getJobErrors({ jobIds: [id] })).jobErrors[id];
  return { id, state, events, details, error };
}

function failedEvents(events: { $case: string; value: unknown }[]): JobFailedEvent[] {
  return events.filter((e) => e.$case === "failed").map((e) => e.value as JobFailedEvent);
}

describe("RetryPolicyService on the dev server", () => {
  it("creates, reads, lists, updates and deletes policies, with the real server's refusals", async () => {
    const { client: c } = await start();
    await c.createRetryPolicy(retryUserErrors);
    await c.createRetryPolicy({
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
    expect((await c.getRetryPolicy({ name: "retry-user-errors" })).retryLimit).toBe(2);
    expect((await c.getRetryPolicies()).retryPolicies.map((p) => p.name)).toEqual([
      "oom-bump",
      "retry-user-errors",
    ]);

    const code = async (p: Promise<unknown>) => {
      try {
        await p;
        return "accepted";
      } catch (err) {
        return `${(err as ArmadaError).codeName}: ${(err as ArmadaError).message}`;
      }
    };
    expect(await code(c.createRetryPolicy(retryUserErrors))).toMatch(/^ALREADY_EXISTS: .*already exists/);
    expect(await code(c.createRetryPolicy({ name: "no-default", rules: [] }))).toMatch(
      /^INVALID_ARGUMENT: .*default_action must be RETRY_ACTION_FAIL or RETRY_ACTION_RETRY/,
    );
    expect(
      await code(
        c.createRetryPolicy({
          name: "sub-only",
          defaultAction: RetryAction.RETRY_ACTION_FAIL,
          rules: [{ action: RetryAction.RETRY_ACTION_RETRY, onSubcategory: "x" }],
        }),
      ),
    ).toMatch(/^INVALID_ARGUMENT: .*rules\[0\]\.on_subcategory needs on_category/);
    expect(
      await code(
        c.createRetryPolicy({
          name: "bad-bump",
          defaultAction: RetryAction.RETRY_ACTION_FAIL,
          rules: [
            {
              action: RetryAction.RETRY_ACTION_RETRY,
              onCategory: "oom",
              mutate: { resources: { memory: { factor: 0.5 } } },
            },
          ],
        }),
      ),
    ).toMatch(/^INVALID_ARGUMENT: .*memory\.factor must exceed 1\.0/);
    expect(await code(c.updateRetryPolicy({ ...retryUserErrors, name: "nope" }))).toMatch(/^NOT_FOUND/);

    await c.updateRetryPolicy({ ...retryUserErrors, retryLimit: 4 });
    expect((await c.getRetryPolicy({ name: "retry-user-errors" })).retryLimit).toBe(4);

    // A queue carries its policy names; a policy in use cannot be deleted.
    await c.createQueue({ name: "rq", priorityFactor: 1, retryPolicies: ["retry-user-errors"] });
    expect((await c.getQueue({ name: "rq" })).retryPolicies).toEqual(["retry-user-errors"]);
    expect(await code(c.deleteRetryPolicy({ name: "retry-user-errors" }))).toMatch(
      /^FAILED_PRECONDITION: .*still used by queue\(s\) rq/,
    );
    await c.updateQueue({ name: "rq", priorityFactor: 1, retryPolicies: [] });
    await c.deleteRetryPolicy({ name: "retry-user-errors" });
    expect(await code(c.getRetryPolicy({ name: "retry-user-errors" }))).toMatch(/^NOT_FOUND/);
    expect(server!.callCounts().GetRetryPolicy).toBe(3);
  });

  it("retries a failed run as a new run of the same job, up to the policy's retry limit", async () => {
    const env = await start();
    await env.client.createRetryPolicy(retryUserErrors);
    await env.client.createQueue({ name: "rq", priorityFactor: 1, retryPolicies: ["retry-user-errors"] });
    const r = await runToEnd(env, "rq", item("echo attempt && exit 1"));

    expect(r.state).toBe(JobState.FAILED);
    // Three runs (the first and two retries), each with its own run id, all of one job id.
    expect(r.details.jobRuns).toHaveLength(3);
    expect(new Set(r.details.jobRuns.map((x) => x.runId)).size).toBe(3);
    expect(r.details.latestRunId).toBe(r.details.jobRuns.at(-1)!.runId);
    // The events a real server emits: a retryable failed event per retried run, then the final one.
    expect(r.events.map((e) => e.$case)).toEqual([
      "submitted",
      "queued",
      ...["leased", "pending", "running", "failed"],
      ...["leased", "pending", "running", "failed"],
      ...["leased", "pending", "running", "failed"],
    ]);
    expect(failedEvents(r.events).map((f) => [f.retryable, f.failureCategory])).toEqual([
      [true, "user_error"],
      [true, "user_error"],
      [false, "user_error"],
    ]);
    expect(r.error).toMatch(
      /exit code 1.*; Retry policy retry-user-errors: policy retry limit of 2 reached after 3 failed runs/,
    );
    expect(server!.jobs()[0]!.runs.map((x) => x.state)).toEqual(["FAILED", "FAILED", "FAILED"]);
  });

  it("fails at once when no rule matches and the default is Fail, for a fail-fast job, and with the global cap at 0", async () => {
    const env = await start();
    await env.client.createRetryPolicy(retryUserErrors);
    await env.client.createQueue({ name: "rq", priorityFactor: 1, retryPolicies: ["retry-user-errors"] });
    // Exit code 3 is in no category: `uncategorized`, which no rule names.
    const other = await runToEnd(env, "rq", item("exit 3"), "s1");
    expect(other.details.jobRuns).toHaveLength(1);
    expect(failedEvents(other.events).map((f) => [f.retryable, f.failureCategory])).toEqual([
      [false, "uncategorized"],
    ]);
    expect(other.error).toMatch(/Retry policy retry-user-errors: default action is Fail/);
    // Armada's fail-fast annotation bypasses the engine.
    const fast = await runToEnd(
      env,
      "rq",
      item("exit 1", "64Mi", { "armadaproject.io/failFast": "true" }),
      "s2",
    );
    expect(fast.details.jobRuns).toHaveLength(1);
    expect(failedEvents(fast.events)[0]!.retryable).toBe(false);
    // A queue without a policy never retries.
    await env.client.createQueue({ name: "plain", priorityFactor: 1 });
    expect((await runToEnd(env, "plain", item("exit 1"), "s3")).details.jobRuns).toHaveLength(1);
  });

  it("a gang of two is not retried, as Armada's engine leaves gangs alone", async () => {
    const env = await start();
    await env.client.createRetryPolicy(retryUserErrors);
    await env.client.createQueue({ name: "rq", priorityFactor: 1, retryPolicies: ["retry-user-errors"] });
    const gang = { "armadaproject.io/gangId": "g1", "armadaproject.io/gangCardinality": "2" };
    const res = await env.client.submitJobs({
      queue: "rq",
      jobSetId: "gang",
      jobRequestItems: [item("exit 1", "64Mi", gang), item("exit 1", "64Mi", gang)],
    });
    const ids = res.jobResponseItems.map((r) => r.jobId);
    await sleepUntil(async () => {
      env.clock.advance(250);
      const s = (await env.client.getJobStatus({ jobIds: ids })).jobStates;
      return ids.every((id) => TERMINAL.has(s[id]!));
    }, "gang ends");
    const d = (await env.client.getJobDetails({ jobIds: ids, expandJobRun: true })).jobDetails;
    expect(ids.map((id) => [d[id]!.state, d[id]!.jobRuns.length])).toEqual([
      [JobState.FAILED, 1],
      [JobState.FAILED, 1],
    ]);
  });

  it("globalMaxRetries 0 turns every retry off", async () => {
    const env = await start({ globalMaxRetries: 0 });
    await env.client.createRetryPolicy(retryUserErrors);
    await env.client.createQueue({ name: "rq", priorityFactor: 1, retryPolicies: ["retry-user-errors"] });
    const r = await runToEnd(env, "rq", item("exit 1"));
    expect(r.details.jobRuns).toHaveLength(1);
    expect(r.error).toMatch(/global retry limit of 0 reached/);
  });

  it("an OOM retried with memory doubled succeeds on its second run", async () => {
    const env = await start();
    await env.client.createRetryPolicy({
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
    await env.client.createQueue({ name: "rq", priorityFactor: 1, retryPolicies: ["oom-bump"] });
    // 100 MiB into tmpfs: over a 64Mi limit, within 128Mi.
    const r = await runToEnd(env, "rq", item("dd if=/dev/zero of=/dev/shm/fill bs=1M count=100"));
    expect(r.state).toBe(JobState.SUCCEEDED);
    expect(r.details.jobRuns.map((x) => x.state)).toHaveLength(2);
    expect(failedEvents(r.events).map((f) => [f.retryable, f.failureCategory, f.reason])).toEqual([
      [true, "oom", expect.stringMatching(/OOMKilled/)],
    ]);
    const limits = r.details.jobSpec!.podSpec!.containers[0]!.resources!.limits.memory!.string;
    expect(Number(limits)).toBe(128 * 1024 * 1024);
  });

  it("avoidSameNode sends the retry to another cluster; each run's pod log is on its own cluster", async () => {
    const env = await start({
      clusters: [
        { id: "cluster-1", nodes: [{ name: "c1-node", cpu: "2", memory: "4Gi" }] },
        { id: "cluster-2", nodes: [{ name: "c2-node", cpu: "1", memory: "4Gi" }] },
      ],
    });
    await env.client.createRetryPolicy({
      name: "move",
      retryLimit: 1,
      defaultAction: RetryAction.RETRY_ACTION_FAIL,
      rules: [
        {
          action: RetryAction.RETRY_ACTION_RETRY,
          onCategory: "user_error",
          mutate: { affinity: { avoidSameNode: true } },
        },
      ],
    });
    await env.client.createQueue({ name: "rq", priorityFactor: 1, retryPolicies: ["move"] });
    const r = await runToEnd(env, "rq", item("echo on my node && exit 1"));
    expect(r.details.jobRuns.map((x) => [x.cluster, x.node])).toEqual([
      ["cluster-1", "c1-node"],
      ["cluster-2", "c2-node"],
    ]);
    const leased = r.events
      .filter((e) => e.$case === "leased")
      .map((e) => (e.value as { clusterId: string }).clusterId);
    expect(leased).toEqual(["cluster-1", "cluster-2"]);
    const log = async (cluster: string) => {
      const res = await fetch(
        `${server!.httpUrl}/clusters/${cluster}/api/v1/namespaces/default/pods/armada-${r.id}-0/log?container=main&timestamps=true`,
        { headers: { authorization: `Bearer ${server!.kubeToken}` } },
      );
      return res.ok ? await res.text() : `HTTP ${res.status}`;
    };
    const [one, two] = [await log("cluster-1"), await log("cluster-2")];
    expect(one).toMatch(/^\S+ on my node\n\S+ container main exited with code 1\n$/);
    expect(two).toMatch(/^\S+ on my node\n\S+ container main exited with code 1\n$/);
    // Two pods, two runs: the second run's line was written later.
    expect(Date.parse(two.split(" ")[0]!)).toBeGreaterThan(Date.parse(one.split(" ")[0]!));
    expect(await log("cluster-3")).toBe("HTTP 404");
  });

  it("a retry that can no longer fit any node fails for good, saying why", async () => {
    const env = await start({
      clusters: [{ id: "cluster-1", nodes: [{ name: "only", cpu: "2", memory: "4Gi" }] }],
    });
    await env.client.createRetryPolicy({
      name: "move",
      retryLimit: 3,
      defaultAction: RetryAction.RETRY_ACTION_FAIL,
      rules: [
        {
          action: RetryAction.RETRY_ACTION_RETRY,
          onCategory: "user_error",
          mutate: { affinity: { avoidSameNode: true } },
        },
      ],
    });
    await env.client.createQueue({ name: "rq", priorityFactor: 1, retryPolicies: ["move"] });
    const r = await runToEnd(env, "rq", item("exit 1"));
    expect(r.details.jobRuns).toHaveLength(1);
    expect(r.error).toMatch(/fits no node once the nodes of earlier runs \(cluster-1\/only\) are avoided/);
  });

  it("keeps retry policies across a restart with a state file", async () => {
    const { mkdtempSync, rmSync } = await import("node:fs");
    const os = await import("node:os");
    const path = await import("node:path");
    const dir = mkdtempSync(path.join(os.tmpdir(), "aa-retry-"));
    try {
      const env = await start({ statePath: path.join(dir, "state.db") });
      await env.client.createRetryPolicy(retryUserErrors);
      await env.server.restart();
      expect((await env.client.getRetryPolicy({ name: "retry-user-errors" })).rules[0]!.onCategory).toBe(
        "user_error",
      );
    } finally {
      client?.close();
      await server?.stop();
      server = client = undefined;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("answers a missing policy with NOT_FOUND", async () => {
    const { client: c } = await start();
    await expect(c.getRetryPolicy({ name: "missing" })).rejects.toMatchObject({ code: status.NOT_FOUND });
  });
});
