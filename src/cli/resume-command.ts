/**
 * `armada-airflow resume`: runs here every queued run and every run whose
 * runner died, waiting a while for a runner that may only look alive.
 */
import type { CommandUnknownOpts } from "@commander-js/extra-typings";
import type { DAG } from "../runtime/dag.js";
import { loadDag } from "../runtime/dag-loader.js";
import { Runner } from "../runtime/runner.js";
import type { KyselyStore } from "../runtime/store/kysely-store.js";
import type { DagRunRow } from "../runtime/store/store.js";
import type { CliContext } from "./cli-context.js";
import { dbOption, parseSeconds, withStore } from "./common-options.js";
import { recordedDagFile } from "./dag-run-lookup.js";
import { driveRuns } from "./drive-runs.js";
import { exitFor, printRun, runReport } from "./run-report.js";

/**
 * Whether to resume `r`: at once when no live runner holds it; else after
 * waiting up to `waitS` for its runner to stop or go stale ("skip": it is
 * another's now, or not to wait for; "still-owned": its runner outlived the wait).
 */
async function afterItsRunner(
  ctx: CliContext,
  store: KyselyStore,
  probe: Runner,
  r: DagRunRow,
  waitS: number,
): Promise<"resume" | "skip" | "still-owned"> {
  if (!r.runnerId || !(await probe.isRunnerAlive(r.runnerId))) return "resume";
  if (waitS === 0) {
    ctx.err(`Skipping ${r.dagId} ${r.runId}: runner ${r.runnerId} is still alive\n`);
    return "skip";
  }
  ctx.err(
    `Waiting up to ${waitS}s for runner ${r.runnerId} of ${r.dagId} ${r.runId} to stop or go stale...\n`,
  );
  const deadline = Date.now() + waitS * 1000;
  while (Date.now() < deadline && (await probe.isRunnerAlive(r.runnerId))) {
    await new Promise((done) => setTimeout(done, Math.min(500, probe.heartbeatMs)));
  }
  // While waiting the runner may have finished the run, or another resume taken it: that is not ours.
  const now = await store.getDagRun(r.dagId, r.runId);
  if (!now || (now.state !== "queued" && now.state !== "running")) return "skip";
  if (now.runnerId && now.runnerId !== r.runnerId && (await probe.isRunnerAlive(now.runnerId))) return "skip";
  if (await probe.isRunnerAlive(r.runnerId)) {
    ctx.err(
      `Not resuming ${r.dagId} ${r.runId}: runner ${r.runnerId} is still alive after ${waitS}s and drives it; ` +
        `let it finish, or stop that process and run resume again (--wait sets how long to wait)\n`,
    );
    return "still-owned";
  }
  return "resume";
}

/** Adds `resume`. */
export function registerResumeCommand(program: CommandUnknownOpts, ctx: CliContext): void {
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
      const waitS = parseSeconds(o.wait, 60, "--wait");
      await withStore(ctx, o.db, async (store) => {
        const probe = new Runner({ store, config: ctx.config });
        const candidates = (
          await store.listDagRuns({ dagId: o.dagId, states: ["queued", "running"] })
        ).filter((r) => !o.runId || r.runId === o.runId);
        const todo: { dag: DAG; runId: string }[] = [];
        let stillOwned = 0;
        for (const r of candidates) {
          const verdict = await afterItsRunner(ctx, store, probe, r, waitS);
          if (verdict === "still-owned") stillOwned++;
          if (verdict !== "resume") continue;
          todo.push({ dag: await loadDag(recordedDagFile(r, "cannot resume it"), r.dagId), runId: r.runId });
        }
        if (todo.length === 0) {
          ctx.err("Nothing to resume\n");
          if (o.json) ctx.out("[]\n");
          if (stillOwned > 0) ctx.exitCode = 1;
          return;
        }
        const all = await driveRuns(ctx, store, todo, { skipConflicts: true });
        const mine = todo.filter((_, i) => all[i] !== "claimed_elsewhere");
        const states = all.filter((s) => s !== "claimed_elsewhere");
        const reports = await Promise.all(
          mine.map((t) => runReport(store, t.dag.dagId, t.runId, ctx.config)),
        );
        if (o.json) ctx.out(JSON.stringify(reports, null, 2) + "\n");
        else for (const r of reports) printRun(ctx, r, false);
        ctx.exitCode = stillOwned > 0 ? Math.max(1, exitFor(states)) : exitFor(states);
      });
    });
}
