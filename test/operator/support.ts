/**
 * Test doubles for operator unit tests: a recording fake hook, an in-memory
 * task instance and context on a ManualClock.
 */
import { ManualClock } from "../../src/common/clock.js";
import type { Context, TaskInstance } from "../../src/runtime/context.js";
import { DAG } from "../../src/runtime/dag.js";
import { currentRuntimeConfig } from "../../src/runtime/runtime-config.js";
import type { TaskInstanceState } from "../../src/runtime/state.js";
import type { TaskLogger } from "../../src/runtime/task-logger.js";
import { deserializeValue, serializeValue } from "../../src/runtime/serde.js";
import type { ArmadaHookApi, ExistingJob, JobInfo, SubmitJobRequest } from "../../src/operator/hook.js";
import { JobState, jobStateName } from "../../src/client/job-states.js";
import type { RunningJobContext } from "../../src/operator/running-job-context.js";
import type { BaseOperator } from "../../src/runtime/base-operator.js";

export class RecordingLog implements TaskLogger {
  lines: string[] = [];
  debug = (m: string) => void this.lines.push(`DEBUG ${m}`);
  info = (m: string) => void this.lines.push(`INFO ${m}`);
  warn = (m: string) => void this.lines.push(`WARN ${m}`);
  error = (m: string) => void this.lines.push(`ERROR ${m}`);
  has(re: RegExp): boolean {
    return this.lines.some((l) => re.test(l));
  }
}

/** A fake hook answering status checks from a script of states. */
export class FakeHook implements ArmadaHookApi {
  submits: SubmitJobRequest[] = [];
  statusChecks: string[] = [];
  cancels: RunningJobContext[] = [];
  infoCalls: string[] = [];
  reasonCalls: string[] = [];
  uriLookups: [string, string, string][] = [];
  existing: ExistingJob | undefined;
  reason = "";
  info: JobInfo = { state: JobState.RUNNING, cluster: "cluster-1", namespace: "namespace-1", submittedAt: undefined };

  private states: JobState[];
  constructor(
    states: JobState[],
    readonly jobId = "test_job",
  ) {
    this.states = [...states];
  }

  async submitJob(request: SubmitJobRequest): Promise<string> {
    this.submits.push(request);
    return this.jobId;
  }
  async getJobState(jobId: string): Promise<JobState> {
    this.statusChecks.push(jobId);
    const next = this.states.length > 1 ? this.states.shift()! : this.states[0]!;
    return next;
  }
  async getJobInfo(jobId: string): Promise<JobInfo> {
    this.infoCalls.push(jobId);
    return this.info;
  }
  async getJobTerminationReason(jobId: string): Promise<string> {
    this.reasonCalls.push(jobId);
    return this.reason;
  }
  async cancelJob(context: RunningJobContext): Promise<RunningJobContext> {
    this.cancels.push(context);
    return context.with({ jobState: jobStateName(JobState.CANCELLED) });
  }
  async jobByExternalJobUri(queue: string, jobSetId: string, uri: string): Promise<ExistingJob | undefined> {
    this.uriLookups.push([queue, jobSetId, uri]);
    return this.existing;
  }
  forgotten: string[] = [];
  forgetJob(jobId: string): void {
    this.forgotten.push(jobId);
  }
  found: string | undefined;
  findCalls: [string, string, string, string][] = [];
  async findSubmittedJob(queue: string, jobSetId: string, uri: string, clientId: string): Promise<string | undefined> {
    this.findCalls.push([queue, jobSetId, uri, clientId]);
    return this.found;
  }
}

/** In-memory task instance: XComs of the current try, serialized as the runtime does. */
export class FakeTaskInstance implements TaskInstance {
  dagId = "test_dag";
  runId = "test_run_1";
  taskId: string;
  mapIndex = -1;
  tryNumber: number;
  maxTries: number;
  task: BaseOperator;
  log = new RecordingLog();
  xcoms = new Map<string, string>();
  pushes: [string, unknown][] = [];
  state: TaskInstanceState = "running";
  /** When set, xcomPull answers from this list (one per call) instead of the store. */
  pullScript: Map<string, unknown[]> = new Map();

  constructor(task: BaseOperator, o: { tryNumber?: number; maxTries?: number } = {}) {
    this.task = task;
    this.taskId = task.taskId;
    this.tryNumber = o.tryNumber ?? 1;
    this.maxTries = o.maxTries ?? task.retries;
  }
  async xcomPush(key: string, value: unknown): Promise<void> {
    const text = serializeValue(value);
    this.xcoms.set(key, text);
    this.pushes.push([key, deserializeValue(text)]);
  }
  async xcomPull(options: { key?: string } = {}): Promise<unknown> {
    const key = options.key ?? "return_value";
    const scripted = this.pullScript.get(key);
    if (scripted) return scripted.shift();
    const text = this.xcoms.get(key);
    return text === undefined ? undefined : deserializeValue(text);
  }
  async currentState(): Promise<TaskInstanceState> {
    return this.state;
  }
  pushed(key: string): unknown[] {
    return this.pushes.filter(([k]) => k === key).map(([, v]) => v);
  }
}

export function makeContext(task: BaseOperator, ti: FakeTaskInstance, clock: ManualClock): Context {
  const dag = new DAG({ dagId: "test_dag" });
  const logical = new Date(Date.UTC(2024, 0, 1));
  return {
    dag,
    task,
    ti,
    taskInstance: ti,
    runId: ti.runId,
    logicalDate: logical,
    dataIntervalStart: logical,
    dataIntervalEnd: logical,
    ds: "2024-01-01",
    dsNodash: "20240101",
    ts: "2024-01-01T00:00:00+00:00",
    tsNodash: "20240101T000000",
    tsNodashWithTz: "20240101T000000+0000",
    params: {},
    conf: {},
    dagRun: { dagId: "test_dag", runId: ti.runId, logicalDate: logical, conf: {}, runType: "manual", state: "running" },
    signal: new AbortController().signal,
    clock,
    runtimeConfig: currentRuntimeConfig(),
  };
}

/** Runs `fn` while moving the clock on whenever the code under test sleeps. */
export async function withTimeFlowing<T>(clock: ManualClock, fn: () => Promise<T>): Promise<T> {
  let done = false;
  const pump = (async () => {
    while (!done) {
      if (clock.pendingSleepers > 0) clock.advance(1000);
      await new Promise((r) => setImmediate(r));
    }
  })();
  try {
    return await fn();
  } finally {
    done = true;
    await pump;
  }
}
