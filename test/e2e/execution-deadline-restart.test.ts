/**
 * `executionTimeout` is one deadline for the whole try, anchored on its
 * start, across deferrals and a runner restart (issue 14): a deferrable
 * Armada task whose job can never leave QUEUED (it asks for a GPU; the dev
 * server has none) defers once, and its trigger checks in every
 * `[armada_operator] max_quiet_s` without resuming the task; its runner is
 * killed with SIGKILL while it is deferred, `resume` takes it over, and at
 * the deadline the job is cancelled and the try fails with the timeout,
 * counted from try 1's start.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { KyselyStore } from "../../src/runtime/store/kysely-store.js";
import { startDevServer, type DevServer } from "../../src/testing/index.js";
import { killProcesses } from "../support/child-processes.js";
import { spawnSourceCli } from "../support/source-cli.js";

const dagFile = path.join(import.meta.dirname, "fixtures/fault-dag.ts");
const tmp = mkdtempSync(path.join(os.tmpdir(), "aa-deadline-"));
let server: DevServer;
beforeAll(async () => {
  server = await startDevServer({ queues: ["default"] });
});
afterEach(() => killProcesses());
afterAll(async () => {
  await server?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const DEADLINE_S = 45;

describe("executionTimeout across deferrals and a runner restart", () => {
  it(
    "a job stuck in QUEUED: deferred, checked in on without resumes, kill -9 while deferred, resume; at the deadline from try 1's start the job is cancelled and the try fails",
    { timeout: 240_000 },
    async () => {
      const home = path.join(tmp, "home");
      const runId = "deadline_1";
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        ARMADA_TARGET: server.grpcTarget,
        ARMADA_AIRFLOW_HOME: home,
        ARMADA_AIRFLOW__CORE__RUNNER_HEARTBEAT_MS: "100",
        // The trigger checks in after 3 s of an unchanged job (the default is 300 s).
        ARMADA_AIRFLOW__ARMADA_OPERATOR__MAX_QUIET_S: "3",
        FAULT_DEFERRABLE: "1",
        FAULT_RETRIES: "0",
        FAULT_EXECUTION_TIMEOUT_S: String(DEADLINE_S),
      };
      const runner = spawnSourceCli(["dags", "test", dagFile, "--run-id", runId], {
        ...env,
        // Once the trigger has submitted the job and found it QUEUED: the task is deferred, its job known.
        ARMADA_AIRFLOW_TEST_CRASH_AT: "armada.polling:1",
      });
      await runner.exited;
      expect(runner.signalCode, runner.output()).toBe("SIGKILL");
      const [job] = server.jobs().filter((j) => j.jobSetId === runId);
      expect(job?.state, "the job waits for a GPU").toBe("QUEUED");

      const resume = spawnSourceCli(["resume", "--run-id", runId, "--wait", "30"], env);
      expect(await resume.exited, resume.output()).toBe(1);

      const store = await KyselyStore.open({ home });
      try {
        const [ti] = await store.listTaskInstances("faults", runId);
        expect([ti!.state, ti!.tryNumber]).toEqual(["failed", 1]);
        const tries = await store.listTaskTries({ dagId: "faults", runId, taskId: "job", mapIndex: -1 });
        expect(tries).toHaveLength(1);
        expect(tries[0]!.error).toContain(
          `timed out after ${DEADLINE_S} seconds (executionTimeout, counted from the start of try 1)`,
        );
        // Anchored on the try's start, not restarted by the deferrals or by the restart.
        expect(ti!.endMs! - ti!.startMs!).toBeGreaterThanOrEqual(DEADLINE_S * 1000);
        const logs = (await store.listLogs({ dagId: "faults", runId, taskId: "job", mapIndex: -1 })).map(
          (l) => l.message,
        );
        const deferrals = logs.filter((m) => m.startsWith("Pausing task as DEFERRED"));
        const resumes = logs.filter((m) => m.startsWith("Resuming job after deferral"));
        const checkIns = logs.filter((m) => m.startsWith(`Armada job ${job!.id} is still in state: QUEUED`));
        // One deferral at most (its line can go with the runner killed at it); the quiet check-ins (of the
        // trigger `resume` took over) never resumed the task.
        expect([deferrals.length <= 1, resumes.length, checkIns.length >= 3], logs.join("\n")).toEqual([
          true,
          0,
          true,
        ]);
        expect(logs.at(-1)).toMatch(/^Marking task as FAILED/);
        expect(logs).toContain(
          "on_kill called, cancelling Armada job with job-id " + job!.id + " in queue default",
        );
        // The job was cancelled (by onKill at the deadline), none other submitted.
        const jobs = server.jobs().filter((j) => j.jobSetId === runId);
        expect(jobs.map((j) => j.state)).toEqual(["CANCELLED"]);
      } finally {
        await store.close();
      }
    },
  );
});
