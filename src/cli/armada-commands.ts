/** `armada-airflow armada sweep`: cancels the Armada jobs no task instance of the store follows any more. */
import type { CommandUnknownOpts } from "@commander-js/extra-typings";
import { sweepOrphanJobs } from "../operator/orphan-sweep.js";
import { loadDag } from "../runtime/dag-loader.js";
import type { CliContext } from "./cli-context.js";
import { dbOption, withStore } from "./common-options.js";
import { recordedDagFile } from "./dag-run-lookup.js";
import { table } from "./format.js";

/** Adds the `armada` group with `sweep`. */
export function registerArmadaCommands(program: CommandUnknownOpts, ctx: CliContext): void {
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
          loadDag: (run) => loadDag(recordedDagFile(run, "cannot find its Armada tasks"), run.dagId),
        });
        if (o.json) ctx.out(JSON.stringify(jobs, null, 2) + "\n");
        else if (jobs.length === 0) ctx.out("No live Armada jobs of this store's task instances\n");
        else
          ctx.out(
            table(
              ["job_id", "state", "task_instance", "task_state", "action", "reason"],
              jobs.map((j) => [j.jobId, j.state, j.taskInstance, j.taskState, j.action, j.reason]),
            ),
          );
        if (jobs.some((j) => j.action === "cancel failed")) ctx.exitCode = 1;
      });
    });
}
