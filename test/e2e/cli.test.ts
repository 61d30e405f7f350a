/**
 * Through the command line (`armada-airflow dags test` / `resume`) against a
 * dev server: what a user runs. These use real time (the CLI runs on the
 * system clock), with short jobs and no fixed sleeps.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/main.js";
import { killProcesses } from "../support/child-processes.js";
import { spawnSourceCli, type SourceCliProcess } from "../support/source-cli.js";
import { closeArmadaHookClients } from "../../src/operator/hook.js";
import { KyselyStore } from "../../src/runtime/store/kysely-store.js";
import { startDevServer, type DevServer } from "../../src/testing/index.js";
import { waitWhileRunning } from "../support/wait-while-running.js";
import { sleepUntil } from "../support/sleep-until.js";

const root = path.resolve(import.meta.dirname, "../..");
const fixture = (name: string) => path.join(root, "test/e2e/fixtures", name);

let server: DevServer;
let home: string;
const savedEnv = { ...process.env };

beforeAll(async () => {
  server = await startDevServer({ queues: ["default"] });
});
afterAll(async () => {
  closeArmadaHookClients();
  await server.stop();
});
afterEach(async () => {
  // Whatever the outcome, no CLI process (or anything it started) outlives its test.
  await killProcesses();
  process.env = { ...savedEnv };
  if (home) rmSync(home, { recursive: true, force: true });
});

async function useServer(extra: Record<string, string> = {}): Promise<NodeJS.ProcessEnv> {
  home = mkdtempSync(path.join(os.tmpdir(), "aa-cli-"));
  await server.writeKubeconfig(path.join(home, "kubeconfig"));
  Object.assign(process.env, {
    KUBECONFIG: path.join(home, "kubeconfig"),
    ARMADA_TARGET: server.grpcTarget,
    ARMADA_LOOKOUT_URL: server.lookoutUrlTemplate,
    ARMADA_AIRFLOW_HOME: home,
    ...extra,
  });
  return process.env;
}

async function cli(args: string[], env = process.env): Promise<{ code: number; out: string }> {
  let out = "";
  const sink = new Writable({
    write(chunk, _enc, cb) {
      out += String(chunk);
      cb();
    },
  });
  const code = await runCli(args, { stdout: sink, stderr: sink, env, cwd: root });
  return { code, out };
}

function jobsOf(jobSetPrefix: string) {
  return server.jobs().filter((j) => j.jobSetId.startsWith(jobSetPrefix));
}

describe("armada-airflow dags test", () => {
  it("runs the hello example: submit, live state, streamed logs, lookout link, success", async () => {
    await useServer();
    const { code, out } = await cli(["dags", "test", "examples/dags/hello.ts", "--run-id", "cli_hello"]);
    expect(code).toBe(0);
    const [job] = jobsOf("hello-cli_hello");
    expect(job?.state).toBe("SUCCEEDED");
    const link = server.lookoutUrlTemplate.replace("<job_id>", job!.id);
    expect(out).toContain(`Submitted job to Armada with job-id ${job!.id}. Job details available at ${link}`);
    expect(out).toContain(`Armada job ${job!.id} is in state: RUNNING.`);
    expect(out).toContain("[main] Hello from hello in run cli_hello");
    expect(out).toContain("[main] all done");
    expect(out).toMatch(/hello\s+-1\s+success/);
  });

  it("annotates jobs with the ANNOTATION_KEY_PREFIX of the env it is given, not of process.env", async () => {
    const env = { ...(await useServer()), ANNOTATION_KEY_PREFIX: "example.com/" };
    expect(process.env.ANNOTATION_KEY_PREFIX).toBeUndefined();
    const { code, out } = await cli(
      ["dags", "test", "examples/dags/hello.ts", "--run-id", "cli_prefix"],
      env,
    );
    expect(code, out.slice(-2000)).toBe(0);
    const [job] = jobsOf("hello-cli_prefix");
    expect(job?.annotations).toMatchObject({
      "example.com/taskId": "hello",
      "example.com/dagId": "hello",
      "example.com/externalJobUri": "airflow://hello/hello/cli_prefix/-1",
    });
    expect(Object.keys(job!.annotations).filter((k) => k.startsWith("armadaproject.io/"))).toEqual([]);
  });

  it("fails the bad-job example; the last job context says FAILED", async () => {
    await useServer();
    const { code, out } = await cli(["dags", "test", "examples/dags/bad-job.ts", "--run-id", "cli_bad"]);
    expect(code).toBe(1);
    const [job] = jobsOf("cli_bad");
    expect(job?.state).toBe("FAILED");
    expect(out).toContain("[main] about to fail");
    expect(out).toContain(
      `ArmadaOperator job '${job!.id}' in queue 'default' terminated with state 'Failed'.`,
    );
    const store = await KyselyStore.open({ home });
    const rows = await store.listXComs({ dagId: "bad_job", runId: "cli_bad", key: "job_context" });
    await store.close();
    expect(JSON.parse(rows.at(-1)!.value).armada_job_state).toBe("FAILED");
  });

  it("runs the fan-out example: 100 deferred jobs, status checks batched", async () => {
    await useServer();
    const before = server.callCounts().GetJobStatus ?? 0;
    const { code, out } = await cli(["dags", "test", "examples/dags/fan-out.ts", "--run-id", "cli_fan"]);
    expect(code, out.slice(-2000)).toBe(0);
    const jobs = jobsOf("fan-out-cli_fan");
    expect(jobs).toHaveLength(100);
    expect(jobs.every((j) => j.state === "SUCCEEDED")).toBe(true);
    // Unbatched, 100 jobs polled at least twice each would take >= 200 calls. Batched it takes 17-29 on an
    // idle or busy 2-core machine, and 46 was seen with the load average at 12 (tasks start and reach their
    // checks further apart): the bound is half of unbatched, so only a loss of batching fails it.
    expect((server.callCounts().GetJobStatus ?? 0) - before).toBeLessThan(100);
  }, 60_000);

  it("runs the log-link example: the link found in the logs and the templated one are stored", async () => {
    await useServer();
    const { code } = await cli(["dags", "test", "examples/dags/log-link.ts", "--run-id", "cli_link"]);
    expect(code).toBe(0);
    const store = await KyselyStore.open({ home });
    const value = async (key: string) =>
      JSON.parse(
        (await store.listXComs({ dagId: "log_link", runId: "cli_link", key })).at(-1)!.value,
      ) as unknown;
    try {
      expect(await value("armada_dashboard_url")).toBe("https://dashboard.example.com/runs/log_link-42");
      expect(await value("armada_runbook_url")).toBe("https://runbooks.example.com/log_link/cli_link");
      expect(await value("return_value")).toMatchObject({
        links: {
          Dashboard: "https://dashboard.example.com/runs/log_link-42",
          Runbook: "https://runbooks.example.com/log_link/cli_link",
        },
      });
    } finally {
      await store.close();
    }
  });

  for (const [bad, message] of [
    ["policy", /reattachPolicy: Unknown policy type: sometimes/],
    ["channel", /channelArgs: .*target/],
    ["template", /job_request\.podSpec\.containers\[0\]\.image.*'params\.tag' is undefined/],
    ["spec", /job_request\.podSpec\.containers\[0\]\.resources\.requests\.cpu: .*quantity/],
    ["container", /containerLogs: no container named 'sidecar'.*available containers: main/],
  ] as const) {
    it(`bad input (${bad}) is a clear error naming the field; nothing is submitted`, async () => {
      await useServer();
      const before = server.jobs().length;
      const { code, out } = await cli(["dags", "test", fixture(`bad-${bad}.ts`), "--run-id", `bad_${bad}`]);
      expect(code).toBe(1);
      expect(out).toMatch(message);
      expect(server.jobs().length).toBe(before);
    });
  }
});

describe("runner killed mid-wait, then resume", () => {
  let child: SourceCliProcess;

  const cases: { deferrable: boolean; reattach: string; retries: string }[] = [
    { deferrable: true, reattach: "running_or_succeeded", retries: "1" },
    { deferrable: false, reattach: "running_or_succeeded", retries: "1" },
    // The runner's death is not the job's: the same try follows its job whatever the policy and retries.
    { deferrable: false, reattach: "never", retries: "1" },
    { deferrable: false, reattach: "never", retries: "0" },
    { deferrable: true, reattach: "never", retries: "0" },
  ];
  for (const { deferrable, reattach, retries } of cases) {
    it(`follows the same job in the same try, no second submit (${deferrable ? "deferred" : "polling"}, reattach ${reattach}, retries ${retries})`, async () => {
      const env = await useServer({
        FIXTURE_DEFERRABLE: deferrable ? "1" : "0",
        FIXTURE_SLEEP: "8",
        FIXTURE_REATTACH: reattach,
        FIXTURE_RETRIES: retries,
      });
      const runId = `crash_${deferrable}_${reattach}_${retries}`;
      child = spawnSourceCli(["dags", "test", fixture("long-job.ts"), "--run-id", runId], env);
      const store = await KyselyStore.open({ home });
      try {
        const waiting = deferrable ? "deferred" : "running";
        // Ends when the runner has got there; fails at once if it exited first.
        await waitWhileRunning(
          child,
          async () => {
            const job = jobsOf(runId)[0];
            const [ti] = await store.listTaskInstances("long_job", runId);
            return job?.state === "RUNNING" && ti?.state === waiting;
          },
          { what: `job running and task ${waiting}`, budgetMs: 60_000 },
        );
      } finally {
        await store.close();
      }
      child.kill("SIGKILL");
      await child.exited;
      const { code, out } = await cli(["resume", "--run-id", runId]);
      expect(code, out).toBe(0);
      const jobs = jobsOf(runId);
      expect(jobs).toHaveLength(1);
      expect(jobs[0]!.state).toBe("SUCCEEDED");
      expect(out).toContain("[main] finished");
      expect(out).not.toContain("Submitted job to Armada");
      const after = await KyselyStore.open({ home });
      try {
        const [ti] = await after.listTaskInstances("long_job", runId);
        expect([ti?.state, ti?.tryNumber], out).toEqual(["success", 1]);
      } finally {
        await after.close();
      }
    }, 90_000);
  }

  it("a deferred task marked failed while no runner runs: resume cancels its job from XCom (fresh process)", async () => {
    const env = await useServer({ FIXTURE_DEFERRABLE: "1", FIXTURE_SLEEP: "600" });
    const runId = "crash_mark_failed";
    child = spawnSourceCli(["dags", "test", fixture("long-job.ts"), "--run-id", runId], env);
    const store = await KyselyStore.open({ home });
    try {
      await waitWhileRunning(
        child,
        async () => {
          const [ti] = await store.listTaskInstances("long_job", runId);
          return jobsOf(runId)[0]?.state === "RUNNING" && ti?.state === "deferred";
        },
        { what: "job running and task deferred", budgetMs: 60_000 },
      );
    } finally {
      await store.close();
    }
    // The runner dies without cleaning up: the trigger row stays behind.
    child.kill("SIGKILL");
    await child.exited;
    const marked = await cli(["tasks", "mark-failed", "long_job", runId, "long"]);
    expect(marked.code, marked.out).toBe(0);
    expect(jobsOf(runId)[0]!.state).toBe("RUNNING");
    // This process never ran the task: the trigger's cleanup can only know the job from the store.
    const { code, out } = await cli(["resume", "--run-id", runId]);
    expect(code, out).toBe(1);
    const jobs = jobsOf(runId);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]!.state, out).toBe("CANCELLED");
    expect(out).not.toContain("Submitted job to Armada");
  }, 90_000);
});

describe("armada-airflow armada sweep", () => {
  it("cancels a live job whose task instance finished without following it (runner killed between submit and store write)", async () => {
    const env = await useServer({ FAULT_SLEEP: "600", FAULT_RETRIES: "0" });
    const runId = "sweep_after_crash";
    const runner = spawnSourceCli(["dags", "test", fixture("fault-dag.ts"), "--run-id", runId], {
      ...env,
      ARMADA_AIRFLOW_TEST_CRASH_AT: "armada.after-submit",
    });
    await runner.exited;
    expect(runner.signalCode, runner.output()).toBe("SIGKILL");
    const [job] = jobsOf(runId);
    expect(job, "the submit reached the server").toBeDefined();
    // Nobody resumes: the task is marked failed by hand; its job was never written to the store.
    expect((await cli(["tasks", "mark-failed", "faults", runId, "job"])).code).toBe(0);

    const dry = await cli(["armada", "sweep", "--dry-run", "--json"]);
    expect(dry.code, dry.out).toBe(0);
    const listed = JSON.parse(dry.out) as {
      jobId: string;
      action: string;
      taskInstance: string;
      reason: string;
    }[];
    expect(listed).toEqual([
      expect.objectContaining({
        jobId: job!.id,
        action: "would cancel",
        taskInstance: `faults/${runId}/job[-1]`,
        reason: "its task instance is failed",
      }),
    ]);
    expect(server.jobs().find((j) => j.id === job!.id)!.state).not.toBe("CANCELLED");

    const swept = await cli(["armada", "sweep"]);
    expect(swept.code, swept.out).toBe(0);
    expect(swept.out).toMatch(new RegExp(`${job!.id}.*cancelled`));
    await sleepUntil(
      () => server.jobs().find((j) => j.id === job!.id)!.state === "CANCELLED",
      "job cancelled",
      20_000,
    );
    const again = await cli(["armada", "sweep"]);
    expect(again.out).toContain("No live Armada jobs");
  }, 120_000);
});

describe("embedded dev server: kill -9 of the runner, then resume", () => {
  it("comes back with its jobs on the same ports; the same try follows the same job", async () => {
    const h = mkdtempSync(path.join(os.tmpdir(), "aa-embedded-crash-"));
    const env: NodeJS.ProcessEnv = {
      ...savedEnv,
      ARMADA_AIRFLOW_HOME: h,
      FIXTURE_DEFERRABLE: "1",
      FIXTURE_SLEEP: "6",
    };
    delete env.ARMADA_TARGET;
    delete env.ARMADA_LOOKOUT_URL;
    delete env.KUBECONFIG;
    const first = spawnSourceCli(["dags", "test", fixture("long-job.ts"), "--run-id", "embedded_crash"], env);
    const store = await KyselyStore.open({ home: h });
    try {
      // Deferred with its job submitted (the triggerer submits it, after the task deferred).
      await sleepUntil(
        async () =>
          (await store.listTaskInstances("long_job", "embedded_crash"))[0]?.state === "deferred" &&
          (await store.listXComs({ dagId: "long_job", runId: "embedded_crash", key: "job_context" })).length > 0,
        () => `task deferred, its job submitted\n${first.output()}`,
        40_000,
      );
      first.kill("SIGKILL");
      await first.exited;
      const link = /Job details available at (\S+)/.exec(first.output())?.[1];
      expect(link, first.output()).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/jobs\//);
      const resume = spawnSourceCli(["resume", "--run-id", "embedded_crash"], env);
      try {
        const code = await resume.exited;
        const out = resume.output();
        expect(code, out).toBe(0);
        expect(out).not.toContain("Submitted job to Armada");
        expect(out).toContain("[main] finished");
        // The same job, at the same Lookout address as before the crash.
        expect(out).toContain(link);
      } finally {
        resume.kill("SIGKILL");
      }
      const [ti] = await store.listTaskInstances("long_job", "embedded_crash");
      expect([ti?.state, ti?.tryNumber]).toEqual(["success", 1]);
    } finally {
      first.kill("SIGKILL");
      await store.close();
      rmSync(h, { recursive: true, force: true });
    }
  }, 120_000);
});

describe("the hello example with no Armada configured", () => {
  it("starts an embedded dev server and succeeds (what `npm start` runs)", async () => {
    const h = mkdtempSync(path.join(os.tmpdir(), "aa-embedded-"));
    const env: NodeJS.ProcessEnv = { ...savedEnv, ARMADA_AIRFLOW_HOME: h };
    delete env.ARMADA_TARGET;
    const p = spawnSourceCli(["dags", "test", "examples/dags/hello.ts"], env);
    const code = await p.exited;
    rmSync(h, { recursive: true, force: true });
    const text = p.output();
    expect(code, text).toBe(0);
    expect(text).toMatch(
      /Submitted job to Armada with job-id \S+\. Job details available at http:\/\/127\.0\.0\.1:\d+\/jobs\//,
    );
    expect(text).toContain("is in state: RUNNING.");
    expect(text).toMatch(/\[main\] Hello from hello in run manual__/);
    expect(text).toMatch(/hello\s+-1\s+success/);
  }, 60_000);
});
