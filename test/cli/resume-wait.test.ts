import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { KyselyStore } from "armada-airflow/store";
import { sleepUntil } from "../support/sleep-until.js";
import { spawnSourceCli, type SourceCliProcess } from "../support/source-cli.js";

/** `resume` while the run's runner still looks alive: it waits (bounded) instead of exiting 0 having done nothing. */
const dagFile = path.join(import.meta.dirname, "../runtime/fixtures/crash-dag.ts");
const home = mkdtempSync(path.join(os.tmpdir(), "aa-resume-wait-"));
const release = path.join(home, "release");
const children: SourceCliProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill("SIGKILL");
  rmSync(home, { recursive: true, force: true });
});

function cli(args: string[]): SourceCliProcess {
  const child = spawnSourceCli(args, {
    ...process.env,
    ARMADA_AIRFLOW_HOME: home,
    ARMADA_AIRFLOW__CORE__RUNNER_HEARTBEAT_MS: "50",
    CRASH_HOLD: "first",
    CRASH_RELEASE_FILE: release,
  });
  children.push(child);
  return child;
}

describe("armada-airflow resume --wait", () => {
  it("skips a live runner's run with --wait 0, fails after the wait while it lives, resumes once it is killed", async () => {
    const runner = cli(["dags", "test", dagFile, "--run-id", "r1"]);
    const store = await KyselyStore.open({ home });
    try {
      await sleepUntil(
        async () =>
          (await store.listTaskInstances("crash", "r1")).some(
            (t) => t.taskId === "first" && t.state === "running",
          ),
        `first task running\n${runner.output()}`,
        60_000,
      );
      const skip = cli(["resume", "--wait", "0"]);
      expect(await skip.exited, skip.output()).toBe(0);
      expect(skip.output()).toMatch(/Skipping crash r1: runner \S+ is still alive/);

      const waited = cli(["resume", "--wait", "1"]);
      expect(await waited.exited, waited.output()).toBe(1);
      expect(waited.output()).toMatch(/Waiting up to 1s for runner/);
      expect(waited.output()).toMatch(/Not resuming crash r1: runner \S+ is still alive after 1s/);

      runner.kill("SIGKILL");
      writeFileSync(release, "");
      // Right after the kill: resume waits for the runner to be gone, then takes the run.
      const resumed = cli(["resume", "--wait", "60"]);
      expect(await resumed.exited, resumed.output()).toBe(0);
      expect((await store.getDagRun("crash", "r1"))!.state).toBe("success");
    } finally {
      await store.close();
    }
  }, 180_000);
});
