/**
 * What the operator knows about the Armada job it is waiting for. Immutable:
 * every change makes a new context, so a context pushed to XCom never moves.
 */
import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { ErrorCode } from "../common/error-code.js";
import { brandSymbol, hasBrand } from "../runtime/brand.js";
import { registerSerializable } from "../runtime/serde.js";
import { JobState, jobStateName, parseJobState } from "../client/job-states.js";
import { parseLogTimestamp } from "./log-timestamp.js";

const RUNNING_JOB_CONTEXT = brandSymbol("RunningJobContext");

/** The XCom `job_context` value (snake_case keys, as other systems read them). */
export interface JobContextXCom {
  armada_queue: string;
  armada_job_id: string;
  armada_job_set_id: string;
  /** ISO-8601 submission time. */
  armada_job_submit_time: string;
  /** Upper-case state name, e.g. `RUNNING`. */
  armada_job_state: string;
  /** RFC 3339 time (nanosecond precision kept) of the last published log line, or null. */
  armada_job_last_log_time: string | null;
  /**
   * The job run whose log `armada_job_last_log_time` belongs to (Armada may run
   * a job again), or null before the first log line. Absent in older contexts.
   */
  armada_job_run_id?: string | null;
  /** That run's cluster, or null. Absent in older contexts. */
  armada_job_cluster?: string | null;
  /** That run's number (1 for the first run), or null. Absent in older contexts. */
  armada_job_run_number?: number | null;
}

/** Constructor fields of {@link RunningJobContext}. */
export interface RunningJobContextInit {
  armadaQueue: string;
  jobId: string;
  jobSetId: string;
  submitTime: Date;
  /** The executor cluster the job's latest run landed on, once known. */
  cluster?: string | null;
  /**
   * Timestamp of the last container log line published, as Kubernetes wrote
   * it (RFC 3339 with up to nanoseconds). A string because a Date keeps only
   * milliseconds, and log de-duplication needs the full precision.
   */
  lastLogTime?: string | null;
  /** Upper-case state name; defaults to `UNKNOWN`. */
  jobState?: string;
  /** The run being followed (Armada's retry engine may run a job again under a new run id). */
  runId?: string | null;
  /** Its number among the job's runs, 1 for the first. */
  runNumber?: number | null;
}

/** The running job's identity, state, cluster and log position. */
export class RunningJobContext {
  /** Class name under which the context is registered for serialization. */
  static readonly classname = "armada.model.RunningJobContext";
  /** Serialization format version. */
  static readonly version = 1;

  readonly armadaQueue: string;
  readonly jobId: string;
  readonly jobSetId: string;
  readonly submitTime: Date;
  readonly cluster: string | undefined;
  readonly lastLogTime: string | undefined;
  readonly jobState: string;
  readonly runId: string | undefined;
  readonly runNumber: number | undefined;

  constructor(init: RunningJobContextInit) {
    this.armadaQueue = init.armadaQueue;
    this.jobId = init.jobId;
    this.jobSetId = init.jobSetId;
    this.submitTime = new Date(init.submitTime.getTime());
    this.cluster = init.cluster ?? undefined;
    if (init.lastLogTime) parseLogTimestamp(init.lastLogTime, "lastLogTime");
    this.lastLogTime = init.lastLogTime ?? undefined;
    this.jobState = jobStateName(parseJobState(init.jobState ?? "UNKNOWN", "jobState"));
    this.runId = init.runId ?? undefined;
    this.runNumber = init.runNumber ?? undefined;
    Object.defineProperty(this, RUNNING_JOB_CONTEXT, { value: true });
    Object.freeze(this);
  }

  /** The job state as the {@link JobState} enum. */
  get state(): JobState {
    return parseJobState(this.jobState);
  }

  /** A copy with some fields replaced. */
  with(changes: Partial<Omit<RunningJobContextInit, "jobState">> & { jobState?: string | JobState }): RunningJobContext {
    const { jobState, ...rest } = changes;
    return new RunningJobContext({
      armadaQueue: this.armadaQueue,
      jobId: this.jobId,
      jobSetId: this.jobSetId,
      submitTime: this.submitTime,
      cluster: this.cluster,
      lastLogTime: this.lastLogTime,
      runId: this.runId,
      runNumber: this.runNumber,
      jobState: jobState === undefined ? this.jobState : typeof jobState === "number" ? jobStateName(jobState) : jobState,
      ...rest,
    });
  }

  /** The XCom `job_context` value. */
  toXCom(): JobContextXCom {
    return {
      armada_queue: this.armadaQueue,
      armada_job_id: this.jobId,
      armada_job_set_id: this.jobSetId,
      armada_job_submit_time: this.submitTime.toISOString(),
      armada_job_state: this.jobState,
      armada_job_last_log_time: this.lastLogTime ?? null,
      ...(this.runId
        ? {
            armada_job_run_id: this.runId,
            armada_job_cluster: this.cluster ?? null,
            armada_job_run_number: this.runNumber ?? null,
          }
        : {}),
    };
  }

  /** Reads an XCom `job_context` value back; throws naming the field that is wrong. */
  static fromXCom(value: unknown): RunningJobContext {
    if (!value || typeof value !== "object") throw new ArmadaAirflowError(
      ErrorCode.Serde,
      "job_context: expected an object",
    );
    const v = value as Record<string, unknown>;
    const str = (key: keyof JobContextXCom): string => {
      const x = v[key];
      if (typeof x !== "string" || x === "") throw new ArmadaAirflowError(
        ErrorCode.Serde,
        `job_context.${key}: expected a non-empty string`,
      );
      return x;
    };
    const submit = new Date(str("armada_job_submit_time"));
    if (Number.isNaN(submit.getTime())) throw new ArmadaAirflowError(
      ErrorCode.Serde,
      "job_context.armada_job_submit_time: not a valid time",
    );
    const last = v.armada_job_last_log_time;
    if (last !== null && last !== undefined && typeof last !== "string") {
      throw new ArmadaAirflowError(
        ErrorCode.Serde,
        "job_context.armada_job_last_log_time: expected a string or null",
      );
    }
    const optional = <T>(key: keyof JobContextXCom, type: "string" | "number"): T | undefined => {
      const x = v[key];
      if (x === null || x === undefined) return undefined;
      if (typeof x !== type) throw new ArmadaAirflowError(
        ErrorCode.Serde,
        `job_context.${key}: expected a ${type} or null`,
      );
      return x as T;
    };
    const runId = optional<string>("armada_job_run_id", "string");
    return new RunningJobContext({
      armadaQueue: str("armada_queue"),
      jobId: str("armada_job_id"),
      jobSetId: str("armada_job_set_id"),
      submitTime: submit,
      jobState: str("armada_job_state"),
      lastLogTime: last ?? undefined,
      // The cluster travels only with its run: without the run, it is read again.
      ...(runId
        ? {
            runId,
            cluster: optional<string>("armada_job_cluster", "string"),
            runNumber: optional<number>("armada_job_run_number", "number"),
          }
        : {}),
    });
  }

  /** Serialization payload (all fields, including the cluster). */
  serialize(): Record<string, unknown> {
    return {
      armada_queue: this.armadaQueue,
      job_id: this.jobId,
      job_set_id: this.jobSetId,
      submit_time: this.submitTime.toISOString(),
      cluster: this.cluster ?? null,
      last_log_time: this.lastLogTime ?? null,
      job_state: this.jobState,
      ...(this.runId ? { run_id: this.runId, run_number: this.runNumber ?? null } : {}),
    };
  }

  /** Inverse of {@link RunningJobContext.serialize}; refuses a newer format version. */
  static deserialize(data: Record<string, unknown>, version: number): RunningJobContext {
    if (version > RunningJobContext.version) {
      throw new ArmadaAirflowError(
        ErrorCode.Serde,
        `RunningJobContext: serialized version ${version} is newer than this code understands (${RunningJobContext.version})`,
      );
    }
    return new RunningJobContext({
      armadaQueue: String(data.armada_queue),
      jobId: String(data.job_id),
      jobSetId: String(data.job_set_id),
      submitTime: new Date(String(data.submit_time)),
      cluster: (data.cluster as string | null | undefined) ?? undefined,
      lastLogTime: (data.last_log_time as string | null | undefined) ?? undefined,
      jobState: (data.job_state as string | undefined) ?? "UNKNOWN",
      runId: (data.run_id as string | null | undefined) ?? undefined,
      runNumber: (data.run_number as number | null | undefined) ?? undefined,
    });
  }

  /** True for a context from any copy of this module. */
  static is(value: unknown): value is RunningJobContext {
    return hasBrand(value, RUNNING_JOB_CONTEXT);
  }

  /** Field-wise equality. */
  equals(other: unknown): boolean {
    return (
      RunningJobContext.is(other) &&
      JSON.stringify(this.serialize()) === JSON.stringify(other.serialize())
    );
  }
}

registerSerializable<RunningJobContext>(RunningJobContext.classname, RunningJobContext.version, {
  serialize: (ctx) => ctx.serialize(),
  deserialize: (data, version) => RunningJobContext.deserialize(data as Record<string, unknown>, version),
  is: (obj) => RunningJobContext.is(obj),
});
