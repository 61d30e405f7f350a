#!/usr/bin/env node
import { readFileSync, realpathSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Command, CommanderError, Option } from "@commander-js/extra-typings";
import type { DAG } from "../runtime/dag.js";
import { findDagFiles, loadDag, loadDagFile } from "../runtime/dag-loader.js";
import { RuntimeError } from "../runtime/errors.js";
import { Runner } from "../runtime/runner.js";
import { deserializeValue } from "../runtime/serde.js";
import { openStore } from "../runtime/store/open-store.js";
import type { KyselyStore } from "../runtime/store/kysely-store.js";
import type { DagRunRow, TaskInstanceRow, TiKey } from "../runtime/store/store.js";
import { pullXCom } from "../runtime/runtime-task-instance.js";
import { markTaskFailed, requestTaskKill } from "../runtime/task-commands.js";
import { isoOrEmpty, table, truncated } from "./format.js";
import { ProgressReporter, type CliStreams } from "./progress.js";
import { registerDevCommand } from "./dev-command.js";
import { commandErrorText } from "./failure-text.js";
import { sweepOrphanJobs } from "../operator/orphan-sweep.js";
import { systemClock, type Clock } from "../common/clock.js";
import { registerSchedulerCommands } from "./scheduler-commands.js";
import { registerPoolCommands } from "./pool-commands.js";
import { getConfigNumber, type ConfigSource } from "../runtime/config.js";
import { explainWaits } from "../runtime/wait-reasons.js";

/** What {@link runCli} runs against; defaults are the process's own. */
export interface CliIo extends Partial<CliStreams> {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Aborting it stops running DAG runs as SIGINT/SIGTERM would (reason: the signal name). */
  signal?: AbortSignal;
  /** The clock of the scheduler and its runs (tests inject a ManualClock). @default systemClock */
  clock?: Clock;
  /**
   * Ends the process at once (the real CLI passes `process.exit`): a
   * scheduler whose runs outlast its stop timeout hands them over by exiting.
   * Without it they are stopped as on `dags test`.
   */
  exitProcess?: (code: number) => void;
}

interface Ctx {
  out: (s: string) => void;
  err: (s: string) => void;
  streams: CliStreams;
  cwd: string;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal | undefined;
  clock: Clock;
  exitProcess: ((code: number) => void) | undefined;
  exitCode: number;
  /** `--verbose`: stack traces of expected failures too. */
  verbose: boolean;
}

/** This package's version, from its package.json (two folders up from src/cli and dist/cli alike). */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: string };
  return pkg.version ?? "unknown";
}

function parseConf(raw: string | undefined): Record<string, unknown> {
  if (raw === undefined) return {};
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (err) {
    throw new RuntimeError("invalid_argument", `--conf must be a JSON object, e.g. '{"key": "value"}' (${(err as Error).message})`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new RuntimeError("invalid_argument", `--conf must be a JSON object, e.g. '{"key": "value"}', got ${raw}`);
  }
  return v as Record<string, unknown>;
}

function parseMapIndex(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < -1) throw new RuntimeError("invalid_argument", `--map-index must be an integer >= -1, got ${raw}`);
  return n;
}

function parseDate(raw: string): Date {
  const d = new Date(raw);
  if (Number.isNaN(d.getTime())) throw new RuntimeError("invalid_argument", `--logical-date must be an ISO date, got ${raw}`);
  return d;
}

/** A manual run's logical date (default now) and the data interval its DAG's schedule gives it (as Airflow infers). */
function manualDates(dag: DAG, raw: string | undefined): { logicalDate: Date; dataIntervalStart: Date; dataIntervalEnd: Date } {
  const logicalDate = raw ? parseDate(raw) : new Date();
  const interval = dag.timetable.manualInterval(logicalDate.getTime());
  return { logicalDate, dataIntervalStart: new Date(interval.startMs), dataIntervalEnd: new Date(interval.endMs) };
}

async function withStore<T>(ctx: Ctx, db: string | undefined, fn: (store: KyselyStore) => Promise<T>): Promise<T> {
  const store = await openStore({ url: db, env: ctx.env, cwd: ctx.cwd });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** Drives runs with a runner wired to progress output and to the abort signal (SIGINT/SIGTERM). */
async function drive(
  ctx: Ctx,
  store: KyselyStore,
  runs: { dag: DAG; runId: string; onlyTaskIds?: string[] }[],
  options: { skipConflicts?: boolean } = {},
): Promise<("success" | "failed" | "running" | "queued" | "interrupted" | "claimed_elsewhere")[]> {
  const progress = new ProgressReporter(ctx.streams, false, ctx.verbose);
  const runner = new Runner({ store, onEvent: progress.onEvent });
  const onAbort = () => {
    const reason = ctx.signal?.reason;
    void runner.shutdown(`received ${typeof reason === "string" ? reason : "a stop signal"}`);
  };
  ctx.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    if (ctx.signal?.aborted) return runs.map(() => "interrupted" as const);
    return await progress.track(
      runs.map((r) => `${r.dag.dagId} ${r.runId}`).join(", "),
      () =>
        Promise.all(
          runs.map((r) =>
            runner.runDagRun(r.dag, r.runId, { onlyTaskIds: r.onlyTaskIds, unfinishedOnly: options.skipConflicts }).catch((err: unknown) => {
              // Several runner processes may resume at once (PostgreSQL): a run another one claimed is its job.
              if (options.skipConflicts && RuntimeError.is(err) && err.code === "conflict") {
                ctx.err(`Skipping ${r.dag.dagId} ${r.runId}: ${err.message}\n`);
                return "claimed_elsewhere" as const;
              }
              throw err;
            }),
          ),
        ),
    );
  } finally {
    ctx.signal?.removeEventListener("abort", onAbort);
    await runner.stop();
  }
}

/** Each task instance's operator extra links (`name -> url`), when the DAG file can be loaded. */
async function extraLinks(
  store: KyselyStore,
  run: DagRunRow,
  tis: TaskInstanceRow[],
): Promise<{ links: Map<string, Record<string, string>>; error?: string }> {
  const out = new Map<string, Record<string, string>>();
  let dag: DAG;
  try {
    dag = await loadDag(run.dagFile, run.dagId);
  } catch (err) {
    // The report stands without links; say why they are missing instead of hiding it.
    return { links: out, error: `cannot load the DAG file ${run.dagFile || "(none recorded)"}: ${err instanceof Error ? err.message : String(err)}` };
  }
  for (const t of tis) {
    if (!dag.hasTask(t.taskId)) continue;
    const task = dag.getTask(t.taskId);
    const tiKey = { dagId: t.dagId, runId: t.runId, taskId: t.taskId, mapIndex: t.mapIndex };
    const links: Record<string, string> = {};
    for (const link of task.operatorExtraLinks) {
      const url = await link.getLink(task, {
        tiKey,
        xcomPull: (key) => pullXCom(store, tiKey, { taskIds: t.taskId, key, mapIndexes: t.mapIndex }),
      });
      if (url) links[link.name] = url;
    }
    if (Object.keys(links).length > 0) out.set(`${t.taskId}\u0000${t.mapIndex}`, links);
  }
  return { links: out };
}

/** Why the run's waiting task instances wait (a limit or a pool), when the DAG file loads. */
async function waitReasons(store: KyselyStore, run: DagRunRow, tis: TaskInstanceRow[], source: ConfigSource): Promise<Map<string, string>> {
  if (run.state !== "running") return new Map();
  let dag: DAG;
  try {
    dag = await loadDag(run.dagFile, run.dagId);
  } catch {
    return new Map(); // extraLinks says why the file does not load
  }
  return explainWaits({
    store,
    dag,
    run,
    taskInstances: tis,
    nowMs: Date.now(),
    parallelism: getConfigNumber("core", "parallelism", 32, source),
    maxActiveTasksDefault: getConfigNumber("core", "max_active_tasks_per_dag", 16, source),
  });
}

async function runReport(store: KyselyStore, dagId: string, runId: string, source: ConfigSource = {}) {
  const run = await store.getDagRun(dagId, runId);
  if (!run) throw new RuntimeError("not_found", `no DAG run ${dagId}/${runId}; see runs list`);
  const tis = await store.listTaskInstances(dagId, runId);
  const { links, error: linksError } = await extraLinks(store, run, tis);
  const waits = await waitReasons(store, run, tis, source);
  return {
    dagId,
    runId,
    state: run.state,
    logicalDate: isoOrEmpty(run.logicalDateMs),
    dataIntervalStart: isoOrEmpty(run.dataIntervalStartMs ?? run.logicalDateMs),
    dataIntervalEnd: isoOrEmpty(run.dataIntervalEndMs ?? run.logicalDateMs),
    runType: run.runType,
    conf: deserializeValue(run.conf),
    dagFile: run.dagFile,
    ...(linksError ? { linksError } : {}),
    taskInstances: tis.map((t) => ({
      taskId: t.taskId,
      mapIndex: t.mapIndex,
      state: t.state,
      tryNumber: t.tryNumber,
      maxTries: t.maxTries,
      startDate: isoOrEmpty(t.startMs),
      endDate: isoOrEmpty(t.endMs),
      links: links.get(`${t.taskId}\u0000${t.mapIndex}`) ?? {},
      /** Why it waits, when a limit or pool holds it (absent from JSON otherwise). */
      waitingFor: waits.get(`${t.taskId}\u0000${t.mapIndex}`),
    })),
  };
}

function printRun(ctx: Ctx, report: Awaited<ReturnType<typeof runReport>>, json: boolean): void {
  if (json) {
    ctx.out(JSON.stringify(report, null, 2) + "\n");
    return;
  }
  ctx.out(`DAG run ${report.dagId} ${report.runId}: ${report.state}\n`);
  if (report.runType !== "manual" && report.runType !== "test") {
    ctx.out(`${report.runType} run, data interval ${report.dataIntervalStart} to ${report.dataIntervalEnd}\n`);
  }
  if (report.linksError) ctx.err(`Extra links not shown: ${report.linksError}\n`);
  ctx.out(
    table(
      ["task_id", "map_index", "state", "try_number", "max_tries", "end_date"],
      report.taskInstances.map((t) => [t.taskId, t.mapIndex, t.state, t.tryNumber, t.maxTries, t.endDate]),
    ),
  );
  // Why tasks wait, one line per task and reason (a mapped task's instances share theirs).
  const waits = new Map<string, { taskId: string; n: number; label: string }>();
  for (const t of report.taskInstances) {
    if (!t.waitingFor) continue;
    const k = `${t.taskId}\u0000${t.waitingFor}`;
    const w = waits.get(k) ?? { taskId: t.taskId, n: 0, label: t.mapIndex >= 0 ? `${t.taskId}[${t.mapIndex}]` : t.taskId };
    w.n++;
    waits.set(k, w);
  }
  for (const [k, w] of waits) ctx.out(`${w.n > 1 ? `${w.taskId} (${w.n} instances)` : w.label}: ${k.slice(k.indexOf("\u0000") + 1)}\n`);
  for (const t of report.taskInstances) {
    for (const [name, url] of Object.entries(t.links)) {
      ctx.out(`link ${t.mapIndex >= 0 ? `${t.taskId}[${t.mapIndex}]` : t.taskId} ${name}: ${url}\n`);
    }
  }
}

function exitFor(states: string[]): number {
  return states.every((s) => s === "success") ? 0 : 1;
}

function build(ctx: Ctx): Command {
  const program = new Command()
    .name("armada-airflow")
    .description("Run and inspect Airflow-style DAGs written in TypeScript")
    .version(packageVersion(), "-V, --version", "print the armada-airflow version")
    .option("--verbose", "show stack traces of expected failures (a failed job, bad input) too")
    .hook("preAction", (cmd) => {
      ctx.verbose = Boolean(cmd.opts().verbose);
    })
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: ctx.out, writeErr: ctx.err });
  const dbOption = () => new Option("--db <url>", "store URL (postgres://... or sqlite:<file>); default config database.url or SQLite in ARMADA_AIRFLOW_HOME");

  const dags = program.command("dags").description("DAG files and runs");
  dags
    .command("list")
    .description("list the DAGs defined in a file or directory")
    .argument("<path>", "a DAG file or a directory of them")
    .option("--json", "machine-readable output")
    .action(async (target, o) => {
      const rows: { dagId: string; file: string; tasks: string[]; schedule: string | null }[] = [];
      let importErrors = 0;
      for (const file of await findDagFiles(path.resolve(ctx.cwd, target))) {
        // As Airflow's import errors: one broken file does not hide the others.
        try {
          for (const d of await loadDagFile(file)) rows.push({ dagId: d.dagId, file, tasks: d.taskIds, schedule: d.schedule });
        } catch (err) {
          importErrors++;
          ctx.err(`import error: ${err instanceof Error ? err.message : String(err)}\n`);
        }
      }
      if (importErrors > 0) ctx.exitCode = 1;
      if (o.json) ctx.out(JSON.stringify(rows, null, 2) + "\n");
      else ctx.out(table(["dag_id", "tasks", "file"], rows.map((r) => [r.dagId, r.tasks.length, path.relative(ctx.cwd, r.file)])));
    });

  dags
    .command("test")
    .description("run one DAG run in this process and wait for it (as airflow dags test)")
    .argument("<file>", "DAG file")
    .argument("[dag_id]", "needed when the file defines several DAGs")
    .option("--conf <json>", "the run's conf (JSON object)")
    .option("--run-id <id>", "run id (default manual__<logical date>)")
    .option("--logical-date <iso>", "logical date (default now)")
    .option("--json", "print the final run report as JSON on stdout")
    .addOption(dbOption())
    .action(async (file, dagId, o) => {
      const dag = await loadDag(path.resolve(ctx.cwd, file), dagId);
      await withStore(ctx, o.db, async (store) => {
        const runner = new Runner({ store });
        const run = await runner.createDagRun(dag, {
          conf: parseConf(o.conf),
          runId: o.runId,
          ...manualDates(dag, o.logicalDate),
          dagFile: dag.fileloc,
        });
        const [state] = await drive(ctx, store, [{ dag, runId: run.runId }]);
        printRun(ctx, await runReport(store, dag.dagId, run.runId), Boolean(o.json));
        ctx.exitCode = exitFor([state!]);
      });
    });

  dags
    .command("trigger")
    .description("create a queued DAG run; `resume` runs it")
    .argument("<file>", "DAG file")
    .argument("[dag_id]", "needed when the file defines several DAGs")
    .option("--conf <json>", "the run's conf (JSON object)")
    .option("--run-id <id>", "run id (default manual__<logical date>)")
    .option("--logical-date <iso>", "logical date (default now)")
    .option("--json", "machine-readable output")
    .addOption(dbOption())
    .action(async (file, dagId, o) => {
      const dag = await loadDag(path.resolve(ctx.cwd, file), dagId);
      await withStore(ctx, o.db, async (store) => {
        const run = await new Runner({ store }).createDagRun(dag, {
          conf: parseConf(o.conf),
          runId: o.runId,
          ...manualDates(dag, o.logicalDate),
          dagFile: dag.fileloc,
        });
        if (o.json) ctx.out(JSON.stringify({ dagId: run.dagId, runId: run.runId, state: run.state }) + "\n");
        else ctx.out(`Created DAG run ${run.dagId} ${run.runId} (queued); run it with: armada-airflow resume\n`);
      });
    });

  const runs = program.command("runs").description("DAG runs in the store");
  runs
    .command("list")
    .description("list DAG runs")
    .option("--dag-id <id>", "only this DAG")
    .option("--state <state>", "only runs in this state (queued, running, success, failed)")
    .option("--json", "machine-readable output")
    .addOption(dbOption())
    .action(async (o) => {
      const states = ["queued", "running", "success", "failed"];
      if (o.state !== undefined && !states.includes(o.state)) {
        throw new RuntimeError("invalid_argument", `--state must be one of ${states.join(", ")}; got ${JSON.stringify(o.state)}`);
      }
      await withStore(ctx, o.db, async (store) => {
        const list = await store.listDagRuns({ dagId: o.dagId, states: o.state ? [o.state as DagRunRow["state"]] : undefined });
        const rows = list.map((r) => ({ dagId: r.dagId, runId: r.runId, state: r.state, runType: r.runType, logicalDate: isoOrEmpty(r.logicalDateMs), endDate: isoOrEmpty(r.endMs) }));
        if (o.json) ctx.out(JSON.stringify(rows, null, 2) + "\n");
        else ctx.out(table(["dag_id", "run_id", "state", "run_type", "end_date"], rows.map((r) => [r.dagId, r.runId, r.state, r.runType, r.endDate])));
      });
    });
  runs
    .command("show")
    .description("a DAG run's task instances (and their logs with --logs)")
    .argument("<dag_id>")
    .argument("<run_id>")
    .option("--logs", "also print task logs")
    .option("--json", "machine-readable output")
    .addOption(dbOption())
    .action(async (dagId, runId, o) => {
      await withStore(ctx, o.db, async (store) => {
        const report = await runReport(store, dagId, runId, { env: ctx.env, cwd: ctx.cwd });
        printRun(ctx, report, Boolean(o.json));
        if (o.logs && !o.json) {
          for (const l of await store.listLogs({ dagId, runId })) {
            const lbl = l.mapIndex >= 0 ? `${l.taskId}[${l.mapIndex}]` : l.taskId;
            ctx.out(`[${lbl} #${l.tryNumber}] ${l.level === "info" ? "" : l.level.toUpperCase() + " "}${l.message}\n`);
          }
        }
      });
    });

  const tasks = program.command("tasks").description("task instances");
  tasks
    .command("test")
    .description("run one task in this process, ignoring its dependencies (as airflow tasks test)")
    .argument("<file>", "DAG file")
    .argument("<dag_id>")
    .argument("<task_id>")
    .option("--conf <json>", "the run's conf (JSON object)")
    .option("--json", "print the final run report as JSON on stdout")
    .addOption(dbOption())
    .action(async (file, dagId, taskId, o) => {
      const dag = await loadDag(path.resolve(ctx.cwd, file), dagId);
      dag.getTask(taskId);
      await withStore(ctx, o.db, async (store) => {
        const run = await new Runner({ store }).createDagRun(dag, { conf: parseConf(o.conf), runType: "test", dagFile: dag.fileloc });
        const [state] = await drive(ctx, store, [{ dag, runId: run.runId, onlyTaskIds: [taskId] }]);
        printRun(ctx, await runReport(store, dag.dagId, run.runId), Boolean(o.json));
        ctx.exitCode = exitFor([state!]);
      });
    });
  for (const [name, description] of [
    ["kill", "kill the current try (onKill / trigger cleanup); it then fails, with a retry if one remains"],
    ["mark-failed", "set the task instance FAILED (no retry); its runner kills the try or removes the trigger"],
  ] as const) {
    tasks
      .command(name)
      .description(description)
      .argument("<dag_id>")
      .argument("<run_id>")
      .argument("<task_id>")
      .option("--map-index <n>", "map index of a mapped task", "-1")
      .addOption(dbOption())
      .action(async (dagId, runId, taskId, o) => {
        const key: TiKey = { dagId, runId, taskId, mapIndex: parseMapIndex(o.mapIndex) };
        await withStore(ctx, o.db, async (store) => {
          const before = name === "kill" ? await requestTaskKill(store, key) : await markTaskFailed(store, key);
          ctx.out(name === "kill" ? `Kill requested for ${taskId} (was ${before})\n` : `Marked ${taskId} failed (was ${before})\n`);
        });
      });
  }

  program
    .command("xcom")
    .description("XComs")
    .command("list")
    .description("list a DAG run's XComs (every try)")
    .argument("<dag_id>")
    .argument("<run_id>")
    .option("--task-id <id>", "only this task")
    .option("--key <key>", "only this key")
    .option("--json", "machine-readable output (values in full)")
    .option("--full", "show long values in full instead of cut short")
    .addOption(dbOption())
    .action(async (dagId, runId, o) => {
      await withStore(ctx, o.db, async (store) => {
        if (!(await store.getDagRun(dagId, runId))) throw new RuntimeError("not_found", `no DAG run ${dagId}/${runId}; see runs list`);
        const rows = await store.listXComs({ dagId, runId, taskIds: o.taskId ? [o.taskId] : undefined, key: o.key });
        const out = rows.map((r) => ({ taskId: r.taskId, mapIndex: r.mapIndex, tryNumber: r.tryNumber, key: r.key, value: JSON.parse(r.value) as unknown }));
        if (o.json) ctx.out(JSON.stringify(out, null, 2) + "\n");
        else ctx.out(table(["task_id", "map_index", "try_number", "key", "value"], out.map((r) => [r.taskId, r.mapIndex, r.tryNumber, r.key, o.full ? JSON.stringify(r.value) : truncated(JSON.stringify(r.value))])));
      });
    });

  program
    .command("resume")
    .description("run every queued run and every run whose runner died (crash, kill -9), until they finish")
    .option("--dag-id <id>", "only this DAG")
    .option("--run-id <id>", "only this run")
    .option("--json", "print the final run reports as JSON on stdout")
    .option(
      "--wait <seconds>",
      "how long to wait for the runner of a run to stop or go stale (a runner just killed may still look alive); 0: skip such runs",
      "60",
    )
    .addOption(dbOption())
    .action(async (o) => {
      const waitS = Number(o.wait);
      if (!Number.isFinite(waitS) || waitS < 0) {
        throw new RuntimeError("invalid_argument", `--wait must be a number of seconds >= 0, got ${JSON.stringify(o.wait)}`);
      }
      await withStore(ctx, o.db, async (store) => {
        const probe = new Runner({ store });
        const candidates = (await store.listDagRuns({ dagId: o.dagId, states: ["queued", "running"] })).filter((r) => !o.runId || r.runId === o.runId);
        const todo: { dag: DAG; runId: string }[] = [];
        let stillOwned = 0;
        for (const r of candidates) {
          if (r.runnerId && (await probe.isRunnerAlive(r.runnerId))) {
            if (waitS === 0) {
              ctx.err(`Skipping ${r.dagId} ${r.runId}: runner ${r.runnerId} is still alive\n`);
              continue;
            }
            ctx.err(`Waiting up to ${waitS}s for runner ${r.runnerId} of ${r.dagId} ${r.runId} to stop or go stale...\n`);
            const deadline = Date.now() + waitS * 1000;
            while (Date.now() < deadline && (await probe.isRunnerAlive(r.runnerId))) {
              await new Promise((done) => setTimeout(done, Math.min(500, probe.heartbeatMs)));
            }
            // While waiting the runner may have finished the run, or another resume taken it: that is not ours.
            const now = await store.getDagRun(r.dagId, r.runId);
            if (!now || (now.state !== "queued" && now.state !== "running")) continue;
            if (now.runnerId && now.runnerId !== r.runnerId && (await probe.isRunnerAlive(now.runnerId))) continue;
            if (await probe.isRunnerAlive(r.runnerId)) {
              ctx.err(
                `Not resuming ${r.dagId} ${r.runId}: runner ${r.runnerId} is still alive after ${waitS}s and drives it; ` +
                  `let it finish, or stop that process and run resume again (--wait sets how long to wait)\n`,
              );
              stillOwned++;
              continue;
            }
          }
          if (!r.dagFile) throw new RuntimeError("dag", `DAG run ${r.dagId}/${r.runId} has no DAG file recorded; cannot resume it`);
          todo.push({ dag: await loadDag(r.dagFile, r.dagId), runId: r.runId });
        }
        if (todo.length === 0) {
          ctx.err("Nothing to resume\n");
          if (o.json) ctx.out("[]\n");
          if (stillOwned > 0) ctx.exitCode = 1;
          return;
        }
        const all = await drive(ctx, store, todo, { skipConflicts: true });
        const mine = todo.filter((_, i) => all[i] !== "claimed_elsewhere");
        const states = all.filter((s) => s !== "claimed_elsewhere");
        const reports = await Promise.all(mine.map((t) => runReport(store, t.dag.dagId, t.runId)));
        if (o.json) ctx.out(JSON.stringify(reports, null, 2) + "\n");
        else for (const r of reports) printRun(ctx, r, false);
        ctx.exitCode = stillOwned > 0 ? Math.max(1, exitFor(states)) : exitFor(states);
      });
    });

  program
    .command("armada")
    .description("Armada jobs of this store's task instances")
    .command("sweep")
    .description(
      "cancel live Armada jobs that no task instance follows (finished, unknown to this store, or superseded by another job)",
    )
    .option("--dag-id <id>", "only this DAG's runs")
    .option("--run-id <id>", "only this run")
    .option("--dry-run", "list what would be cancelled; cancel nothing")
    .option("--json", "print the jobs as JSON on stdout")
    .addOption(dbOption())
    .action(async (o) => {
      await withStore(ctx, o.db, async (store) => {
        const jobs = await sweepOrphanJobs({
          store,
          dagId: o.dagId,
          runId: o.runId,
          dryRun: Boolean(o.dryRun),
          loadDag: (run) => {
            if (!run.dagFile) throw new RuntimeError("dag", `DAG run ${run.dagId}/${run.runId} has no DAG file recorded; cannot find its Armada tasks`);
            return loadDag(run.dagFile, run.dagId);
          },
        });
        if (o.json) ctx.out(JSON.stringify(jobs, null, 2) + "\n");
        else if (jobs.length === 0) ctx.out("No live Armada jobs of this store's task instances\n");
        else ctx.out(table(["job_id", "state", "task_instance", "task_state", "action", "reason"], jobs.map((j) => [j.jobId, j.state, j.taskInstance, j.taskState, j.action, j.reason])));
        if (jobs.some((j) => j.action === "cancel failed")) ctx.exitCode = 1;
      });
    });

  registerSchedulerCommands({ program, dags, runs, tasks }, ctx);
  registerPoolCommands(program, ctx);
  registerDevCommand(program);
  return program;
}

/**
 * The `armada-airflow` command line, callable in-process. Returns the exit
 * code: 0 on success, 1 when a run failed or a command errored, 2 on a usage
 * error, 130/143 style codes are left to the caller (a stopped run returns 1).
 */
export async function runCli(argv: string[], io: CliIo = {}): Promise<number> {
  const streams: CliStreams = { stdout: io.stdout ?? process.stdout, stderr: io.stderr ?? process.stderr };
  const ctx: Ctx = {
    out: (s) => void streams.stdout.write(s),
    err: (s) => void streams.stderr.write(s),
    streams,
    cwd: io.cwd ?? process.cwd(),
    env: io.env ?? process.env,
    signal: io.signal,
    clock: io.clock ?? systemClock,
    exitProcess: io.exitProcess,
    exitCode: 0,
    verbose: argv.includes("--verbose"),
  };
  const program = build(ctx);
  try {
    await program.parseAsync(argv, { from: "user" });
    return ctx.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (RuntimeError.is(err) && !ctx.verbose) ctx.err(`error: ${err.message}\n`);
    else ctx.err(`error: ${commandErrorText(err, ctx.verbose)}\n`);
    return 1;
  }
}

/** Runs the CLI as the process: SIGINT/SIGTERM stop runs gracefully; the exit code is the process's. */
export async function main(argv = process.argv.slice(2)): Promise<void> {
  const ac = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (ac.signal.aborted) process.exit(sig === "SIGINT" ? 130 : 143);
    ac.abort(sig);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const code = await runCli(argv, { signal: ac.signal, exitProcess: (c) => process.exit(c) });
  process.exitCode = ac.signal.aborted ? (ac.signal.reason === "SIGINT" ? 130 : 143) : code;
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
}

function isEntryPoint(): boolean {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) await main();
