/**
 * Three `armada-airflow scheduler` processes on one PostgreSQL, running
 * deferrable Armada tasks on a dev server; one is killed with SIGKILL while
 * it drives a run. Every run is created once, every task ends once in its
 * first try, and the dev server saw exactly one job per task.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { KyselyStore } from "armada-airflow/store";
import type { TrackedChild } from "../support/child-processes.js";
import { spawnSourceCli } from "../support/source-cli.js";
import { waitWhileRunning } from "../support/wait-while-running.js";
import { postgresFleet } from "./postgres-fleet.js";
import { armadaFleetDag } from "./support.js";

const fleet = postgresFleet("aa-sched-pg-");

const WIDTH = 6;
const RUNS = 3;

describe("schedulers on PostgreSQL", () => {
  it(
    "three schedulers, one killed with SIGKILL mid-run: runs created once, each task ends once, one job per task",
    { timeout: 240_000 },
    async () => {
      const db = await fleet.pg.createDatabase("sched_multi");
      const dags = path.join(fleet.root, "dags");
      const home = path.join(fleet.root, "home");
      mkdirSync(dags);
      mkdirSync(home);
      const startMs = Math.floor(Date.now() / 3_600_000) * 3_600_000 - RUNS * 3_600_000;
      const start = new Date(startMs).toISOString();
      // Ends at the last run's logical date: an hour that turns while the test runs adds no run.
      const end = new Date(startMs + (RUNS - 1) * 3_600_000).toISOString();
      writeFileSync(
        path.join(dags, "fleet.mts"),
        armadaFleetDag({
          dagId: "fleet",
          schedule: `schedule: { every: "1h" }, startDate: ${JSON.stringify(start)}, endDate: ${JSON.stringify(end)}, catchup: true`,
          width: WIDTH,
          sleepS: 4,
        }),
      );
      const env = fleet.env(home);
      const schedulers: TrackedChild[] = [];
      for (let i = 0; i < 3; i++)
        schedulers.push(spawnSourceCli(["scheduler", "--dags-folder", dags, "--db", db], env));
      await Promise.all(schedulers.map((s) => s.waitForOutput("[scheduler] ready")));
      const store = await KyselyStore.open({ url: db, home });
      try {
        // The victim: a scheduler driving a run whose tasks are deferred (waiting on their Armada jobs).
        let victim: TrackedChild | undefined;
        await waitWhileRunning(
          schedulers[0]!,
          async () => {
            for (const run of await store.listDagRuns({ dagId: "fleet", states: ["running"] })) {
              const deferred = await store.listTaskInstancesInStates("fleet", run.runId, ["deferred"]);
              const pid = Number(run.runnerId?.split(":")[1]);
              victim = schedulers.find((s) => s.pid === pid);
              if (deferred.length > 0 && victim) return true;
            }
            return false;
          },
          { what: "a run with deferred tasks" },
        );
        victim!.kill("SIGKILL");
        await victim!.exited;
        const survivors = schedulers.filter((s) => s !== victim);
        await waitWhileRunning(
          survivors[0]!,
          async () =>
            (await store.listDagRuns({ dagId: "fleet", states: ["success", "failed"] })).length === RUNS,
          { what: `${RUNS} finished runs` },
        );
        const runs = await store.listDagRuns({ dagId: "fleet" });
        expect(runs.map((r) => [r.runType, r.state])).toEqual(
          Array.from({ length: RUNS }, () => ["scheduled", "success"]),
        );
        expect(new Set(runs.map((r) => r.logicalDateMs)).size).toBe(RUNS);
        expect(runs.map((r) => new Date(r.logicalDateMs).toISOString())).toEqual(
          Array.from({ length: RUNS }, (_, i) => new Date(Date.parse(start) + i * 3_600_000).toISOString()),
        );
        const uris: string[] = [];
        for (const run of runs) {
          const tis = await store.listTaskInstances("fleet", run.runId);
          expect(tis.map((t) => [t.mapIndex, t.state, t.tryNumber])).toEqual(
            Array.from({ length: WIDTH }, (_, i) => [i, "success", 1]),
          );
          for (const t of tis) uris.push(`airflow://fleet/job/${run.runId}/${t.mapIndex}`);
        }
        const jobs = fleet.server.jobs();
        expect(jobs.map((j) => j.externalJobUri).sort()).toEqual(uris.sort());
        expect(survivors.some((s) => /Taking over DAG run fleet/.test(s.output()))).toBe(true);
        // The survivors stop cleanly on SIGTERM (exit code 143, as the CLI's for a signal).
        for (const s of survivors) s.kill("SIGTERM");
        expect(await Promise.all(survivors.map((s) => s.exited))).toEqual([143, 143]);
        for (const s of survivors) expect(s.output()).toContain("[scheduler] stopped");
      } finally {
        await store.close();
      }
    },
  );
});
