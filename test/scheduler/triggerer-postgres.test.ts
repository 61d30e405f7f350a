/**
 * `armada-airflow scheduler --no-triggerer` with separate `armada-airflow
 * triggerer` processes on one PostgreSQL, running deferrable Armada tasks on
 * a dev server: the scheduler runs no trigger itself, a triggerer fires them,
 * and a triggerer killed with SIGKILL has its triggers taken over by the next.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { KyselyStore } from "armada-airflow/store";
import { spawnSourceCli } from "../support/source-cli.js";
import { waitWhileRunning } from "../support/wait-while-running.js";
import { postgresFleet } from "./postgres-fleet.js";
import { armadaFleetDag } from "./support.js";

const fleet = postgresFleet("aa-trig-pg-");

const WIDTH = 6;

describe("triggerers on PostgreSQL", () => {
  it(
    "scheduler --no-triggerer + triggerer: every task SUCCESS, one job per try; a triggerer killed with SIGKILL has its triggers taken over",
    { timeout: 240_000 },
    async () => {
      const db = await fleet.pg.createDatabase("trig_split");
      const dags = path.join(fleet.root, "dags");
      const home = path.join(fleet.root, "home");
      mkdirSync(dags);
      mkdirSync(home);
      const start = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_600_000).toISOString();
      writeFileSync(
        path.join(dags, "split.mts"),
        armadaFleetDag({
          dagId: "split",
          // Ends where it starts: one run, even when the hour turns while the test runs.
          schedule: `schedule: { every: "1h" }, startDate: ${JSON.stringify(start)}, endDate: ${JSON.stringify(start)}, catchup: true`,
          width: WIDTH,
          sleepS: 6,
        }),
      );
      const env = fleet.env(home, { ARMADA_AIRFLOW__TRIGGERER__POLL_INTERVAL_S: "0.2" });
      const scheduler = spawnSourceCli(
        ["scheduler", "--no-triggerer", "--dags-folder", dags, "--db", db],
        env,
      );
      const first = spawnSourceCli(["triggerer", "--db", db], env);
      await Promise.all([
        scheduler.waitForOutput("[scheduler] ready"),
        first.waitForOutput("[triggerer] ready"),
      ]);
      expect(scheduler.output()).toContain("no triggerer");
      const store = await KyselyStore.open({ url: db, home });
      try {
        const firstId = /\[triggerer\] ready: triggerer (\S+),/.exec(first.output())![1]!;
        // The first triggerer holds the triggers of deferred tasks (waiting on their Armada jobs).
        await waitWhileRunning(first, async () => (await store.listTriggersHeldBy(firstId)).length > 0, {
          what: "triggers held by the first triggerer",
        });
        first.kill("SIGKILL");
        await first.exited;
        const second = spawnSourceCli(["triggerer", "--db", db], env);
        await second.waitForOutput("[triggerer] ready");
        await waitWhileRunning(
          second,
          async () =>
            (await store.listDagRuns({ dagId: "split", states: ["success", "failed"] })).length === 1,
          { what: "the run finished" },
        );
        const [run] = await store.listDagRuns({ dagId: "split" });
        expect(run!.state).toBe("success");
        const tis = await store.listTaskInstances("split", run!.runId);
        expect(tis.map((t) => [t.mapIndex, t.state, t.tryNumber])).toEqual(
          Array.from({ length: WIDTH }, (_, i) => [i, "success", 1]),
        );
        const jobs = fleet.server.jobs().filter((j) => j.jobSetId === run!.runId);
        expect(jobs.map((j) => j.externalJobUri).sort()).toEqual(
          tis.map((t) => `airflow://split/job/${run!.runId}/${t.mapIndex}`).sort(),
        );
        // The triggers ended their tasks in the triggerers (the jobs succeeded: end_from_trigger), never in the
        // scheduler, which resumed none.
        expect(second.output()).toMatch(/\[triggerer\] trigger ended split \S+ job\[\d+\] as success/);
        expect(scheduler.output()).not.toMatch(/fired trigger|trigger ended/);
        expect(await store.listTriggers({ dagId: "split" })).toEqual([]);
        // Both stop cleanly on SIGTERM (exit code 143, as the CLI's for a signal).
        second.kill("SIGTERM");
        scheduler.kill("SIGTERM");
        expect(await Promise.all([second.exited, scheduler.exited])).toEqual([143, 143]);
        expect(second.output()).toContain("[triggerer] stopped");
      } finally {
        await store.close();
      }
    },
  );
});
