/**
 * The crash-recovery fault matrix: a runner (a real process) is killed with
 * SIGKILL at each step of an Armada task's life (the code under test kills
 * itself at a named crash point, see src/common/crash-point.ts), then
 * `armada-airflow resume` runs in a new process. From the dev server's own
 * records it asserts: one job per task instance (no duplicate), no live job
 * left, and each task's state is its job's outcome, reached in the same try
 * (the runner's death is not the job's failure).
 *
 * `npm test` runs a pairwise subset covering every crash point and every
 * value of every dimension; `npm run test:faults` (ARMADA_AIRFLOW_FAULTS=all)
 * runs the whole matrix, on SQLite and PostgreSQL.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { KyselyStore } from "../../src/runtime/store/kysely-store.js";
import { startDevServer, type DevServer } from "../../src/testing/index.js";
import { startPostgres, type PostgresServer } from "../runtime/postgres-server.js";
import { spawnSourceCli, type SourceCliProcess } from "../support/source-cli.js";

type Point =
  | "armada.before-submit"
  | "armada.after-submit"
  | "armada.polling"
  | "runner.deferred"
  | "runner.fired"
  | "armada.resumed";

interface FaultCase {
  point: Point;
  deferrable: boolean;
  retries: 0 | 2;
  reattach: "never" | "running_or_succeeded";
  tasks: 1 | 100;
  db: "sqlite" | "postgres";
}

const DEFERRED_ONLY: ReadonlySet<Point> = new Set(["runner.deferred", "runner.fired", "armada.resumed"]);
const POINTS: Point[] = [
  "armada.before-submit",
  "armada.after-submit",
  "armada.polling",
  "runner.deferred",
  "runner.fired",
  "armada.resumed",
];

function fullMatrix(): FaultCase[] {
  const out: FaultCase[] = [];
  for (const point of POINTS)
    for (const deferrable of [true, false])
      for (const retries of [0, 2] as const)
        for (const reattach of ["never", "running_or_succeeded"] as const)
          for (const tasks of [1, 100] as const)
            for (const db of ["sqlite", "postgres"] as const) {
              if (!deferrable && DEFERRED_ONLY.has(point)) continue;
              out.push({ point, deferrable, retries, reattach, tasks, db });
            }
  return out;
}

/**
 * Every crash point once per mode it exists in, the other dimensions
 * rotated so that each of their values appears with each mode.
 */
function pairwise(): FaultCase[] {
  const out: FaultCase[] = [];
  let i = 0;
  for (const deferrable of [true, false]) {
    for (const point of POINTS) {
      if (!deferrable && DEFERRED_ONLY.has(point)) continue;
      out.push({
        point,
        deferrable,
        retries: i % 2 === 0 ? 0 : 2,
        reattach: Math.floor(i / 2) % 2 === 0 ? "never" : "running_or_succeeded",
        tasks: i % 3 === 1 ? 100 : 1,
        db: i % 4 === 3 ? "postgres" : "sqlite",
      });
      i++;
    }
  }
  return out;
}

const cases = process.env.ARMADA_AIRFLOW_FAULTS === "all" ? fullMatrix() : pairwise();
const dagFile = path.join(import.meta.dirname, "fixtures/fault-dag.ts");
const tmp = mkdtempSync(path.join(os.tmpdir(), "aa-faults-"));
const children = new Set<SourceCliProcess>();
let server: DevServer;
let pgServer: PostgresServer | undefined;
let counter = 0;

beforeAll(async () => {
  server = await startDevServer({ queues: ["default"] });
  if (cases.some((c) => c.db === "postgres")) pgServer = await startPostgres();
}, 120_000);
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await server?.stop();
  await pgServer?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const TERMINAL = new Set(["SUCCEEDED", "FAILED", "CANCELLED", "PREEMPTED", "REJECTED"]);
const label = (c: FaultCase) =>
  `${c.point} (${c.deferrable ? "deferrable" : "polling"}, retries ${c.retries}, reattach ${c.reattach}, ${c.tasks} task${c.tasks > 1 ? "s" : ""}, ${c.db})`;

describe.concurrent("crash recovery fault matrix: kill -9 of the runner, then resume", () => {
  it.for(cases.map((c) => [label(c), c] as const))("%s", { timeout: 240_000 }, async ([, c], { expect }) => {
    const id = ++counter;
    const home = path.join(tmp, `case-${id}`);
    const runId = `faults_${id}`;
    const db = c.db === "postgres" ? await pgServer!.createDatabase(`faults${id}`) : undefined;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ARMADA_TARGET: server.grpcTarget,
      ARMADA_LOOKOUT_URL: server.lookoutUrlTemplate,
      ARMADA_AIRFLOW_HOME: home,
      ARMADA_AIRFLOW__CORE__RUNNER_HEARTBEAT_MS: "100",
      ARMADA_AIRFLOW__ARMADA_OPERATOR__SUBMIT_LOOKUP_GRACE_S: "3",
      FAULT_TASKS: String(c.tasks),
      FAULT_RETRIES: String(c.retries),
      FAULT_DEFERRABLE: c.deferrable ? "1" : "0",
      FAULT_REATTACH: c.reattach,
      ...(db ? { ARMADA_AIRFLOW__DATABASE__URL: db } : {}),
    };
    const spawnCli = (args: string[], extra: NodeJS.ProcessEnv = {}) => {
      const child = spawnSourceCli(args, { ...env, ...extra });
      children.add(child);
      return child;
    };
    // Mid-way through a fan-out: some tasks are past the point, others not yet there.
    const nth = c.tasks > 1 ? 50 : 1;
    const runner = spawnCli(["dags", "test", dagFile, "--run-id", runId], {
      ARMADA_AIRFLOW_TEST_CRASH_AT: `${c.point}:${nth}`,
    });
    await runner.exited;
    expect(runner.signalCode, `the runner must die at ${c.point}\n${runner.output()}`).toBe("SIGKILL");

    const resume = spawnCli(["resume", "--run-id", runId, "--wait", "30"]);
    const code = await resume.exited;
    expect(code, resume.output()).toBe(0);

    const store = await KyselyStore.open({ home, url: db });
    try {
      const tis = await store.listTaskInstances("faults", runId);
      expect(tis).toHaveLength(c.tasks);
      const jobs = server.jobs().filter((j) => j.jobSetId === runId);
      // Nothing left running that no task follows.
      expect(jobs.filter((j) => !TERMINAL.has(j.state)).map((j) => `${j.id} ${j.state}`)).toEqual([]);
      const byUri = new Map<string, typeof jobs>();
      for (const j of jobs) byUri.set(j.externalJobUri, [...(byUri.get(j.externalJobUri) ?? []), j]);
      // Every job belongs to a task instance of this run.
      expect(byUri.size, `jobs: ${jobs.map((j) => j.externalJobUri).join(", ")}`).toBe(c.tasks);
      for (const ti of tis) {
        const own = byUri.get(`airflow://faults/job/${runId}/${ti.mapIndex}`) ?? [];
        const where = `${ti.taskId}[${ti.mapIndex}] ${ti.state} try ${ti.tryNumber}; jobs ${own.map((j) => `${j.id}:${j.state}`).join(", ")}`;
        // One job, followed to its end by the same try; the task's state is the job's outcome.
        expect(own.length, where).toBe(1);
        expect([ti.state, own[0]!.state, ti.tryNumber], where).toEqual(["success", "SUCCEEDED", 1]);
      }
      expect((await store.getDagRun("faults", runId))!.state).toBe("success");
    } finally {
      await store.close();
    }
  });
});
