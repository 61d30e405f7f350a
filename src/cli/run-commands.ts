/** `armada-airflow runs list|show`: the DAG runs of a store, and one run's task instances and logs. */
import type { CommandUnknownOpts } from "@commander-js/extra-typings";
import { tiLabel } from "../runtime/run-scope.js";
import { RuntimeError } from "../runtime/errors.js";
import type { DagRunRow } from "../runtime/store/store.js";
import type { CliContext } from "./cli-context.js";
import { dbOption, withStore } from "./common-options.js";
import { isoOrEmpty, table } from "./format.js";
import { printRun, runReport } from "./run-report.js";

const RUN_STATES = ["queued", "running", "success", "failed"];

function listCommand(runs: CommandUnknownOpts, ctx: CliContext): void {
  runs
    .command("list")
    .description("list DAG runs")
    .option("--dag-id <id>", "only this DAG")
    .option("--state <state>", "only runs in this state (queued, running, success, failed)")
    .option("--json", "machine-readable output")
    .addOption(dbOption())
    .action(async (o) => {
      if (o.state !== undefined && !RUN_STATES.includes(o.state)) {
        throw new RuntimeError(
          "invalid_argument",
          `--state must be one of ${RUN_STATES.join(", ")}; got ${JSON.stringify(o.state)}`,
        );
      }
      await withStore(ctx, o.db, async (store) => {
        const list = await store.listDagRuns({
          dagId: o.dagId,
          states: o.state ? [o.state as DagRunRow["state"]] : undefined,
        });
        const rows = list.map((r) => ({
          dagId: r.dagId,
          runId: r.runId,
          state: r.state,
          runType: r.runType,
          logicalDate: isoOrEmpty(r.logicalDateMs),
          endDate: isoOrEmpty(r.endMs),
        }));
        if (o.json) ctx.out(JSON.stringify(rows, null, 2) + "\n");
        else
          ctx.out(
            table(
              ["dag_id", "run_id", "state", "run_type", "end_date"],
              rows.map((r) => [r.dagId, r.runId, r.state, r.runType, r.endDate]),
            ),
          );
      });
    });
}

function showCommand(runs: CommandUnknownOpts, ctx: CliContext): void {
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
        const report = await runReport(store, dagId, runId, ctx.config);
        printRun(ctx, report, Boolean(o.json));
        if (o.logs && !o.json) {
          for (const l of await store.listLogs({ dagId, runId })) {
            ctx.out(
              `[${tiLabel(l)} #${l.tryNumber}] ${l.level === "info" ? "" : l.level.toUpperCase() + " "}${l.message}\n`,
            );
          }
        }
      });
    });
}

/** Adds the `runs` group with `list` and `show`; returns it for the scheduler's `runs delete`. */
export function registerRunCommands(program: CommandUnknownOpts, ctx: CliContext): CommandUnknownOpts {
  const runs = program.command("runs").description("DAG runs in the store");
  listCommand(runs, ctx);
  showCommand(runs, ctx);
  return runs;
}
