/**
 * The orphan sweep (`armada-airflow armada sweep`): finds live Armada jobs
 * that no task instance of this store follows any more (their task instance
 * finished, is unknown to the store, or follows another job now) and cancels
 * them. It is the net under what a crash could still leave behind: a runner
 * killed between the submit and the store write, or a lost database.
 */
import { ArmadaClient } from "../client/armada-client.js";
import type { GrpcChannelArgs } from "../client/channel-args.js";
import type { DAG } from "../runtime/dag.js";
import { deserializeValue } from "../runtime/serde.js";
import { FINISHED_STATES } from "../runtime/state.js";
import type { DagRunRow, Store, TaskInstanceRow } from "../runtime/store/store.js";
import { ArmadaOperator } from "./armada-operator.js";
import { isTerminalJobState, JobState, jobStateName } from "../client/job-states.js";

/** One live job the sweep looked at. */
export interface SweptJob {
  jobId: string;
  queue: string;
  jobSetId: string;
  state: string;
  /** `dagId/runId/taskId[mapIndex]` from the job's external job URI; empty when it names none. */
  taskInstance: string;
  /** The task instance's state, or `unknown` when the store has none. */
  taskState: string;
  /** What was (or, with `dryRun`, would be) done, and why. */
  action: "cancelled" | "would cancel" | "kept" | "cancel failed";
  reason: string;
}

/** Options of {@link sweepOrphanJobs}. */
export interface SweepOptions {
  store: Store;
  /** Loads the DAG of a run (to find its Armada tasks' channels and queues); undefined skips the run. */
  loadDag: (run: DagRunRow) => Promise<DAG | undefined>;
  dagId?: string;
  runId?: string;
  /** Only runs not finished, or finished at or after this time (epoch ms). @default every run */
  endedSinceMs?: number;
  /** List only; cancel nothing. */
  dryRun?: boolean;
  /** Deadline of each RPC. @default 30000 */
  deadlineMs?: number;
}

/** Parses `airflow://<dag>/<task>/<run>/<mapIndex>` (the operator's external job URI). */
function parseUri(
  uri: string,
): { dagId: string; taskId: string; runId: string; mapIndex: number } | undefined {
  if (!uri.startsWith("airflow://")) return undefined;
  const parts = uri.slice("airflow://".length).split("/");
  if (parts.length < 4) return undefined;
  const mapIndex = Number(parts.at(-1));
  if (!Number.isInteger(mapIndex)) return undefined;
  return { dagId: parts[0]!, taskId: parts[1]!, runId: parts.slice(2, -1).join("/"), mapIndex };
}

function uriOf(annotations: Record<string, string>): string {
  for (const [k, v] of Object.entries(annotations))
    if (k.endsWith("externalJobUri") && v.startsWith("airflow://")) return v;
  return "";
}

const FINISHED_RUN_STATES: ReadonlySet<string> = new Set(["success", "failed"]);

interface JobSetTarget {
  channelArgs: GrpcChannelArgs;
  queue: string;
  jobSetId: string;
}

/**
 * Lists the live jobs of every job set the store's Armada task instances
 * used, and cancels (unless `dryRun`) those no task instance follows.
 */
export async function sweepOrphanJobs(o: SweepOptions): Promise<SweptJob[]> {
  const since = o.endedSinceMs;
  const runs = (await o.store.listDagRuns({ dagId: o.dagId })).filter(
    (r) =>
      (!o.runId || r.runId === o.runId) &&
      (since === undefined || !FINISHED_RUN_STATES.has(r.state) || r.endMs === null || r.endMs >= since),
  );
  const targets = new Map<string, JobSetTarget>();
  for (const run of runs) {
    const dag = await o.loadDag(run);
    if (!dag) continue;
    for (const taskId of dag.topologicalOrder()) {
      const task = dag.getTask(taskId);
      if (!(task instanceof ArmadaOperator)) continue;
      // The job sets the task's tries used (rendered prefixes), and the unrendered default.
      const sets = new Set<string>([task.jobSetId({ runId: run.runId })]);
      for (const x of await o.store.listXComs({
        dagId: run.dagId,
        runId: run.runId,
        taskIds: [taskId],
        key: "job_context",
      })) {
        const ctx = deserializeValue(x.value) as { armada_job_set_id?: unknown } | undefined;
        const id = ctx?.armada_job_set_id;
        if (typeof id === "string" && id) sets.add(id);
      }
      for (const jobSetId of sets) {
        const key = `${task.channelArgs.target}\u0000${task.armadaQueue}\u0000${jobSetId}`;
        targets.set(key, { channelArgs: task.channelArgs, queue: task.armadaQueue, jobSetId });
      }
    }
  }
  const out: SweptJob[] = [];
  for (const t of targets.values()) {
    const client = new ArmadaClient(t.channelArgs);
    try {
      out.push(...(await sweepJobSet(o, client, t)));
    } finally {
      client.close();
    }
  }
  return out;
}

async function sweepJobSet(o: SweepOptions, client: ArmadaClient, t: JobSetTarget): Promise<SweptJob[]> {
  const deadlineMs = o.deadlineMs ?? 30_000;
  // The job set's submitted events name every job and its annotations (no watch: the stream ends at the last event).
  const submitted = new Map<string, Record<string, string>>();
  for await (const m of client.getJobSetEvents(
    { queue: t.queue, id: t.jobSetId, watch: false },
    { deadlineMs },
  )) {
    const ev = m.message?.events;
    if (ev?.$case === "submitted") submitted.set(ev.value.jobId, ev.value.job?.annotations ?? {});
  }
  if (submitted.size === 0) return [];
  const status = await client.getJobStatus({ jobIds: [...submitted.keys()] }, { deadlineMs });
  const out: SweptJob[] = [];
  for (const [jobId, annotations] of submitted) {
    const state = (status.jobStates[jobId] ?? JobState.UNKNOWN) as JobState;
    if (isTerminalJobState(state) || state === JobState.UNKNOWN) continue;
    const key = parseUri(uriOf(annotations));
    const ti = key ? await o.store.getTaskInstance(key) : undefined;
    const verdict = await decide(o.store, jobId, ti);
    const row: SweptJob = {
      jobId,
      queue: t.queue,
      jobSetId: t.jobSetId,
      state: jobStateName(state),
      taskInstance: key ? `${key.dagId}/${key.runId}/${key.taskId}[${key.mapIndex}]` : "",
      taskState: ti?.state ?? "unknown",
      action: "kept",
      reason: verdict.reason,
    };
    if (verdict.cancel) {
      if (o.dryRun) row.action = "would cancel";
      else {
        try {
          await client.cancelJobs({ queue: t.queue, jobSetId: t.jobSetId, jobId }, { deadlineMs });
          row.action = "cancelled";
        } catch (err) {
          row.action = "cancel failed";
          row.reason += `; ${err instanceof Error ? err.message : String(err)}`;
        }
      }
    }
    out.push(row);
  }
  return out;
}

async function decide(
  store: Store,
  jobId: string,
  ti: TaskInstanceRow | undefined,
): Promise<{ cancel: boolean; reason: string }> {
  if (!ti) return { cancel: true, reason: "no task instance of this store submitted it" };
  if (FINISHED_STATES.has(ti.state)) return { cancel: true, reason: `its task instance is ${ti.state}` };
  const [current] = await store
    .listXComs({
      dagId: ti.dagId,
      runId: ti.runId,
      taskIds: [ti.taskId],
      mapIndexes: [ti.mapIndex],
      key: "job_context",
    })
    .then((rows) => rows.filter((r) => r.tryNumber === ti.tryNumber));
  const followed = current
    ? (deserializeValue(current.value) as { armada_job_id?: unknown } | undefined)?.armada_job_id
    : undefined;
  if (typeof followed === "string" && followed !== jobId && ti.state !== "up_for_retry") {
    return { cancel: true, reason: `its task instance (try ${ti.tryNumber}) follows job ${followed}` };
  }
  return { cancel: false, reason: `its task instance is ${ti.state} and may follow it` };
}
