/**
 * `armada-airflow tasks test|kill|mark-failed`: one task run here without its
 * dependencies, and the commands that stop a try that another runner drives.
 */
import path from "node:path";
import type { CommandUnknownOpts } from "@commander-js/extra-typings";
import { loadDag } from "../runtime/dag-loader.js";
import { Runner } from "../runtime/runner.js";
import type { TiKey } from "../runtime/store/store.js";
import { markTaskFailed, requestTaskKill } from "../runtime/task-commands.js";
import type { CliContext } from "./cli-context.js";
import { dbOption, parseConf, parseMapIndex, withStore } from "./common-options.js";
import { driveRuns } from "./drive-runs.js";
import { exitFor, printRun, runReport } from "./run-report.js";

function testCommand(tasks: CommandUnknownOpts, ctx: CliContext): void {
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
        const run = await new Runner({ store, config: ctx.config }).createDagRun(dag, {
          conf: parseConf(o.conf),
          runType: "test",
          dagFile: dag.fileloc,
        });
        const [state] = await driveRuns(ctx, store, [{ dag, runId: run.runId, onlyTaskIds: [taskId] }]);
        printRun(ctx, await runReport(store, dag.dagId, run.runId, ctx.config), Boolean(o.json));
        ctx.exitCode = exitFor([state!]);
      });
    });
}

/** `kill` and `mark-failed`: they differ only in the request they record and the line they print. */
function stopCommands(tasks: CommandUnknownOpts, ctx: CliContext): void {
  for (const [name, description] of [
    ["kill", "kill the current try (onKill / trigger cleanup); it then fails, with a retry if one remains"],
    [
      "mark-failed",
      "set the task instance FAILED (no retry); its runner kills the try or removes the trigger",
    ],
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
          const before =
            name === "kill" ? await requestTaskKill(store, key) : await markTaskFailed(store, key);
          ctx.out(
            name === "kill"
              ? `Kill requested for ${taskId} (was ${before})\n`
              : `Marked ${taskId} failed (was ${before})\n`,
          );
        });
      });
  }
}

/** Adds the `tasks` group with `test`, `kill` and `mark-failed`; returns it for the scheduler's `tasks clear`. */
export function registerTaskInstanceCommands(
  program: CommandUnknownOpts,
  ctx: CliContext,
): CommandUnknownOpts {
  const tasks = program.command("tasks").description("task instances");
  testCommand(tasks, ctx);
  stopCommands(tasks, ctx);
  return tasks;
}
