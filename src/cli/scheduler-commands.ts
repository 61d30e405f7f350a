/**
 * The scheduler's commands: `scheduler`, `dags pause|unpause`,
 * `dags list-import-errors`, `dags backfill`, `runs delete`, `tasks clear`.
 */
import path from "node:path";
import type { Command } from "@commander-js/extra-typings";
import { clearTaskInstances } from "../runtime/clear.js";
import type { DAG } from "../runtime/dag.js";
import { findDagFiles, loadDag, loadDagFile } from "../runtime/dag-loader.js";
import { RuntimeError } from "../runtime/errors.js";
import { Runner, type RunnerEvent } from "../runtime/runner.js";
import type { KyselyStore } from "../runtime/store/kysely-store.js";
import { tiLabel } from "../runtime/run-scope.js";
import type { DagRunRow } from "../runtime/store/store.js";
import { sweepOrphanJobs } from "../operator/orphan-sweep.js";
import { createBackfill } from "../scheduler/backfill.js";
import { Scheduler } from "../scheduler/scheduler.js";
import { TriggererService } from "../scheduler/triggerer-service.js";
import { parseDateOption } from "../runtime/timezone.js";
import type { CliContext } from "./cli-context.js";
import { dbOption, parseSeconds, withStore } from "./common-options.js";
import { recordedDagFile, requireDagRun } from "./dag-run-lookup.js";
import { isoOrEmpty, table } from "./format.js";

/** What these commands need of the CLI's context. */
export type SchedulerCliContext = Pick<
  CliContext,
  "out" | "err" | "cwd" | "env" | "config" | "signal" | "clock" | "exitProcess" | "exitCode"
>;

// The commands are built untyped here: the parent commands come from main.ts's own typed program.
type AnyCommand = Command<unknown[], Record<string, unknown>>;

/** `--dags-folder`, else config `[core] dags_folder`, else `./dags`. */
function dagsFolder(ctx: SchedulerCliContext, given: string | undefined): string {
  return path.resolve(ctx.cwd, given ?? ctx.config.core.dags_folder);
}

/** A DAG by id: from the file the scheduler registered for it, else by searching the DAGs folder. */
async function findDag(store: KyselyStore, dagId: string, folder: string): Promise<DAG> {
  const row = await store.getDag(dagId);
  if (row?.isActive) return loadDag(row.fileloc, dagId);
  for (const file of await findDagFiles(folder).catch(() => [] as string[])) {
    const dags = await loadDagFile(file).catch(() => [] as DAG[]);
    const dag = dags.find((d) => d.dagId === dagId);
    if (dag) return dag;
  }
  throw new RuntimeError(
    "not_found",
    `DAG "${dagId}" is not in the DAGs folder ${folder} nor registered by a scheduler; check the id or pass --dags-folder`,
  );
}

/** Prints what runners report, one line each: a long-running process keeps no per-task state for it. */
function eventPrinter(ctx: SchedulerCliContext): (e: RunnerEvent) => void {
  return (e) => {
    if (e.type === "log") {
      const level = e.level === "info" ? "" : `${e.level.toUpperCase()} `;
      for (const line of e.message.split("\n"))
        ctx.err(`[${e.dagId} ${e.runId} ${tiLabel(e)} #${e.tryNumber}] ${level}${line}\n`);
    } else if (e.type === "ti") {
      ctx.err(`--> ${e.dagId} ${e.runId} ${tiLabel(e)} try ${e.tryNumber}: ${e.state}\n`);
    } else {
      ctx.err(`==> DAG run ${e.dagId} ${e.runId}: ${e.state}\n`);
    }
  };
}

/** `scheduler`: runs the DAGs of a folder on their schedules until stopped, then hands over or stops its runs. */
function schedulerCommand(program: AnyCommand, ctx: SchedulerCliContext): void {
  program
    .command("scheduler")
    .description(
      "run the DAGs of a folder on their schedules, until SIGTERM/SIGINT (several on one PostgreSQL)",
    )
    .option("--dags-folder <path>", "the DAGs folder (default config [core] dags_folder, else ./dags)")
    .option(
      "--stop-timeout <seconds>",
      "on SIGTERM/SIGINT, how long to let runs finish before handing them over (default config [scheduler] stop_timeout_s, else 30)",
    )
    .option(
      "--no-triggerer",
      "run no triggers in this process: deferred tasks wait for an `armada-airflow triggerer`",
    )
    .addOption(dbOption())
    .action(async (opts) => {
      const o = opts as { dagsFolder?: string; stopTimeout?: string; db?: string; triggerer?: boolean };
      const { config } = ctx;
      const stopTimeoutS = parseSeconds(o.stopTimeout, config.scheduler.stop_timeout_s, "--stop-timeout");
      const folder = dagsFolder(ctx, o.dagsFolder);
      const log = (line: string) => ctx.err(`[scheduler] ${line}\n`);
      const sweepS = config.scheduler.orphan_sweep_interval_s;
      if (sweepS < 0) {
        throw new RuntimeError(
          "config",
          `config scheduler.orphan_sweep_interval_s must be a number of seconds >= 0 (0 turns the orphan sweep off), got ${sweepS}`,
        );
      }
      await withStore(ctx, o.db, async (store) => {
        // The DAGs the scheduler holds; a run of a DAG it does not hold is swept from its recorded file, or skipped.
        const dagOf = async (run: DagRunRow): Promise<DAG | undefined> => {
          const held = scheduler.bag.dags.get(run.dagId);
          if (held) return held;
          try {
            return run.dagFile ? await loadDag(run.dagFile, run.dagId) : undefined;
          } catch (err) {
            log(`orphan sweep: skipping DAG run ${run.dagId} ${run.runId}: ${(err as Error).message}`);
            return undefined;
          }
        };
        const scheduler: Scheduler = new Scheduler({
          store,
          dagsFolder: folder,
          clock: ctx.clock,
          config,
          pollIntervalMs: config.scheduler.scheduler_idle_sleep_time * 1000,
          rescanIntervalMs: config.scheduler.min_file_process_interval * 1000,
          heartbeatTimeoutMs: config.scheduler.scheduler_health_check_threshold * 1000,
          heartbeatMs: config.core.runner_heartbeat_ms,
          pausedAtCreation: config.core.dags_are_paused_at_creation,
          maxActiveRunsDefault: config.core.max_active_runs_per_dag,
          parallelism: config.core.parallelism,
          maxActiveTasksPerDag: config.core.max_active_tasks_per_dag,
          runTriggers: o.triggerer !== false,
          log,
          onEvent: eventPrinter(ctx),
          ...(sweepS > 0
            ? {
                orphanSweep: {
                  intervalMs: sweepS * 1000,
                  sweep: ({ endedSinceMs }) => sweepOrphanJobs({ store, loadDag: dagOf, endedSinceMs }),
                },
              }
            : {}),
        });
        await scheduler.start();
        const onStop = () => scheduler.requestStop();
        ctx.signal?.addEventListener("abort", onStop, { once: true });
        if (ctx.signal?.aborted) scheduler.requestStop();
        try {
          log(
            `ready: runner ${scheduler.runner.id}, ${store.description}, DAGs folder ${folder} (${scheduler.bag.dags.size} DAGs), ` +
              (sweepS > 0 ? `orphan sweep every ${sweepS}s` : "orphan sweep off") +
              (o.triggerer === false ? ", no triggerer (triggers run in armada-airflow triggerer)" : ""),
          );
          await scheduler.loop();
          const reason = typeof ctx.signal?.reason === "string" ? ctx.signal.reason : "stop";
          if (scheduler.activeRuns > 0) {
            log(
              `${reason}: taking no new work; waiting up to ${stopTimeoutS}s for ${scheduler.activeRuns} runs (a second signal exits at once)`,
            );
          }
          if (!(await scheduler.drained(stopTimeoutS * 1000))) {
            if (ctx.exitProcess) {
              // Exiting hands the runs over as a crash would: the next scheduler resumes them, deferred tasks stay deferred.
              log(
                `${scheduler.activeRuns} runs still active after ${stopTimeoutS}s: handing them over to the next scheduler`,
              );
              await scheduler.release();
              ctx.exitProcess(0);
              return;
            }
            log(`${scheduler.activeRuns} runs still active after ${stopTimeoutS}s: stopping them`);
            await scheduler.runner.shutdown(`the scheduler stopped (${reason})`);
            await scheduler.drained(Number.MAX_SAFE_INTEGER);
          }
          log("stopped");
        } finally {
          ctx.signal?.removeEventListener("abort", onStop);
          await scheduler.release();
        }
      });
    });
}

/** `triggerer`: runs the triggers of deferred tasks until stopped, then hands them over. */
function triggererCommand(program: AnyCommand, ctx: SchedulerCliContext): void {
  program
    .command("triggerer")
    .description(
      "run the triggers of every deferred task in the store and fire them, until SIGTERM/SIGINT (several on one PostgreSQL)",
    )
    .addOption(dbOption())
    .action(async (opts) => {
      const o = opts as { db?: string };
      const { config } = ctx;
      const log = (line: string) => ctx.err(`[triggerer] ${line}\n`);
      await withStore(ctx, o.db, async (store) => {
        const triggerer = new TriggererService({
          store,
          clock: ctx.clock,
          config,
          pollIntervalMs: config.triggerer.poll_interval_s * 1000,
          heartbeatMs: config.core.runner_heartbeat_ms,
          heartbeatTimeoutMs: config.scheduler.scheduler_health_check_threshold * 1000,
          capacity: config.triggerer.capacity,
          log,
        });
        await triggerer.start();
        const onStop = () => triggerer.requestStop();
        ctx.signal?.addEventListener("abort", onStop, { once: true });
        if (ctx.signal?.aborted) triggerer.requestStop();
        try {
          log(`ready: triggerer ${triggerer.runner.id}, ${store.description}`);
          await triggerer.loop();
          // Its triggers are handed over: their tasks stay deferred, the next triggerer runs them.
          log(`stopped (${triggerer.size} triggers handed over)`);
        } finally {
          ctx.signal?.removeEventListener("abort", onStop);
          await triggerer.release();
        }
      });
    });
}

/** `dags pause|unpause`. */
function pauseCommands(dags: AnyCommand, ctx: SchedulerCliContext): void {
  for (const [name, paused] of [
    ["pause", true],
    ["unpause", false],
  ] as const) {
    dags
      .command(name)
      .description(paused ? "stop scheduling new runs of a DAG" : "schedule a DAG's runs again")
      .argument("<dag_id>")
      .addOption(dbOption())
      .action(async (dagId, opts) => {
        const o = opts as { db?: string };
        await withStore(ctx, o.db, async (store) => {
          if (!(await store.setDagPaused(dagId as string, paused))) {
            throw new RuntimeError(
              "not_found",
              `DAG "${String(dagId)}" is not registered; a scheduler registers the DAGs of its folder when it reads them (armada-airflow scheduler --dags-folder ...)`,
            );
          }
          ctx.out(`${paused ? "Paused" : "Unpaused"} DAG ${String(dagId)}\n`);
        });
      });
  }
}

/** `dags list-import-errors`. */
function importErrorsCommand(dags: AnyCommand, ctx: SchedulerCliContext): void {
  dags
    .command("list-import-errors")
    .description("DAG files the scheduler could not load (their DAGs keep their last good version)")
    .option("--json", "machine-readable output")
    .addOption(dbOption())
    .action(async (opts) => {
      const o = opts as { db?: string; json?: boolean };
      await withStore(ctx, o.db, async (store) => {
        const rows = (await store.listImportErrors()).map((r) => ({
          filename: r.filename,
          timestamp: isoOrEmpty(r.timestampMs),
          error: r.error,
        }));
        if (o.json) ctx.out(JSON.stringify(rows, null, 2) + "\n");
        else if (rows.length === 0) ctx.out("No import errors\n");
        else
          ctx.out(
            table(
              ["filename", "timestamp", "error"],
              rows.map((r) => [r.filename, r.timestamp, r.error.split("\n")[0]]),
            ),
          );
      });
    });
}

/** `dags backfill`: queues the runs of a date range for the scheduler. */
function backfillCommand(dags: AnyCommand, ctx: SchedulerCliContext): void {
  dags
    .command("backfill")
    .description("create the runs a DAG's schedule has between two dates (the scheduler runs them in order)")
    .argument("<dag_id>")
    .requiredOption(
      "--start-date <date>",
      "first logical date (ISO 8601; without offset: in the DAG's timezone)",
    )
    .requiredOption("--end-date <date>", "last logical date, included")
    .option(
      "--dags-folder <path>",
      "where to find the DAG when no scheduler registered it (default config [core] dags_folder, else ./dags)",
    )
    .option("--json", "machine-readable output")
    .addOption(dbOption())
    .action(async (dagId, opts) => {
      const o = opts as {
        startDate: string;
        endDate: string;
        dagsFolder?: string;
        json?: boolean;
        db?: string;
      };
      await withStore(ctx, o.db, async (store) => {
        const dag = await findDag(store, dagId as string, dagsFolder(ctx, o.dagsFolder));
        const from = parseDateOption(o.startDate, dag.timezone, "--start-date");
        const to = parseDateOption(o.endDate, dag.timezone, "--end-date");
        const result = await createBackfill(
          new Runner({ store, clock: ctx.clock, config: ctx.config }),
          dag,
          from,
          to,
        );
        if (o.json) {
          ctx.out(
            JSON.stringify(
              {
                created: result.created.map((r) => ({
                  runId: r.runId,
                  logicalDate: isoOrEmpty(r.logicalDateMs),
                })),
                skipped: result.skipped.map((r) => ({
                  runId: r.runId,
                  logicalDate: isoOrEmpty(r.logicalDateMs),
                })),
              },
              null,
              2,
            ) + "\n",
          );
        } else {
          for (const r of result.created) ctx.out(`Created ${r.runId}\n`);
          for (const r of result.skipped)
            ctx.out(`Skipped ${isoOrEmpty(r.logicalDateMs)}: run ${r.runId} exists\n`);
          ctx.out(
            `${result.created.length} backfill runs queued for ${dag.dagId}; the scheduler runs them, oldest first, at most maxActiveRuns at once\n`,
          );
        }
      });
    });
}

/** `runs delete`: refused while a live runner drives the run. */
function deleteRunCommand(runs: AnyCommand, ctx: SchedulerCliContext): void {
  runs
    .command("delete")
    .description("delete a DAG run with its task instances, XComs and logs")
    .argument("<dag_id>")
    .argument("<run_id>")
    .addOption(dbOption())
    .action(async (dagId, runId, opts) => {
      const o = opts as { db?: string };
      const [d, r] = [dagId as string, runId as string];
      await withStore(ctx, o.db, async (store) => {
        const run = await requireDagRun(store, d, r);
        const probe = new Runner({ store, config: ctx.config });
        if (run.runnerId && (await probe.isRunnerAlive(run.runnerId))) {
          throw new RuntimeError(
            "conflict",
            `DAG run ${d}/${r} is being run by live runner ${run.runnerId}; mark its tasks failed or stop that process first`,
          );
        }
        const live = await store.listTaskInstancesInStates(d, r, [
          "running",
          "deferred",
          "scheduled",
          "queued",
        ]);
        await store.deleteDagRun(d, r);
        ctx.out(`Deleted DAG run ${d} ${r}\n`);
        if (live.length > 0) {
          ctx.err(
            `${live.length} of its task instances had not finished; armada-airflow armada sweep cancels Armada jobs they left\n`,
          );
        }
      });
    });
}

/** `tasks clear`. */
function clearCommand(tasks: AnyCommand, ctx: SchedulerCliContext): void {
  tasks
    .command("clear")
    .description("run task instances of a DAG run again in a new try (a finished run is queued again)")
    .argument("<dag_id>")
    .argument("<run_id>")
    .option("--task <regex>", "only tasks whose id matches (default: all)")
    .option("--downstream", "also the tasks downstream of those")
    .option("--upstream", "also the tasks upstream of those")
    .option("--only-failed", "only failed and upstream-failed instances")
    .option("--json", "machine-readable output")
    .addOption(dbOption())
    .action(async (dagId, runId, opts) => {
      const o = opts as {
        task?: string;
        downstream?: boolean;
        upstream?: boolean;
        onlyFailed?: boolean;
        json?: boolean;
        db?: string;
      };
      const [d, r] = [dagId as string, runId as string];
      await withStore(ctx, o.db, async (store) => {
        const run = await requireDagRun(store, d, r);
        const dag = await loadDag(recordedDagFile(run, "cannot tell its tasks' dependencies"), d);
        const cleared = await clearTaskInstances(
          store,
          dag,
          run,
          {
            taskRegex: o.task,
            downstream: o.downstream,
            upstream: o.upstream,
            onlyFailed: o.onlyFailed,
          },
          ctx.clock.nowMs(),
        );
        const rows = cleared.map((t) => ({
          taskId: t.taskId,
          mapIndex: t.mapIndex,
          previousState: t.state,
          tryNumber: t.tryNumber,
        }));
        if (o.json) ctx.out(JSON.stringify(rows, null, 2) + "\n");
        else if (rows.length === 0) ctx.out("No task instance to clear\n");
        else {
          ctx.out(
            table(
              ["task_id", "map_index", "previous_state", "try_number"],
              rows.map((t) => [t.taskId, t.mapIndex, t.previousState, t.tryNumber]),
            ),
          );
          ctx.out(`Cleared ${rows.length} task instances of ${d} ${r}\n`);
        }
      });
    });
}

/** Adds the scheduler's commands to the program and its `dags`, `runs` and `tasks` groups. */
export function registerSchedulerCommands(
  groups: { program: unknown; dags: unknown; runs: unknown; tasks: unknown },
  ctx: SchedulerCliContext,
): void {
  const program = groups.program as AnyCommand;
  const dags = groups.dags as AnyCommand;
  const runs = groups.runs as AnyCommand;
  const tasks = groups.tasks as AnyCommand;
  schedulerCommand(program, ctx);
  triggererCommand(program, ctx);
  pauseCommands(dags, ctx);
  importErrorsCommand(dags, ctx);
  backfillCommand(dags, ctx);
  deleteRunCommand(runs, ctx);
  clearCommand(tasks, ctx);
}
