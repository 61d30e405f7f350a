/**
 * ArmadaPollJobTrigger: what a deferred ArmadaOperator waits on. It fires
 * one event at the next poll moment; the task then resumes, checks its job
 * and defers again. It holds no job data itself (that lives in XCom), so
 * its serialized form is just the moment.
 */
import { GrpcChannelArgs } from "../client/channel-args.js";
import { BaseTrigger, registerTrigger, TriggerEvent, type TriggerTaskInstance } from "../runtime/trigger.js";
import { TaskInstanceState } from "../runtime/state.js";
import { stderrLogger } from "../runtime/task-logger.js";
import { ArmadaHook, type ArmadaHookApi } from "./hook.js";
import { RunningJobContext } from "./running-job-context.js";
import type { LogSink } from "./task-log.js";

/** The class path the trigger serializes under (the reference's). */
export const POLL_JOB_TRIGGER_CLASSPATH = "armada.triggers.ArmadaPollJobTrigger";

/**
 * A trigger's task instance that can read its XComs.
 * @deprecated every {@link TriggerTaskInstance} can now; use that.
 */
export type XComReadableTaskInstance = TriggerTaskInstance;

/** XCom keys the deferring operator pushes and cleanup reads (the operator's XCOM_KEYS). */
const JOB_CONTEXT_KEY = "job_context";
const CHANNEL_ARGS_KEY = "channel_args";

/** Options not part of the serialized form. */
export interface ArmadaPollJobTriggerOptions {
  /** Builds the hook used to cancel the job on cleanup. @default an ArmadaHook for XCom `channel_args` */
  hookFactory?: (channelArgs: GrpcChannelArgs) => ArmadaHookApi;
  /** Where cleanup reports what it did. */
  log?: LogSink;
}

/**
 * Task states after which the job must not outlive the task: SUCCESS,
 * FAILED (marked by hand), SKIPPED, UPSTREAM_FAILED, REMOVED. Never during a
 * hand-over (DEFERRED) and never UP_FOR_RETRY (the next try may reattach).
 */
const CANCEL_ON: ReadonlySet<string> = new Set<string>([
  TaskInstanceState.SUCCESS,
  TaskInstanceState.FAILED,
  TaskInstanceState.SKIPPED,
  TaskInstanceState.UPSTREAM_FAILED,
  TaskInstanceState.REMOVED,
]);

/** Fires `{moment}` once at `moment`. */
export class ArmadaPollJobTrigger extends BaseTrigger {
  /** Serialization class path. */
  static readonly classpath = POLL_JOB_TRIGGER_CLASSPATH;
  readonly moment: Date;
  private readonly options: ArmadaPollJobTriggerOptions;

  constructor(moment: Date | string | number, options: ArmadaPollJobTriggerOptions = {}) {
    super();
    this.moment = new Date(moment);
    if (Number.isNaN(this.moment.getTime())) {
      throw new TypeError(`ArmadaPollJobTrigger moment must be a valid time, got ${JSON.stringify(moment)}`);
    }
    this.options = { log: stderrLogger, ...options };
  }

  serialize(): [string, Record<string, unknown>] {
    return [POLL_JOB_TRIGGER_CLASSPATH, { moment: this.moment.toISOString() }];
  }

  async *run(): AsyncIterable<TriggerEvent> {
    const wait = this.moment.getTime() - this.clock.nowMs();
    if (wait > 0) await this.clock.sleep(wait, this.signal);
    yield new TriggerEvent({ moment: this.moment.toISOString() });
  }

  /**
   * Cancels the Armada job when the trigger is removed because the task
   * finished without it (marked success or failed, skipped, ...). Re-throws
   * when the task state cannot be read: better to fail loudly than to guess.
   */
  override async cleanup(): Promise<void> {
    // Decided by the task's state alone, fired or not: a kill can land just
    // as the trigger fires, and then the task never resumes to own its job.
    const ti = this.taskInstance;
    if (!ti) return;
    const state = await ti.currentState();
    if (!CANCEL_ON.has(state)) return;
    // Read from the store, not from memory: after a restart (`resume`) this
    // runs in a process that never saw the task defer.
    const rawContext = await ti.xcomPull({ key: JOB_CONTEXT_KEY });
    if (!rawContext) {
      this.options.log?.info(`Task ${ti.taskId} is ${state}; no Armada job in XCom ${JOB_CONTEXT_KEY}, nothing to cancel`);
      return;
    }
    const context = RunningJobContext.fromXCom(rawContext);
    const rawArgs = await ti.xcomPull({ key: CHANNEL_ARGS_KEY });
    if (!rawArgs) {
      this.options.log?.warn(`No channel_args in XCom for ${ti.taskId}; cannot cancel Armada job ${context.jobId}.`);
      return;
    }
    const args = rawArgs instanceof GrpcChannelArgs ? rawArgs : GrpcChannelArgs.deserialize(rawArgs, 1);
    const hook = this.options.hookFactory ? this.options.hookFactory(args) : new ArmadaHook(args, { clock: this.clock });
    this.options.log?.info(
      `Task ${ti.taskId} is ${state}; cancelling Armada job ${context.jobId} in queue ${context.armadaQueue}`,
    );
    await hook.cancelJob(context, this.options.log);
  }

  /** Equal when the moments are equal. */
  equals(other: unknown): boolean {
    return other instanceof ArmadaPollJobTrigger && other.moment.getTime() === this.moment.getTime();
  }
}

registerTrigger(POLL_JOB_TRIGGER_CLASSPATH, (kwargs) => new ArmadaPollJobTrigger(String(kwargs.moment)));
