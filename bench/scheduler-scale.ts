/**
 * Scheduler benchmark (`npm run bench:scheduler`, and part of `npm run bench`):
 * BENCH_SCHED_DAGS (1,000) scheduled DAGs of one task each, due at once, run
 * by one and by three `armada-airflow scheduler` processes (the built
 * command) sharing one PostgreSQL. Each DAG has an hourly schedule whose
 * start and end date are the same past hour (with catch-up), so each gets
 * exactly one run, also when the hour turns during the benchmark.
 *
 * Reports per scheduler count: time from spawn to every scheduler ready
 * (loading the DAGs folder), DAG runs created per second and tasks finished
 * per second (from the first to the last), and checks every run was created
 * once and every task ended SUCCESS once. Figures, not assertions: a loaded
 * machine changes them, so no test depends on them.
 *
 * Environment: BENCH_SCHED_DAGS (1000), BENCH_SCHEDULERS ("1,3").
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { startPostgres } from "../test/runtime/postgres-server.js";
import { buildOnce } from "./runtime-scale.js";

const DAGS = Number(process.env.BENCH_SCHED_DAGS ?? 1000);
const PER_FILE = 100;
const repoRoot = path.resolve(import.meta.dirname, "..");

const dagFileSource = (first: number, count: number, startIso: string) => `
import { BaseOperator, DAG } from "armada-airflow";
class Noop extends BaseOperator {
  async execute(): Promise<number> {
    return 1;
  }
}
for (let i = ${first}; i < ${first + count}; i++) {
  const dag = new DAG({ dagId: "sched_" + i, schedule: "@hourly", startDate: "${startIso}", endDate: "${startIso}", catchup: true });
  new Noop({ taskId: "noop", dag });
}
`;

const round = (n: number, digits = 1) => (Number.isFinite(n) ? Number(n.toFixed(digits)) : NaN);

/** Runs `schedulers` processes on a fresh database over the DAGs folder; prints and returns the figures. */
async function runOnce(
  dags: string,
  home: string,
  url: string,
  schedulers: number,
): Promise<Record<string, number | string>> {
  const db = new pg.Client({ connectionString: url });
  const env = {
    ...process.env,
    ARMADA_AIRFLOW_HOME: home,
    ARMADA_AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION: "false",
    // Enough room that the limits are not what is measured.
    ARMADA_AIRFLOW__CORE__PARALLELISM: "64",
    ARMADA_AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG: "16",
    ARMADA_AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME: "0.2",
    ARMADA_AIRFLOW__SCHEDULER__ORPHAN_SWEEP_INTERVAL_S: "0",
  };
  const children: ChildProcess[] = [];
  const t0 = Date.now();
  try {
    const ready: Promise<number>[] = [];
    for (let i = 0; i < schedulers; i++) {
      const child = spawn(
        process.execPath,
        [
          // BENCH_CPU_PROF=<dir>: a CPU profile of each scheduler, to see where its time goes.
          ...(process.env.BENCH_CPU_PROF
            ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
            : []),
          path.join(repoRoot, "bin", "armada-airflow.js"),
          "scheduler",
          "--dags-folder",
          dags,
          "--db",
          url,
        ],
        { cwd: repoRoot, env, stdio: ["ignore", "ignore", "pipe"] },
      );
      children.push(child);
      let err = "";
      ready.push(
        new Promise((resolve, reject) => {
          child.stderr!.on("data", (d: Buffer) => {
            err = (err + d.toString()).slice(-8000);
            if (err.includes("[scheduler] ready")) resolve(Date.now());
          });
          child.on("exit", (code) => reject(new Error(`scheduler exited ${code} before ready: ${err}`)));
        }),
      );
    }
    const readyAt = Math.max(...(await Promise.all(ready)));
    await db.connect();
    const count = async (sql: string) => Number((await db.query<{ n: string }>(sql)).rows[0]!.n);
    let firstRun: number | undefined;
    let allRuns: number | undefined;
    let firstTask: number | undefined;
    let allTasks: number | undefined;
    const deadline = Date.now() + 30 * 60_000;
    while (allTasks === undefined) {
      if (Date.now() > deadline) throw new Error("the schedulers did not finish within 30 minutes");
      const runs = await count("select count(*) as n from dag_run");
      const done = await count("select count(*) as n from task_instance where state = 'success'");
      const now = Date.now();
      if (runs > 0) firstRun ??= now;
      if (runs >= DAGS) allRuns ??= now;
      if (done > 0) firstTask ??= now;
      if (done >= DAGS) allTasks = now;
      await new Promise((r) => setTimeout(r, 100));
    }
    const runsPerDag = await count(
      "select count(*) as n from (select dag_id from dag_run group by dag_id having count(*) <> 1) x",
    );
    const notOnce = await count(
      "select count(*) as n from task_instance where state <> 'success' or try_number <> 1",
    );
    const figures = {
      dags: DAGS,
      schedulers,
      spawnToReadyS: round((readyAt - t0) / 1000),
      runsCreatedPerS: round(DAGS / Math.max(0.1, (allRuns! - firstRun!) / 1000)),
      tasksFinishedPerS: round(DAGS / Math.max(0.1, (allTasks - firstTask!) / 1000)),
      readyToAllDoneS: round((allTasks - readyAt) / 1000),
      dagsWithoutExactlyOneRun: runsPerDag,
      tasksNotSuccessOnce: notOnce,
    };
    console.log(`scheduler scale (${DAGS} hourly DAGs of one task, ${schedulers} scheduler(s), PostgreSQL):`);
    for (const [k, v] of Object.entries(figures)) console.log(`  ${k.padEnd(34)} ${v}`);
    return figures;
  } finally {
    // SIGTERM first (a CPU profile is written at a clean exit), then SIGKILL whatever is left.
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGTERM");
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const t = setTimeout(() => (c.kill("SIGKILL"), resolve()), 10_000);
            c.once("exit", () => (clearTimeout(t), resolve()));
          }),
      ),
    );
    await db.end().catch(() => undefined);
  }
}

/** The benchmark for each scheduler count in BENCH_SCHEDULERS. */
export async function schedulerScaleBench(): Promise<Record<string, number | string>[]> {
  buildOnce();
  const server = await startPostgres();
  // Inside the repository, so the DAG files' `armada-airflow` import resolves to this package.
  const dir = mkdtempSync(path.join(repoRoot, ".bench-scheduler-"));
  const out: Record<string, number | string>[] = [];
  try {
    const dags = path.join(dir, "dags");
    mkdirSync(dags);
    const startIso = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 - 2 * 3_600_000).toISOString();
    for (let first = 0; first < DAGS; first += PER_FILE)
      writeFileSync(
        path.join(dags, `dags_${first}.ts`),
        dagFileSource(first, Math.min(PER_FILE, DAGS - first), startIso),
      );
    for (const n of (process.env.BENCH_SCHEDULERS ?? "1,3").split(",").map(Number)) {
      const home = path.join(dir, `home-${n}`);
      mkdirSync(home);
      out.push(await runOnce(dags, home, await server.createDatabase(`sched_bench_${n}`), n));
    }
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const results = await schedulerScaleBench();
  if (results.some((r) => r.dagsWithoutExactlyOneRun !== 0 || r.tasksNotSuccessOnce !== 0))
    process.exitCode = 1;
}
