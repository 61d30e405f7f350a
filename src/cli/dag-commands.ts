/**
 * `armada-airflow dags list|test|trigger`: the DAGs of a file or folder, and
 * manual runs of one (run here and waited for, or queued for `resume`).
 */
import path from "node:path";
import type { CommandUnknownOpts } from "@commander-js/extra-typings";
import type { DAG } from "../runtime/dag.js";
import { findDagFiles, loadDag, loadDagFile } from "../runtime/dag-loader.js";
import { RuntimeError } from "../runtime/errors.js";
import { Runner } from "../runtime/runner.js";
import type { KyselyStore } from "../runtime/store/kysely-store.js";
import type { DagRunRow } from "../runtime/store/store.js";
import type { CliContext } from "./cli-context.js";
import { dbOption, parseConf, withStore } from "./common-options.js";
import { driveRuns } from "./drive-runs.js";
import { table } from "./format.js";
import { exitFor, printRun, runReport } from "./run-report.js";

function parseDate(raw: string): Date {
  const d = new Date(raw);
  if (Number.isNaN(d.getTime()))
    throw new RuntimeError("invalid_argument", `--logical-date must be an ISO date, got ${raw}`);
  return d;
}

/** A manual run's logical date (default now) and the data interval its DAG's schedule gives it (as Airflow infers). */
function manualDates(
  dag: DAG,
  raw: string | undefined,
): { logicalDate: Date; dataIntervalStart: Date; dataIntervalEnd: Date } {
  const logicalDate = raw ? parseDate(raw) : new Date();
  const interval = dag.timetable.manualInterval(logicalDate.getTime());
  return {
    logicalDate,
    dataIntervalStart: new Date(interval.startMs),
    dataIntervalEnd: new Date(interval.endMs),
  };
}

/**
 * A command that makes a manual run of a file's DAG (`dags test`, `dags trigger`):
 * it loads the DAG, creates the run as `--conf`, `--run-id` and `--logical-date`
 * ask, then hands it to `then` with the store still open.
 */
function manualRunCommand(
  dags: CommandUnknownOpts,
  ctx: CliContext,
  command: { name: string; description: string; jsonHelp: string },
  then: (store: KyselyStore, dag: DAG, run: DagRunRow, json: boolean) => Promise<void>,
): void {
  dags
    .command(command.name)
    .description(command.description)
    .argument("<file>", "DAG file")
    .argument("[dag_id]", "needed when the file defines several DAGs")
    .option("--conf <json>", "the run's conf (JSON object)")
    .option("--run-id <id>", "run id (default manual__<logical date>)")
    .option("--logical-date <iso>", "logical date (default now)")
    .option("--json", command.jsonHelp)
    .addOption(dbOption())
    .action(async (file, dagId, o) => {
      const dag = await loadDag(path.resolve(ctx.cwd, file), dagId);
      await withStore(ctx, o.db, async (store) => {
        const run = await new Runner({ store, config: ctx.config }).createDagRun(dag, {
          conf: parseConf(o.conf),
          runId: o.runId,
          ...manualDates(dag, o.logicalDate),
          dagFile: dag.fileloc,
        });
        await then(store, dag, run, Boolean(o.json));
      });
    });
}

function listCommand(dags: CommandUnknownOpts, ctx: CliContext): void {
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
          for (const d of await loadDagFile(file))
            rows.push({ dagId: d.dagId, file, tasks: d.taskIds, schedule: d.schedule });
        } catch (err) {
          importErrors++;
          ctx.err(`import error: ${err instanceof Error ? err.message : String(err)}\n`);
        }
      }
      if (importErrors > 0) ctx.exitCode = 1;
      if (o.json) ctx.out(JSON.stringify(rows, null, 2) + "\n");
      else
        ctx.out(
          table(
            ["dag_id", "tasks", "file"],
            rows.map((r) => [r.dagId, r.tasks.length, path.relative(ctx.cwd, r.file)]),
          ),
        );
    });
}

function testCommand(dags: CommandUnknownOpts, ctx: CliContext): void {
  const description = "run one DAG run in this process and wait for it (as airflow dags test)";
  const jsonHelp = "print the final run report as JSON on stdout";
  manualRunCommand(dags, ctx, { name: "test", description, jsonHelp }, async (store, dag, run, json) => {
    const [state] = await driveRuns(ctx, store, [{ dag, runId: run.runId }]);
    printRun(ctx, await runReport(store, dag.dagId, run.runId, ctx.config), json);
    ctx.exitCode = exitFor([state!]);
  });
}

function triggerCommand(dags: CommandUnknownOpts, ctx: CliContext): void {
  const description = "create a queued DAG run; `resume` runs it";
  const jsonHelp = "machine-readable output";
  manualRunCommand(dags, ctx, { name: "trigger", description, jsonHelp }, async (_store, _dag, run, json) => {
    if (json) ctx.out(JSON.stringify({ dagId: run.dagId, runId: run.runId, state: run.state }) + "\n");
    else ctx.out(`Created DAG run ${run.dagId} ${run.runId} (queued); run it with: armada-airflow resume\n`);
  });
}

/** Adds the `dags` group with `list`, `test` and `trigger`; returns it for the scheduler's `dags` commands. */
export function registerDagCommands(program: CommandUnknownOpts, ctx: CliContext): CommandUnknownOpts {
  const dags = program.command("dags").description("DAG files and runs");
  listCommand(dags, ctx);
  testCommand(dags, ctx);
  triggerCommand(dags, ctx);
  return dags;
}
