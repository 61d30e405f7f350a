import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, it } from "vitest";
import { type TaskInstanceState } from "armada-airflow";
import { KyselyStore } from "armada-airflow/store";
import { killProcesses } from "../support/child-processes.js";
import { spawnSourceCli, type SourceCliProcess } from "../support/source-cli.js";
import { waitWhileRunning } from "../support/wait-while-running.js";

const dagFile = path.join(import.meta.dirname, "fixtures/kill-dag.ts");
const tmp = mkdtempSync(path.join(os.tmpdir(), "aa-kill-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function cli(args: string[], home: string, marker: string): SourceCliProcess {
  return spawnSourceCli(args, {
    ...process.env,
    ARMADA_AIRFLOW_HOME: home,
    KILL_MARKER: marker,
    ARMADA_AIRFLOW__CORE__RUNNER_HEARTBEAT_MS: "50",
  });
}

async function states(store: KyselyStore): Promise<Record<string, TaskInstanceState>> {
  return Object.fromEntries((await store.listTaskInstances("killme", "r")).map((t) => [t.taskId, t.state]));
}

/**
 * Both hanging tasks run and the deferred task's trigger is running: a task killed before its trigger runs has
 * no trigger to clean up (as in Airflow), so the kill waits for this.
 */
async function readyToKill(store: KyselyStore, marker: string): Promise<boolean> {
  const s = await states(store);
  return (
    s.hang === "running" &&
    s.hang_retry === "running" &&
    s.deferred === "deferred" &&
    existsSync(`${marker}.trigger-running`)
  );
}

const markers = (file: string) =>
  existsSync(file) ? readFileSync(file, "utf8").trim().split("\n").sort() : [];

describe.concurrent("killing from outside the runner process", () => {
  for (const sig of ["SIGTERM", "SIGINT"] as const) {
    it(
      `${sig} to the runner: onKill for running tasks, trigger cleanup for deferred; FAILED or UP_FOR_RETRY, never success`,
      // Generous for a loaded machine; the waits end on the runner's signals, not on time.
      { timeout: 180_000 },
      async ({ expect, onTestFinished }) => {
        const home = path.join(tmp, sig);
        const marker = path.join(tmp, `${sig}.marks`);
        const runner = cli(["dags", "test", dagFile, "--run-id", "r"], home, marker);
        let store: KyselyStore | undefined;
        // Concurrent tests: each kills its own processes (and their groups), whatever the outcome.
        onTestFinished(async () => {
          await killProcesses([runner]);
          await store?.close();
        });
        await waitWhileRunning(
          runner,
          async () => readyToKill((store ??= await KyselyStore.open({ home })), marker),
          { what: "tasks started and the trigger running" },
        );
        runner.kill(sig);
        expect(await runner.exited).toBe(sig === "SIGINT" ? 130 : 143);
        expect(markers(marker)).toEqual(["cleanup deferred failed", "onKill hang", "onKill hang_retry"]);
        expect(await states(store!)).toEqual({
          hang: "failed",
          hang_retry: "up_for_retry",
          deferred: "failed",
        });
        expect(runner.output()).toContain(`received ${sig}`);
      },
    );
  }

  it(
    "tasks mark-failed and tasks kill from another process",
    { timeout: 180_000 },
    async ({ expect, onTestFinished }) => {
      const home = path.join(tmp, "cli");
      const marker = path.join(tmp, "cli.marks");
      const runner = cli(["dags", "test", dagFile, "--run-id", "r"], home, marker);
      const children = [runner];
      let store: KyselyStore | undefined;
      onTestFinished(async () => {
        await killProcesses(children);
        await store?.close();
      });
      await waitWhileRunning(
        runner,
        async () => readyToKill((store ??= await KyselyStore.open({ home })), marker),
        { what: "tasks started and the trigger running" },
      );
      const c1 = cli(["tasks", "mark-failed", "killme", "r", "hang"], home, marker);
      const c2 = cli(["tasks", "kill", "killme", "r", "deferred"], home, marker);
      const c3 = cli(["tasks", "kill", "killme", "r", "hang_retry"], home, marker);
      children.push(c1, c2, c3);
      expect([await c1.exited, await c2.exited, await c3.exited]).toEqual([0, 0, 0]);
      expect(c1.output()).toContain("Marked hang failed (was running)");
      await waitWhileRunning(runner, () => markers(marker).length === 3, { what: "kills handled" });
      expect(markers(marker)).toEqual(["cleanup deferred failed", "onKill hang", "onKill hang_retry"]);
      const s = await states(store!);
      expect([s.hang, s.deferred, s.hang_retry]).toEqual(["failed", "failed", "up_for_retry"]);
      runner.kill("SIGTERM");
      expect(await runner.exited).toBe(143);
    },
  );
});
