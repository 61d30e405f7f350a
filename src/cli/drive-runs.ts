/**
 * Drives DAG runs in this process for the commands that wait for their runs
 * (`dags test`, `tasks test`, `resume`): progress output, and a stop on SIGINT/SIGTERM.
 */
import type { DAG } from "../runtime/dag.js";
import { RuntimeError } from "../runtime/errors.js";
import { Runner } from "../runtime/runner.js";
import type { KyselyStore } from "../runtime/store/kysely-store.js";
import type { CliContext } from "./cli-context.js";
import { ProgressReporter } from "./progress.js";

/** Drives runs with a runner wired to progress output and to the abort signal (SIGINT/SIGTERM). */
export async function driveRuns(
  ctx: Pick<CliContext, "streams" | "verbose" | "signal" | "err" | "config">,
  store: KyselyStore,
  runs: { dag: DAG; runId: string; onlyTaskIds?: string[] }[],
  options: { skipConflicts?: boolean } = {},
): Promise<("success" | "failed" | "running" | "queued" | "interrupted" | "claimed_elsewhere")[]> {
  const progress = new ProgressReporter(ctx.streams, false, ctx.verbose);
  const runner = new Runner({ store, config: ctx.config, onEvent: progress.onEvent });
  const onAbort = () => {
    const reason = ctx.signal?.reason;
    void runner.shutdown(`received ${typeof reason === "string" ? reason : "a stop signal"}`);
  };
  ctx.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    if (ctx.signal?.aborted) return runs.map(() => "interrupted" as const);
    return await progress.track(runs.map((r) => `${r.dag.dagId} ${r.runId}`).join(", "), () =>
      Promise.all(
        runs.map((r) =>
          runner
            .runDagRun(r.dag, r.runId, { onlyTaskIds: r.onlyTaskIds, unfinishedOnly: options.skipConflicts })
            .catch((err: unknown) => {
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
