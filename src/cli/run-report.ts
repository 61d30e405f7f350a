/**
 * The report of one DAG run that `dags test`, `tasks test`, `runs show` and
 * `resume` print: its task instances, their extra links, and why waiting ones wait.
 */
import type { CliContext } from "./cli-context.js";
import type { RuntimeConfig } from "../runtime/runtime-config.js";
import type { DAG } from "../runtime/dag.js";
import { loadDag } from "../runtime/dag-loader.js";
import { tiLabel } from "../runtime/run-scope.js";
import { deserializeValue } from "../runtime/serde.js";
import type { KyselyStore } from "../runtime/store/kysely-store.js";
import type { DagRunRow, TaskInstanceRow } from "../runtime/store/store.js";
import { explainWaits } from "../runtime/wait-reasons.js";
import { isoOrEmpty, table } from "./format.js";
import { requireDagRun } from "./dag-run-lookup.js";

/** Map indexes that one XCom read of the report covers. */
const XCOM_BLOCK = 1_000;

/**
 * The XComs the report's links pull, read per task, key and block of 1,000
 * map indexes: a run of 100,000 mapped instances costs 100 reads per key,
 * where a pull per instance took its report about 20 s. Each instance sees
 * its current try's value, as its own pull would. The instances come in key
 * order, so only the latest block of each task and key is kept.
 */
class ReportXComs {
  private readonly blocks = new Map<string, { block: number; values: Promise<Map<string, string>> }>();

  constructor(
    private readonly store: KyselyStore,
    private readonly run: DagRunRow,
  ) {}

  async pull(t: TaskInstanceRow, key: string): Promise<unknown> {
    const block = Math.floor(t.mapIndex / XCOM_BLOCK); // -1 (an unmapped instance) is a block of its own
    const id = `${t.taskId}\u0000${key}`;
    let kept = this.blocks.get(id);
    if (kept?.block !== block) {
      kept = { block, values: this.read(t.taskId, key, block) };
      this.blocks.set(id, kept);
    }
    const text = (await kept.values).get(`${t.mapIndex}\u0000${t.tryNumber}`);
    return text === undefined ? undefined : deserializeValue(text);
  }

  private async read(taskId: string, key: string, block: number): Promise<Map<string, string>> {
    const mapIndexes =
      block < 0 ? [-1] : Array.from({ length: XCOM_BLOCK }, (_, i) => block * XCOM_BLOCK + i);
    const rows = await this.store.listXComs({
      dagId: this.run.dagId,
      runId: this.run.runId,
      taskIds: [taskId],
      key,
      mapIndexes,
    });
    return new Map(rows.map((r) => [`${r.mapIndex}\u0000${r.tryNumber}`, r.value]));
  }
}

/** Each task instance's operator extra links (`name -> url`), when the DAG file can be loaded. */
async function extraLinks(
  store: KyselyStore,
  run: DagRunRow,
  tis: TaskInstanceRow[],
): Promise<{ links: Map<string, Record<string, string>>; error?: string }> {
  const out = new Map<string, Record<string, string>>();
  let dag: DAG;
  try {
    dag = await loadDag(run.dagFile, run.dagId);
  } catch (err) {
    // The report stands without links; say why they are missing instead of hiding it.
    return {
      links: out,
      error: `cannot load the DAG file ${run.dagFile || "(none recorded)"}: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
  const xcoms = new ReportXComs(store, run);
  for (const t of tis) {
    if (!dag.hasTask(t.taskId)) continue;
    const task = dag.getTask(t.taskId);
    const tiKey = { dagId: t.dagId, runId: t.runId, taskId: t.taskId, mapIndex: t.mapIndex };
    const links: Record<string, string> = {};
    for (const link of task.operatorExtraLinks) {
      const url = await link.getLink(task, { tiKey, xcomPull: (key) => xcoms.pull(t, key) });
      if (url) links[link.name] = url;
    }
    if (Object.keys(links).length > 0) out.set(`${t.taskId}\u0000${t.mapIndex}`, links);
  }
  return { links: out };
}

/** Why the run's waiting task instances wait (a limit or a pool), when the DAG file loads. */
async function waitReasons(
  store: KyselyStore,
  run: DagRunRow,
  tis: TaskInstanceRow[],
  config: RuntimeConfig,
): Promise<Map<string, string>> {
  if (run.state !== "running") return new Map();
  let dag: DAG;
  try {
    dag = await loadDag(run.dagFile, run.dagId);
  } catch {
    return new Map(); // extraLinks says why the file does not load
  }
  return explainWaits({
    store,
    dag,
    run,
    taskInstances: tis,
    nowMs: Date.now(),
    parallelism: config.core.parallelism,
    maxActiveTasksDefault: config.core.max_active_tasks_per_dag,
  });
}

/** A DAG run with its task instances, their extra links and why those waiting wait: what `runs show` prints. */
export async function runReport(store: KyselyStore, dagId: string, runId: string, config: RuntimeConfig) {
  const run = await requireDagRun(store, dagId, runId);
  const tis = await store.listTaskInstances(dagId, runId);
  const { links, error: linksError } = await extraLinks(store, run, tis);
  const waits = await waitReasons(store, run, tis, config);
  return {
    dagId,
    runId,
    state: run.state,
    logicalDate: isoOrEmpty(run.logicalDateMs),
    dataIntervalStart: isoOrEmpty(run.dataIntervalStartMs ?? run.logicalDateMs),
    dataIntervalEnd: isoOrEmpty(run.dataIntervalEndMs ?? run.logicalDateMs),
    runType: run.runType,
    conf: deserializeValue(run.conf),
    dagFile: run.dagFile,
    ...(linksError ? { linksError } : {}),
    taskInstances: tis.map((t) => ({
      taskId: t.taskId,
      mapIndex: t.mapIndex,
      state: t.state,
      tryNumber: t.tryNumber,
      maxTries: t.maxTries,
      startDate: isoOrEmpty(t.startMs),
      endDate: isoOrEmpty(t.endMs),
      links: links.get(`${t.taskId}\u0000${t.mapIndex}`) ?? {},
      /** Why it waits, when a limit or pool holds it (absent from JSON otherwise). */
      waitingFor: waits.get(`${t.taskId}\u0000${t.mapIndex}`),
    })),
  };
}

/** What {@link runReport} gives. */
export type RunReport = Awaited<ReturnType<typeof runReport>>;

/** Prints a {@link runReport} as JSON, or as a table with one line per wait reason and per extra link. */
export function printRun(ctx: Pick<CliContext, "out" | "err">, report: RunReport, json: boolean): void {
  if (json) {
    ctx.out(JSON.stringify(report, null, 2) + "\n");
    return;
  }
  ctx.out(`DAG run ${report.dagId} ${report.runId}: ${report.state}\n`);
  if (report.runType !== "manual" && report.runType !== "test") {
    ctx.out(
      `${report.runType} run, data interval ${report.dataIntervalStart} to ${report.dataIntervalEnd}\n`,
    );
  }
  if (report.linksError) ctx.err(`Extra links not shown: ${report.linksError}\n`);
  ctx.out(
    table(
      ["task_id", "map_index", "state", "try_number", "max_tries", "end_date"],
      report.taskInstances.map((t) => [t.taskId, t.mapIndex, t.state, t.tryNumber, t.maxTries, t.endDate]),
    ),
  );
  // Why tasks wait, one line per task and reason (a mapped task's instances share theirs).
  const waits = new Map<string, { taskId: string; n: number; label: string }>();
  for (const t of report.taskInstances) {
    if (!t.waitingFor) continue;
    const k = `${t.taskId}\u0000${t.waitingFor}`;
    const w = waits.get(k) ?? { taskId: t.taskId, n: 0, label: tiLabel(t) };
    w.n++;
    waits.set(k, w);
  }
  for (const [k, w] of waits)
    ctx.out(`${w.n > 1 ? `${w.taskId} (${w.n} instances)` : w.label}: ${k.slice(k.indexOf("\u0000") + 1)}\n`);
  for (const t of report.taskInstances) {
    for (const [name, url] of Object.entries(t.links)) {
      ctx.out(`link ${tiLabel(t)} ${name}: ${url}\n`);
    }
  }
}

/** The exit code of a command that drove runs: 0 when every one succeeded. */
export function exitFor(states: string[]): number {
  return states.every((s) => s === "success") ? 0 : 1;
}
