/**
 * The operator against the dev server through the task runner: real gRPC,
 * real pod-log API, one ManualClock for server and runner.
 */
import { status } from "@grpc/grpc-js";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { closeArmadaHookClients } from "../../src/operator/hook.js";
import { ArmadaPollJobTrigger, POLL_JOB_TRIGGER_CLASSPATH } from "../../src/operator/poll-job-trigger.js";
import { DAG } from "../../src/runtime/dag.js";
import { requestTaskKill } from "../../src/runtime/task-commands.js";
import { registerTrigger, type TriggerEvent } from "../../src/runtime/trigger.js";
import { sleepUntil } from "../support/sleep-until.js";
import { startEnv, type Env } from "./harness.js";

let env: Env | undefined;
afterEach(async () => {
  await env?.stop();
  env = undefined;
});
afterAll(() => closeArmadaHookClients());

function count(lines: string[], text: string): number {
  return lines.filter((l) => l === text).length;
}

describe("ArmadaOperator end to end against the dev server", () => {
  it("runs a job to success with streamed logs and the lookout link; the server agrees (case 22)", async () => {
    env = await startEnv();
    const dag = new DAG({ dagId: "hello" });
    env.operator("hello", dag, { containerLogs: "main" });
    expect(await env.run(dag)).toBe("success");
    const jobs = env.server.jobs();
    expect(jobs).toHaveLength(1);
    expect(jobs[0]!.state).toBe("SUCCEEDED");
    const id = jobs[0]!.id;
    const lines = env.logLines("hello");
    const link = env.server.lookoutUrlTemplate.replace("<job_id>", id);
    expect(lines.some((l) => l === `Submitted job to Armada with job-id ${id}. Job details available at ${link}`)).toBe(true);
    expect(count(lines, "[main] hello from hello")).toBe(1);
    expect(count(lines, "[main] bye")).toBe(1);
    expect(lines.some((l) => l.startsWith(`Armada job ${id} is in state: RUNNING.`))).toBe(true);
    const result = (await env.xcom("hello", "test_run_1", "hello", "return_value")) as Record<string, unknown>;
    expect(result).toEqual({
      armada_queue: "test_queue_1",
      job_id: id,
      job_set_id: "test_run_1",
      job_state: "SUCCEEDED",
      links: { lookout: link },
    });
    expect(await env.xcom("hello", "test_run_1", "hello", "armada_lookout_url")).toBe(link);
    // The request carried the external job URI as a field, not only as an annotation.
    expect(jobs[0]!.externalJobUri).toBe("airflow://hello/hello/test_run_1/-1");
  });

  it("streams every log line exactly once across polls, deferrals and resumes", async () => {
    env = await startEnv();
    const dag = new DAG({ dagId: "logs" });
    const script = Array.from({ length: 6 }, (_, i) => `echo line-${i} && echo extra-${i} && sleep 1.5`).join(" && ");
    env.operator("logs", dag, {
      containerLogs: "main",
      deferrable: true,
      pollInterval: 1,
      jobRequest: {
        podSpec: {
          containers: [
            { name: "main", image: "busybox", command: ["sh", "-c", script], resources: { requests: { cpu: "100m", memory: "64Mi" } } },
          ],
        },
      },
    });
    expect(await env.run(dag)).toBe("success");
    const lines = env.logLines("logs");
    const published = lines.filter((l) => l.startsWith("[main] line-") || l.startsWith("[main] extra-"));
    expect(published).toEqual(Array.from({ length: 6 }, (_, i) => [`[main] line-${i}`, `[main] extra-${i}`]).flat());
    // It really was spread over several resumes.
    expect(lines.filter((l) => l.startsWith("Resuming logs after deferral")).length).toBeGreaterThanOrEqual(3);
  });

  it("fails a bad job; the last job context says FAILED and the server agrees (case 23)", async () => {
    env = await startEnv();
    const dag = new DAG({ dagId: "bad" });
    env.operator("bad", dag, {
      containerLogs: "main",
      jobRequest: {
        podSpec: {
          containers: [
            {
              name: "main",
              image: "busybox:1.36",
              command: ["sh", "-c", "echo oops && exit 3"],
              resources: { requests: { cpu: "100m", memory: "64Mi" } },
            },
          ],
        },
      },
    });
    expect(await env.run(dag)).toBe("failed");
    const [job] = env.server.jobs();
    expect(job!.state).toBe("FAILED");
    const ctx = (await env.xcom("bad", "test_run_1", "bad", "job_context")) as Record<string, unknown>;
    expect(ctx.armada_job_state).toBe("FAILED");
    expect(ctx.armada_job_id).toBe(job!.id);
    const lines = env.logLines("bad");
    expect(lines.some((l) => l.includes(`ArmadaOperator job '${job!.id}' in queue 'test_queue_1' terminated with state 'Failed'.`))).toBe(true);
    expect(count(lines, "[main] oops")).toBe(1);
  });

  it("REJECTED is fatal: no retry even with retries left", async () => {
    env = await startEnv();
    const dag = new DAG({ dagId: "rejected" });
    env.operator("rej", dag, {
      retries: 2,
      retryDelay: 1,
      // An invalid container name is refused before submitting now; a duration
      // the dev server cannot parse is a refusal only the server makes.
      jobRequest: {
        annotations: { "armada-airflow.dev/duration": "Not_A_Dns_Name" },
        podSpec: {
          containers: [{ name: "main", image: "busybox", resources: { requests: { cpu: "100m" }, limits: { cpu: "100m" } } }],
        },
      },
    });
    expect(await env.run(dag)).toBe("failed");
    const jobs = env.server.jobs();
    expect(jobs).toHaveLength(1);
    expect(jobs[0]!.state).toBe("REJECTED");
    const tries = await env.store.listTaskTries({ dagId: "rejected", runId: "test_run_1", taskId: "rej", mapIndex: -1 });
    expect(tries).toHaveLength(1);
    expect(env.logLines("rej").some((l) => /terminated with state 'Rejected'\. Termination reason: .*Not_A_Dns_Name/.test(l))).toBe(true);
  });

  it("a preempted job fails the try retryably; the retry submits a new job and succeeds", async () => {
    env = await startEnv();
    const dag = new DAG({ dagId: "preempt" });
    env.operator("p", dag, { retries: 1, retryDelay: 1 });
    const server = env.server;
    let preempted = false;
    const watcher = setInterval(() => {
      const running = server.jobs().find((j) => j.state === "RUNNING");
      if (!preempted && running) {
        preempted = true;
        server.faults.preemptJob(running.id, "node drained");
      }
    }, 1);
    try {
      expect(await env.run(dag)).toBe("success");
    } finally {
      clearInterval(watcher);
    }
    const jobs = env.server.jobs();
    expect(jobs.map((j) => j.state)).toEqual(["PREEMPTED", "SUCCEEDED"]);
    expect(env.logLines("p").some((l) => l.includes("terminated with state 'Preempted'"))).toBe(true);
  });

  it("cancels a job the query API never acknowledges (large ingestion delay)", async () => {
    env = await startEnv({ server: { ingestionDelayMs: 3_600_000 } });
    const dag = new DAG({ dagId: "ack" });
    env.operator("ack", dag, {
      jobAcknowledgementTimeout: 10,
      jobRequest: {
        podSpec: {
          containers: [
            { name: "main", image: "busybox", args: ["sleep", "600"], resources: { requests: { cpu: "100m", memory: "64Mi" } } },
          ],
        },
      },
    });
    expect(await env.run(dag)).toBe("failed");
    const [job] = env.server.jobs();
    expect(job!.state).toBe("CANCELLED");
    const lines = env.logLines("ack");
    expect(lines.some((l) => l === `Armada job with job-id: ${job!.id} not acknowledged within timeout (10), terminating`)).toBe(true);
    expect(lines.some((l) => l.includes("terminated with state 'Cancelled'"))).toBe(true);
  });

  it("survives transient UNAVAILABLE answers while polling", async () => {
    env = await startEnv();
    const dag = new DAG({ dagId: "flaky" });
    env.operator("flaky", dag);
    env.server.faults.failNext("GetJobStatus", 2, status.UNAVAILABLE, "server restarting");
    expect(await env.run(dag)).toBe("success");
    expect(env.server.jobs()).toHaveLength(1);
    expect(env.server.callCounts().GetJobStatus).toBeGreaterThanOrEqual(3);
  });

  it("never duplicates a job when SubmitJobs times out after the server accepted it", async () => {
    // The client gives up after 300 ms of real time while the server, whose
    // clock stands still, holds the call; then the server creates the job.
    env = await startEnv({ hook: { deadlineMs: 300, submitLookupGraceMs: 3_600_000 } });
    env.server.faults.latency("SubmitJobs", 1_000);
    const e = env;
    e.flowing = false;
    const dag = new DAG({ dagId: "dup" });
    e.operator("dup", dag);
    const watcher = setInterval(() => {
      if (e.logLines("dup").some((l) => l.startsWith("SubmitJobs outcome unknown"))) e.flowing = true;
    }, 1);
    try {
      expect(await e.run(dag)).toBe("success");
    } finally {
      clearInterval(watcher);
    }
    expect(e.server.callCounts().SubmitJobs).toBe(1);
    expect(e.server.jobs()).toHaveLength(1);
    expect(e.logLines("dup").some((l) => /^Found job \S+ created by the submission whose outcome was unknown/.test(l))).toBe(true);
  });
});

describe("killing a task cancels its Armada job", () => {
  const longJob = {
    podSpec: {
      containers: [{ name: "main", image: "busybox", args: ["sleep", "3600"], resources: { requests: { cpu: "100m", memory: "64Mi" } } }],
    },
  };

  for (const deferrable of [false, true]) {
    it(`tasks kill while the job runs (${deferrable ? "deferred" : "polling"}) cancels it`, async () => {
      const e = (env = await startEnv());
      const dag = new DAG({ dagId: "killme" });
      e.operator("k", dag, { jobRequest: longJob, deferrable });
      const { requestTaskKill } = await import("../../src/runtime/task-commands.js");
      // Killed while the task waits (deferred in its trigger, or polling);
      // a kill between the trigger firing and the resume has its own test below.
      const key = { dagId: "killme", runId: "test_run_1", taskId: "k", mapIndex: -1 };
      const waiting = deferrable ? "deferred" : "running";
      const settled = async () => {
        // Let a trigger event already in flight land before looking.
        for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
        return (await e.store.getTaskInstance(key))?.state;
      };
      const killer = (async () => {
        for (;;) {
          await sleepUntil(() => e.server.jobs()[0]?.state === "RUNNING", "job running");
          // Time stands still while we look and ask, so no trigger fires in between.
          e.flowing = false;
          try {
            if ((await settled()) === waiting && (await settled()) === waiting) {
              await requestTaskKill(e.store, key);
              // The runner notices the request at its next pass; keep time
              // still until it has acted, so the trigger cannot fire first.
              await sleepUntil(async () => (await e.store.getTaskInstance(key))?.state !== waiting, "kill handled");
              return;
            }
          } finally {
            e.flowing = true;
          }
          await new Promise((r) => setTimeout(r, 1));
        }
      })();
      const [state] = await Promise.all([e.run(dag), killer]);
      expect(state).toBe("failed");
      const jobs = e.server.jobs();
      expect(jobs).toHaveLength(1);
      expect(jobs[0]!.state, e.logLines("k").join("\n")).toBe("CANCELLED");
      if (!deferrable) {
        expect(e.logLines("k").some((l) => l.startsWith(`on_kill called, cancelling Armada job with job-id ${jobs[0]!.id}`))).toBe(true);
      }
    });
  }
});

describe("killed after its trigger fired, before it resumed", () => {
  it("the runner calls the operator's onKill once and the job ends CANCELLED on the server", async () => {
    const e = (env = await startEnv());
    const key = { dagId: "kill_fired", runId: "test_run_1", taskId: "k", mapIndex: -1 };
    // The poll trigger, but once the job runs, `tasks kill` lands as it
    // fires: after the trigger is done, before the task resumes. Deterministic,
    // unlike racing the runner from outside.
    class KillAsItFires extends ArmadaPollJobTrigger {
      override async *run(): AsyncIterable<TriggerEvent> {
        for await (const event of super.run()) {
          if (e.server.jobs()[0]?.state === "RUNNING") await requestTaskKill(e.store, key);
          yield event;
        }
      }
    }
    registerTrigger(POLL_JOB_TRIGGER_CLASSPATH, (kwargs) => new KillAsItFires(String(kwargs.moment)));
    try {
      const dag = new DAG({ dagId: "kill_fired" });
      e.operator("k", dag, {
        deferrable: true,
        jobRequest: {
          podSpec: {
            containers: [{ name: "main", image: "busybox", args: ["sleep", "3600"], resources: { requests: { cpu: "100m", memory: "64Mi" } } }],
          },
        },
      });
      expect(await e.run(dag)).toBe("failed");
    } finally {
      registerTrigger(POLL_JOB_TRIGGER_CLASSPATH, (kwargs) => new ArmadaPollJobTrigger(String(kwargs.moment)));
    }
    const jobs = e.server.jobs();
    expect(jobs).toHaveLength(1);
    const lines = e.logLines("k");
    expect(jobs[0]!.state, lines.join("\n")).toBe("CANCELLED");
    expect(lines.filter((l) => l.startsWith(`on_kill called, cancelling Armada job with job-id ${jobs[0]!.id}`))).toHaveLength(1);
    expect(lines).toContain("Kill requested (tasks kill) before the task could resume");
    expect((await e.store.getTaskInstance(key))?.state).toBe("failed");
  });
});

describe("credentials that expire", () => {
  it("uses a refreshed Armada token for later calls and the log token retriever over a stale kubeconfig token", async () => {
    const { KubeConfig } = await import("@kubernetes/client-node");
    const { TokenRetrieverAuth } = await import("../../src/client/token-retriever-auth.js");
    const { GrpcChannelArgs } = await import("../../src/client/channel-args.js");
    const { requestTaskKill } = await import("../../src/runtime/task-commands.js");
    const tls = (f: string) => new URL(`../devserver/fixtures/tls/${f}`, import.meta.url).pathname;
    const e = (env = await startEnv({
      server: {
        auth: { bearerTokens: ["token-one", "token-two"] },
        kubeToken: "kube-fresh",
        tls: { certFile: tls("server.crt"), keyFile: tls("server.key") },
      },
    }));
    const start = e.clock.nowMs();
    const handedOut: string[] = [];
    // Like an OIDC retriever: the first token expires after 20 s and is replaced.
    const retriever = {
      getToken: () => {
        const token = e.clock.nowMs() - start < 20_000 ? "token-one" : "token-two";
        handedOut.push(token);
        return token;
      },
    };
    const stale = new KubeConfig();
    stale.loadFromString(e.server.kubeconfig().split("kube-fresh").join("expired-kube-token"));
    const dag = new DAG({ dagId: "tokens" });
    e.operator("tok", dag, {
      channelArgs: new GrpcChannelArgs({
        target: e.server.grpcTarget,
        auth: new TokenRetrieverAuth(retriever),
        tls: { caFile: tls("ca.crt") },
      }),
      kubeConfig: stale,
      k8sTokenRetriever: { getToken: () => "kube-fresh" },
      containerLogs: "main",
      jobRequest: {
        podSpec: {
          containers: [
            {
              name: "main",
              image: "busybox",
              command: ["sh", "-c", "echo tick && sleep 3600"],
              resources: { requests: { cpu: "100m", memory: "64Mi" } },
            },
          ],
        },
      },
    });
    let killed = false;
    let killError: unknown;
    const watcher = setInterval(() => {
      if (!killed && e.clock.nowMs() - start > 40_000) {
        killed = true;
        requestTaskKill(e.store, { dagId: "tokens", runId: "test_run_1", taskId: "tok", mapIndex: -1 }).catch((err: unknown) => {
          killError = err;
        });
      }
    }, 1);
    try {
      expect(await e.run(dag)).toBe("failed");
    } finally {
      clearInterval(watcher);
    }
    expect(killError).toBeUndefined();
    const [job] = e.server.jobs();
    expect(job!.owner).toBe("token-1");
    expect(job!.state).toBe("CANCELLED");
    expect(job!.cancelUser).toBe("token-2");
    expect(handedOut).toContain("token-two");
    expect(e.logLines("tok").filter((l) => l === "[main] tick")).toHaveLength(1);
  });
});
