import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, it } from "vitest";
import { KyselyStore, type TaskInstanceRow } from "armada-airflow/store";
import { killProcesses } from "../support/child-processes.js";
import { spawnSourceCli, type SourceCliProcess } from "../support/source-cli.js";
import { waitWhileRunning } from "../support/wait-while-running.js";

const dagFile = path.join(import.meta.dirname, "fixtures/crash-dag.ts");
const tmp = mkdtempSync(path.join(os.tmpdir(), "aa-crash-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The CLI from source in a subprocess, with its own home. */
function cli(args: string[], home: string, extraEnv: NodeJS.ProcessEnv = {}): SourceCliProcess {
  return spawnSourceCli(args, {
    ...process.env,
    ARMADA_AIRFLOW_HOME: home,
    ARMADA_AIRFLOW__CORE__RUNNER_HEARTBEAT_MS: "50",
    ...extraEnv,
  });
}

type Snapshot = Map<string, TaskInstanceRow>;
const key = (t: TaskInstanceRow) => `${t.taskId}[${t.mapIndex}]`;

/**
 * Kill points: conditions on the stored state at which the runner gets
 * SIGKILL, and the DAG phase held open (see crash-dag.ts) when the state is
 * only passing through.
 */
const killPoints: [string, (tis: TaskInstanceRow[]) => boolean, string?][] = [
  ["first task running", (tis) => tis.some((t) => t.taskId === "first" && t.state === "running"), "first"],
  ["first task done", (tis) => tis.some((t) => t.taskId === "first" && t.state === "success")],
  [
    "mapped tasks running",
    (tis) => tis.filter((t) => t.taskId === "mapped" && t.state === "running").length >= 2,
    "mapped",
  ],
  ["task deferred", (tis) => tis.some((t) => t.taskId === "wait" && t.state === "deferred"), "deferred"],
  ["some mapped done", (tis) => tis.some((t) => t.taskId === "mapped" && t.state === "success")],
  [
    "trigger fired",
    (tis) =>
      tis.some(
        (t) =>
          t.taskId === "wait" &&
          (t.state === "scheduled" || (t.state === "running" && t.nextMethod !== null)),
      ),
    "done",
  ],
  ["sum started", (tis) => tis.some((t) => t.taskId === "sum" && t.state === "running"), "sum"],
];

describe.concurrent("crash safety: kill -9 of the runner, then resume", () => {
  it.for(killPoints)(
    "loses nothing when killed at: %s",
    // Generous: on a loaded machine start-up alone can take many seconds. The waits
    // below end on the runner's own signals (its stored state, its exit), not on time.
    { timeout: 180_000 },
    async ([name, when, hold], { expect, onTestFinished }) => {
      const home = path.join(tmp, name.replace(/\W+/g, "-"));
      const release = path.join(tmp, `${name.replace(/\W+/g, "-")}.release`);
      const holdEnv = hold ? { CRASH_HOLD: hold, CRASH_RELEASE_FILE: release } : {};
      const runner = cli(["dags", "test", dagFile, "--run-id", "r1"], home, holdEnv);
      let store: KyselyStore | undefined;
      const children = [runner];
      // Concurrent tests: each kills its own processes (and their groups), whatever the outcome.
      onTestFinished(async () => {
        await killProcesses(children);
        await store?.close();
      });
      await waitWhileRunning(
        runner,
        async () => {
          store ??= await KyselyStore.open({ home });
          return when(await store.listTaskInstances("crash", "r1"));
        },
        { what: `kill point "${name}"`, budgetMs: 120_000 },
      );
      runner.kill("SIGKILL");
      expect(await runner.exited).toBeNull();
      const before: Snapshot = new Map(
        (await store!.listTaskInstances("crash", "r1")).map((t) => [key(t), t]),
      );

      writeFileSync(release, "");
      const resume = cli(["resume", "--json"], home, holdEnv);
      children.push(resume);
      const code = await resume.exited;
      expect(code, resume.output()).toBe(0);
      const after: Snapshot = new Map(
        (await store!.listTaskInstances("crash", "r1")).map((t) => [key(t), t]),
      );
      expect((await store!.getDagRun("crash", "r1"))!.state).toBe("success");
      expect([...after.keys()].sort()).toEqual([
        "first[-1]",
        "mapped[0]",
        "mapped[1]",
        "mapped[2]",
        "mapped[3]",
        "sum[-1]",
        "wait[-1]",
      ]);
      for (const [k, t] of after) {
        expect(t.state, k).toBe("success");
        const b = before.get(k);
        if (!b) continue;
        if (b.state === "success") {
          // Finished tasks stay finished: not run again.
          expect([t.tryNumber, t.endMs], k).toEqual([b.tryNumber, b.endMs]);
        } else if (b.state === "running" && b.nextMethod === null) {
          // A running try is failed into the next try (an operator can reattach there).
          expect(t.tryNumber, k).toBe(b.tryNumber + 1);
          const tries = await store!.listTaskTries(t);
          expect(tries[b.tryNumber - 1]!.state, k).toBe("up_for_retry");
          expect(tries[b.tryNumber - 1]!.error, k).toContain("stopped (crash or kill -9)");
        } else if (b.state === "deferred" || b.state === "scheduled") {
          // A deferred task resumes from its trigger on the same try.
          expect(t.tryNumber, k).toBe(b.tryNumber);
        }
      }
      const wait = await store!.listXComs({
        dagId: "crash",
        runId: "r1",
        taskIds: ["wait"],
        key: "return_value",
      });
      const waitTi = after.get("wait[-1]")!;
      expect(JSON.parse(wait.find((x) => x.tryNumber === waitTi.tryNumber)!.value)).toEqual({
        resumedOnTry: waitTi.tryNumber,
        before: waitTi.tryNumber,
      });
      const sum = await store!.listXComs({
        dagId: "crash",
        runId: "r1",
        taskIds: ["sum"],
        key: "return_value",
      });
      expect(sum.at(-1)!.value).toBe("10");
      expect(await store!.listTriggers()).toEqual([]);
    },
  );
});
