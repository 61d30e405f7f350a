/** `armada-airflow xcom list`: the XComs a DAG run's tries pushed. */
import type { CommandUnknownOpts } from "@commander-js/extra-typings";
import type { CliContext } from "./cli-context.js";
import { dbOption, withStore } from "./common-options.js";
import { requireDagRun } from "./dag-run-lookup.js";
import { table, truncated } from "./format.js";

/** Adds the `xcom` group with `list`. */
export function registerXComCommands(program: CommandUnknownOpts, ctx: CliContext): void {
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
        await requireDagRun(store, dagId, runId);
        const rows = await store.listXComs({
          dagId,
          runId,
          taskIds: o.taskId ? [o.taskId] : undefined,
          key: o.key,
        });
        const out = rows.map((r) => ({
          taskId: r.taskId,
          mapIndex: r.mapIndex,
          tryNumber: r.tryNumber,
          key: r.key,
          value: JSON.parse(r.value) as unknown,
        }));
        if (o.json) ctx.out(JSON.stringify(out, null, 2) + "\n");
        else
          ctx.out(
            table(
              ["task_id", "map_index", "try_number", "key", "value"],
              out.map((r) => [
                r.taskId,
                r.mapIndex,
                r.tryNumber,
                r.key,
                o.full ? JSON.stringify(r.value) : truncated(JSON.stringify(r.value)),
              ]),
            ),
          );
      });
    });
}
