/**
 * `dags backfill`: the runs a DAG's schedule has between two dates, created
 * in logical-date order as QUEUED `backfill` runs. The scheduler starts them
 * oldest first within the DAG's `maxActiveRuns` (also while the DAG is
 * paused, as Airflow 3). A logical date that already has a scheduled or
 * backfill run is skipped.
 */
import type { DAG } from "../runtime/dag.js";
import { RuntimeError } from "../runtime/errors.js";
import type { Runner } from "../runtime/runner.js";
import type { DagRunRow } from "../runtime/store/store.js";
import { runsBetween } from "../runtime/schedule.js";

/** What a backfill did. */
export interface BackfillResult {
  created: DagRunRow[];
  /** Logical dates that had a run already, with that run's id. */
  skipped: { logicalDateMs: number; runId: string }[];
}

/** Creates the backfill runs of `dag` with logical dates from `fromMs` to `toMs`, both included. */
export async function createBackfill(
  runner: Runner,
  dag: DAG,
  fromMs: number,
  toMs: number,
): Promise<BackfillResult> {
  if (dag.schedule === null) {
    throw new RuntimeError(
      "invalid_argument",
      `DAG "${dag.dagId}" has no schedule (schedule: null), so there are no runs to backfill; use dags trigger --logical-date instead`,
    );
  }
  if (toMs < fromMs)
    throw new RuntimeError("invalid_argument", "--end-date is before --start-date; swap them");
  const wanted = runsBetween(dag.timetable, fromMs, toMs);
  const existing = new Map<number, string>();
  for (const r of await runner.store.listDagRuns({ dagId: dag.dagId })) {
    if (r.runType === "scheduled" || r.runType === "backfill") existing.set(r.logicalDateMs, r.runId);
  }
  const result: BackfillResult = { created: [], skipped: [] };
  for (const w of wanted) {
    const had = existing.get(w.logicalDateMs);
    if (had !== undefined) {
      result.skipped.push({ logicalDateMs: w.logicalDateMs, runId: had });
      continue;
    }
    try {
      result.created.push(
        await runner.createDagRun(dag, {
          runType: "backfill",
          logicalDate: new Date(w.logicalDateMs),
          dataIntervalStart: new Date(w.dataInterval.startMs),
          dataIntervalEnd: new Date(w.dataInterval.endMs),
          dagFile: dag.fileloc,
        }),
      );
    } catch (err) {
      // A scheduler created the run for this date meanwhile.
      const now = (await runner.store.listDagRuns({ dagId: dag.dagId })).find(
        (r) => r.logicalDateMs === w.logicalDateMs && (r.runType === "scheduled" || r.runType === "backfill"),
      );
      if (!now) throw err;
      result.skipped.push({ logicalDateMs: w.logicalDateMs, runId: now.runId });
    }
  }
  return result;
}
