import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, it } from "vitest";
import { KyselyStore, type TaskInstanceRow, type TransitionKind } from "armada-airflow/store";
import { spawnSourceCli, type SourceCliProcess } from "../support/source-cli.js";

/**
 * kill -9 inside the transaction of each kind of task outcome (the store
 * kills the process after the transition's first statement): nothing of the
 * transition may be committed, the stored state stays consistent, and
 * `resume` finishes the run as if nothing had happened.
 */
const dagFile = path.join(import.meta.dirname, "fixtures/transition-dag.ts");
const tmp = mkdtempSync(path.join(os.tmpdir(), "aa-txn-crash-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const children = new Set<SourceCliProcess>();
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});

function cli(args: string[], home: string, extraEnv: NodeJS.ProcessEnv = {}): SourceCliProcess {
  const child = spawnSourceCli(args, {
    ...process.env,
    ARMADA_AIRFLOW_HOME: home,
    ARMADA_AIRFLOW__CORE__RUNNER_HEARTBEAT_MS: "50",
    ...extraEnv,
  });
  children.add(child);
  return child;
}

const kinds: TransitionKind[] = [
  "start",
  "retry",
  "success",
  "skipped",
  "defer",
  "fire",
  "resume",
  "end",
  "fail",
];

/** The try row state that goes with a task instance state. */
const tryStateOf = (ti: TaskInstanceRow) => (ti.state === "scheduled" ? "deferred" : ti.state);

describe.concurrent("crash safety: kill -9 inside a task outcome's transaction", () => {
  it.for(kinds)(
    "commits nothing of a %s transition killed half-way",
    { timeout: 120_000 },
    async (kind, { expect }) => {
      const home = path.join(tmp, kind);
      const runner = cli(["dags", "test", dagFile, "--run-id", "r1"], home, {
        ARMADA_AIRFLOW_TEST_KILL_IN_TRANSITION: `${kind}:1`,
      });
      // The store kills the process itself: the exit is by SIGKILL, not an error.
      await runner.exited;
      expect(runner.signalCode, runner.output()).toBe("SIGKILL");

      const store = await KyselyStore.open({ home });
      try {
        const tis = await store.listTaskInstances("transitions", "r1");
        const triggers = await store.listTriggers({ dagId: "transitions", runId: "r1" });
        for (const ti of tis) {
          const label = `${ti.taskId} (${ti.state}, try ${ti.tryNumber})`;
          const tries = await store.listTaskTries(ti);
          // No try row beyond the task instance's try; the current try's row agrees with it.
          expect(Math.max(0, ...tries.map((t) => t.tryNumber)), label).toBeLessThanOrEqual(ti.tryNumber);
          const current = tries.find((t) => t.tryNumber === ti.tryNumber);
          if (ti.tryNumber > 0 && ti.state !== "none" && ti.state !== "upstream_failed") {
            expect(current?.state, label).toBe(tryStateOf(ti));
          }
          // A deferral has exactly its one trigger; nothing else has one.
          const own = triggers.filter((t) => t.taskId === ti.taskId && t.mapIndex === ti.mapIndex);
          expect(own.length, label).toBe(ti.state === "deferred" ? 1 : 0);
        }

        const resume = cli(["resume", "--json"], home);
        expect(await resume.exited, resume.output()).toBe(0);
        expect((await store.getDagRun("transitions", "r1"))!.state).toBe("success");
        const after = new Map(
          (await store.listTaskInstances("transitions", "r1")).map((t) => [t.taskId, t.state]),
        );
        expect(Object.fromEntries(after)).toEqual({
          after_doomed: "success",
          doomed: "failed",
          flaky: "success",
          last: "success",
          sense: "success",
          skip: "skipped",
          wait: "success",
        });
        expect(await store.listTriggers({ dagId: "transitions", runId: "r1" })).toEqual([]);
      } finally {
        await store.close();
      }
    },
  );
});
