/** The DAG run a command names, and the DAG file it was created from, with the errors that say what is missing. */
import { RuntimeError } from "../runtime/errors.js";
import type { KyselyStore } from "../runtime/store/kysely-store.js";
import type { DagRunRow } from "../runtime/store/store.js";

/** The DAG run `dagId/runId`; a `not_found` error pointing at `runs list` when there is none. */
export async function requireDagRun(store: KyselyStore, dagId: string, runId: string): Promise<DagRunRow> {
  const run = await store.getDagRun(dagId, runId);
  if (!run) throw new RuntimeError("not_found", `no DAG run ${dagId}/${runId}; see runs list`);
  return run;
}

/** The DAG file recorded for `run`; without one, a `dag` error ending in `consequence` (what cannot be done). */
export function recordedDagFile(run: DagRunRow, consequence: string): string {
  if (!run.dagFile)
    throw new RuntimeError(
      "dag",
      `DAG run ${run.dagId}/${run.runId} has no DAG file recorded; ${consequence}`,
    );
  return run.dagFile;
}
