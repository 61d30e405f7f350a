/**
 * Two runner processes (`armada-airflow resume`, one run each) on one
 * PostgreSQL share a pool of 1 slot: at no moment do two tasks run, and each
 * process is seen waiting for the slot the other holds. The tasks mark
 * themselves running in a folder and wait for the test's release file, so
 * an overlap would be seen by the task that starts second.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { KyselyStore } from "armada-airflow/store";
import { killProcesses } from "../support/child-processes.js";
import { runSourceCli, spawnSourceCli } from "../support/source-cli.js";
import { waitWhileRunning } from "../support/wait-while-running.js";
import { startPostgres, type PostgresServer } from "../runtime/postgres-server.js";
import { srcIndex } from "./support.js";

let pg: PostgresServer | undefined;
const root = mkdtempSync(path.join(os.tmpdir(), "aa-pools-pg-"));
beforeAll(async () => {
  // No skipping: without PostgreSQL binaries this fails with the reason.
  pg = await startPostgres();
}, 120_000);
afterEach(async () => {
  await killProcesses();
});
afterAll(async () => {
  await pg?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe("pools on PostgreSQL", () => {
  it(
    "two runner processes share a pool of 1: one task at a time in all, each process waits for the other's slot",
    { timeout: 240_000 },
    async () => {
      const db = await pg!.createDatabase("pools_two");
      const home = path.join(root, "home");
      const marks = path.join(root, "marks");
      for (const d of [home, path.join(marks, "running"), path.join(marks, "release")])
        mkdirSync(d, { recursive: true });
      const file = path.join(root, "shared.mts");
      writeFileSync(
        file,
        `import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { BaseOperator, DAG, type Context } from ${JSON.stringify(srcIndex)};
const marks = ${JSON.stringify(marks)};
class Marked extends BaseOperator {
  async execute(ctx: Context) {
    const me = ctx.runId + "." + ctx.ti.taskId;
    writeFileSync(marks + "/running/" + me, String(process.pid));
    const others = readdirSync(marks + "/running").filter((f) => f !== me);
    if (others.length > 0) writeFileSync(marks + "/overlap", me + " ran with " + others.join(","));
    // Held until the test releases it (the test polls the running folder to know who runs).
    while (!existsSync(marks + "/release/" + me)) await new Promise((r) => setTimeout(r, 20));
    rmSync(marks + "/running/" + me);
    return me;
  }
}
export const dag = new DAG({ dagId: "shared" });
new Marked({ taskId: "a", dag, pool: "one" });
new Marked({ taskId: "b", dag, pool: "one" });
`,
      );
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        ARMADA_AIRFLOW_HOME: home,
        ARMADA_AIRFLOW__CORE__RUNNER_HEARTBEAT_MS: "50",
      };
      const cli = async (args: string[]) => {
        const r = await runSourceCli([...args, "--db", db], env);
        expect(r.code, r.output).toBe(0);
        return r;
      };
      await cli(["pools", "set", "one", "1"]);
      await cli(["dags", "trigger", file, "--run-id", "r1"]);
      await cli(["dags", "trigger", file, "--run-id", "r2"]);
      const runners = ["r1", "r2"].map((runId) =>
        spawnSourceCli(["resume", "--run-id", runId, "--db", db], env),
      );
      const running = () => readdirSync(path.join(marks, "running"));
      const released: string[] = [];
      const store = await KyselyStore.open({ url: db, home });
      try {
        // The process to watch is one whose run still has a task the test has not released: it cannot exit
        // before running that task (the other may have finished its run and exited meanwhile).
        const runOver = (i: number) => ["a", "b"].every((t) => released.includes(`r${i + 1}.${t}`));
        for (let n = 0; n < 4; n++) {
          // One read of the folder per look: between two reads a released task may take its mark away.
          let me: string | undefined;
          await waitWhileRunning(
            runOver(0) ? runners[1]! : runners[0]!,
            () => {
              const now = running();
              me = now.length === 1 && !released.includes(now[0]!) ? now[0] : undefined;
              return me !== undefined;
            },
            {
              what: `task ${n + 1} of 4 running`,
            },
          );
          if (n === 0) {
            // Both processes tried a task and were refused: the one holding the slot for its second task,
            // the other for the slot held in another process.
            for (const r of runners) await r.waitForOutput("Waiting for a slot in pool one (1/1 used)");
            const tis = [
              ...(await store.listTaskInstances("shared", "r1")),
              ...(await store.listTaskInstances("shared", "r2")),
            ];
            expect(tis.filter((t) => t.state === "running").map((t) => `${t.runId}.${t.taskId}`)).toEqual([
              me,
            ]);
            expect(tis.find((t) => t.state === "running")).toMatchObject({ pool: "one", poolSlots: 1 });
          }
          released.push(me!);
          writeFileSync(path.join(marks, "release", me!), "");
        }
        expect(await Promise.all(runners.map((r) => r.exited))).toEqual([0, 0]);
        expect(existsSync(path.join(marks, "overlap"))).toBe(false);
        expect(released.sort()).toEqual(["r1.a", "r1.b", "r2.a", "r2.b"]);
        for (const runId of ["r1", "r2"]) {
          expect((await store.getDagRun("shared", runId))?.state).toBe("success");
          const tis = await store.listTaskInstances("shared", runId);
          expect(tis.map((t) => [t.taskId, t.state, t.tryNumber])).toEqual([
            ["a", "success", 1],
            ["b", "success", 1],
          ]);
        }
      } finally {
        await store.close();
      }
    },
  );
});
