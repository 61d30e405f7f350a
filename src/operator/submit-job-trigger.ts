/**
 * ArmadaSubmitJobTrigger: what a deferrable ArmadaOperator defers to before
 * its job exists. It submits the job from the triggerer, checks it once,
 * writes the job's context and Lookout link to the task's XCom (as the task
 * would after its own submit), then watches the job as the operator's
 * {@link ArmadaPollJobTrigger} does, firing when the task has something to do.
 *
 * Why: a task that submits holds its task slot until Armada answers, so the
 * submits that can share one `SubmitJobs` call were those of the tasks
 * running at once (16 with Airflow's default `max_active_tasks_per_dag`).
 * Deferred, a task holds no slot, and the submits of every waiting task of
 * a channel, queue and job set share calls of up to 500 items.
 *
 * No duplicate: the item carries the try's client id (deterministic), and a
 * trigger re-created after a crash submits it again, which Armada answers
 * with the job the first submit made (it de-duplicates on the client id
 * within a queue). A submit that fails here fires an event saying so, and
 * the task submits itself, with the same item, so its errors are the task's
 * own (a refused job spec fails the try with the operator's error).
 */
import { crashPoint } from "../common/crash-point.js";
import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { ErrorCode } from "../common/error-code.js";
import { isTerminalJobState, JobState, jobStateName } from "../client/job-states.js";
import { JobSubmitRequestItem } from "../gen/armada/submit.js";
import { BaseTrigger, registerTrigger, TriggerEvent } from "../runtime/trigger.js";
import { stderrLogger } from "../runtime/task-logger.js";
import { interned } from "../runtime/store/interned-strings.js";
import { liveJobsByExternalJobUri, type ArmadaHookApi } from "./hook.js";
import { jobSucceededEvent } from "./job-success-end.js";
import { jobWatchFor, successEndOf, type JobWatchPlan } from "./job-watch-plan.js";
import { jobDetailsSuffix, lookoutUrl, LOOKOUT_URL_XCOM_KEY } from "./links.js";
import { ArmadaPollJobTrigger, CANCEL_ON, type ArmadaPollJobTriggerOptions } from "./poll-job-trigger.js";
import { RunningJobContext } from "./running-job-context.js";
import type { LogSink } from "./task-log.js";
import { channelArgsHook } from "./trigger-hooks.js";

/** The class path the trigger serializes under. */
export const SUBMIT_JOB_TRIGGER_CLASSPATH = "armada.triggers.ArmadaSubmitJobTrigger";

/** XCom keys shared with the operator (its XCOM_KEYS). */
const JOB_CONTEXT_KEY = "job_context";
const CHANNEL_ARGS_KEY = "channel_args";

/** Where and how the job goes, apart from its item (serialized with the trigger: plain JSON). */
export interface ArmadaJobSubmission {
  queue: string;
  jobSetId: string;
  /** The task instance's external job URI (also on the item): how cleanup finds a job another process made. */
  externalJobUri: string;
  /** What the watch after the submit is made from (the operator's settings). */
  plan: JobWatchPlan;
}

/**
 * The payload of the event a failed submit fires (`submit_failed`: why);
 * the task then submits itself. Any other event is the watch's, with the
 * job's context in XCom.
 */
export interface SubmitFailedEvent {
  submit_failed: string;
}

/** See the module comment. */
export class ArmadaSubmitJobTrigger extends BaseTrigger {
  /** Serialization class path. */
  static readonly classpath = SUBMIT_JOB_TRIGGER_CLASSPATH;
  readonly submission: ArmadaJobSubmission;
  /** The item in its JSON form, until submitted (dropped then: a waiting trigger is kept per task). */
  private itemJson: unknown;
  private readonly options: ArmadaPollJobTriggerOptions;
  /** This trigger's submit, once made: the job id, or undefined when it failed. */
  private submitted: Promise<string | undefined> | undefined;
  /** The watch it went on to, once the job was submitted and checked. */
  private watcher: ArmadaPollJobTrigger | undefined;
  /** True once it ended its task itself (the job had succeeded at its first check). */
  private endedTask = false;

  /** @param item the annotated item to submit (its client id set). */
  constructor(
    submission: ArmadaJobSubmission,
    item: JobSubmitRequestItem | StoredItem,
    options: ArmadaPollJobTriggerOptions = NO_OPTIONS,
  ) {
    super();
    checkSubmission(submission);
    this.submission = submission;
    this.itemJson = item instanceof StoredItem ? item.json : JobSubmitRequestItem.toJSON(item);
    this.options = options;
  }

  serialize(): [string, Record<string, unknown>] {
    return [SUBMIT_JOB_TRIGGER_CLASSPATH, { submission: this.submission, item: this.itemJson }];
  }

  async *run(): AsyncGenerator<TriggerEvent> {
    yield await this.submitAndWatch();
  }

  /** The event, without an iterator (see {@link BaseTrigger.firstEvent}). */
  override firstEvent(): Promise<TriggerEvent | undefined> {
    return this.submitAndWatch();
  }

  private get cleanupLog(): LogSink {
    return this.options.log ?? stderrLogger;
  }

  private hookFor(rawArgs: unknown): ArmadaHookApi {
    return channelArgsHook(rawArgs, this.clock, this.options.hookFactory);
  }

  private async submitAndWatch(): Promise<TriggerEvent> {
    this.throwIfCancelled();
    const ti = this.taskInstance;
    const rawArgs = await ti?.xcomPull({ key: CHANNEL_ARGS_KEY });
    if (!ti || !rawArgs) return submitFailed(`no XCom ${CHANNEL_ARGS_KEY} to build the channel from`);
    const s = this.submission;
    let hook: ArmadaHookApi;
    try {
      hook = this.hookFor(rawArgs);
    } catch (err) {
      return submitFailed(errorText(err));
    }
    // Re-created after its runner died once the job was written down: follow that job, submit nothing.
    const known = await ti.xcomPull({ key: JOB_CONTEXT_KEY });
    if (known) return this.follow(hook, RunningJobContext.fromXCom(known), false);
    let item: JobSubmitRequestItem;
    try {
      item = JobSubmitRequestItem.fromJSON(this.itemJson);
    } catch (err) {
      return submitFailed(errorText(err));
    }
    // Removed while it read the store (a mark-failed, say): it must not submit now. Past this line its
    // submit is recorded (synchronously) before a cleanup can look, and the cleanup cancels what it made.
    this.throwIfCancelled();
    crashPoint("armada.before-submit");
    const submit = hook.submitJob({
      queue: s.queue,
      jobSetId: s.jobSetId,
      item,
      externalJobUri: s.externalJobUri,
      log: this.log,
      patient: true,
    });
    this.submitted = submit.then(
      (id) => id,
      () => undefined,
    );
    let jobId: string;
    try {
      jobId = await submit;
    } catch (err) {
      this.log.warn(
        `Submitting from the triggerer failed (${errorText(err)}); the task submits the job itself`,
      );
      return submitFailed(errorText(err));
    }
    this.itemJson = undefined;
    crashPoint("armada.after-submit");
    this.log.info(`Submitted job to Armada with job-id ${jobId}.${jobDetailsSuffix(this.lookoutUrl(jobId))}`);
    const submitted = new RunningJobContext({
      armadaQueue: s.queue,
      jobId,
      jobSetId: s.jobSetId,
      submitTime: this.clock.now(),
    });
    return this.follow(hook, submitted, true);
  }

  /** The job's Lookout link, when the operator has a template. */
  private lookoutUrl(jobId: string): string | undefined {
    const t = this.submission.plan.lookoutUrlTemplate;
    return t ? lookoutUrl(t, jobId) : undefined;
  }

  /**
   * Checks the job once (the task's first check after its submit, made
   * here: the watch's deadlines depend on the state), writes its context
   * to XCom when `publish` (just submitted), then watches it.
   */
  private async follow(hook: ArmadaHookApi, job: RunningJobContext, publish: boolean): Promise<TriggerEvent> {
    const ti = this.taskInstance!;
    const s = this.submission;
    const { jobId } = job;
    const url = this.lookoutUrl(jobId);
    const details = jobDetailsSuffix(url);
    if (!publish) this.log.info(`Following Armada job ${jobId}, submitted earlier by this try.${details}`);
    let state: JobState = job.state;
    try {
      state = await hook.getJobState(jobId);
    } catch (err) {
      this.log.warn(
        `Status check of Armada job ${jobId} failed (${errorText(err)}); watching it from ${jobStateName(state)}`,
      );
    }
    if (state !== job.state)
      this.log.info(`Armada job ${jobId} is in state: ${jobStateName(state)}.${details}`);
    if (publish) {
      if (!ti.xcomPush) return new TriggerEvent({ job_id: jobId, job_state: jobStateName(state) });
      // Handed in together, so they share a commit.
      await Promise.all([
        url ? ti.xcomPush(LOOKOUT_URL_XCOM_KEY, url) : undefined,
        ti.xcomPush(JOB_CONTEXT_KEY, job.with({ jobState: state }).toXCom()),
      ]);
    }
    if (!isTerminalJobState(state)) crashPoint("armada.polling");
    this.throwIfCancelled();
    const now = this.clock.nowMs();
    const submitMs = job.submitTime.getTime();
    const end = successEndOf(s.plan);
    if (state === JobState.SUCCEEDED && end) {
      // Done already (a short job, or a trigger re-created late): the task ends here, as the watch would end it.
      this.endedTask = true;
      hook.forgetJob(jobId);
      return jobSucceededEvent(
        end,
        { jobId, queue: s.queue, jobSetId: s.jobSetId, detailsUrl: url },
        this.log,
      );
    }
    const watch = isTerminalJobState(state)
      ? undefined
      : jobWatchFor(s.plan, { jobId, state, submitMs, queue: s.queue, jobSetId: s.jobSetId }, now);
    // Ended already, or a running job whose log the task streams: the task resumes now.
    if (!watch)
      return new TriggerEvent({ moment: new Date(now).toISOString(), job_state: jobStateName(state) });
    const watcher = new ArmadaPollJobTrigger(now + s.plan.pollIntervalS * 1000, this.options, watch);
    watcher.clock = this.clock;
    watcher.log = this.log;
    watcher.taskInstance = ti;
    this.watcher = watcher;
    // Returned, not awaited: this frame ends here instead of staying suspended beside every waiting watch.
    return watcher.firstEvent() as Promise<TriggerEvent>;
  }

  /** Removed: ends the watch it went on to (a submit in flight is awaited by cleanup). */
  protected override onCancel(reason: unknown): void {
    this.watcher?.cancel(reason);
  }

  /**
   * Cancels the job when the task finished without it (marked failed,
   * say), as the poll trigger's cleanup does. The job is the one this
   * trigger submitted (its submit awaited if still out), else the one in
   * XCom, else (a trigger re-created after its runner died) any live job
   * carrying the task instance's external job URI: an earlier process may
   * have submitted it and died before writing it down.
   */
  override async cleanup(): Promise<void> {
    const ti = this.taskInstance;
    // Its job succeeded and this trigger (or the watch it went on to) ended the task: nothing to cancel.
    if (!ti || this.endedTask || this.watcher?.endedItsTask) return;
    const state = await ti.currentState();
    if (!CANCEL_ON.has(state)) return;
    const s = this.submission;
    const submittedHere = await this.submitted;
    const rawContext = submittedHere ? undefined : await ti.xcomPull({ key: JOB_CONTEXT_KEY });
    const rawArgs = await ti.xcomPull({ key: CHANNEL_ARGS_KEY });
    if (!rawArgs) {
      this.cleanupLog.warn(`No channel_args in XCom for ${ti.taskId}; cannot cancel its Armada job.`);
      return;
    }
    const hook = this.hookFor(rawArgs);
    const jobId = submittedHere ?? (rawContext ? RunningJobContext.fromXCom(rawContext).jobId : undefined);
    const jobIds =
      jobId !== undefined
        ? [jobId]
        : (await liveJobsByExternalJobUri(hook, s.queue, s.jobSetId, s.externalJobUri)).map((j) => j.jobId);
    if (jobIds.length === 0) {
      this.cleanupLog.info(`Task ${ti.taskId} is ${state}; no Armada job of it to cancel`);
      return;
    }
    for (const id of jobIds) {
      this.cleanupLog.info(`Task ${ti.taskId} is ${state}; cancelling Armada job ${id} in queue ${s.queue}`);
      const context = new RunningJobContext({
        armadaQueue: s.queue,
        jobId: id,
        jobSetId: s.jobSetId,
        submitTime: this.clock.now(),
      });
      await hook.cancelJob(context, this.cleanupLog);
      crashPoint("armada.cancelling");
    }
  }

  /** Equal when submissions and items are equal. */
  equals(other: unknown): boolean {
    return (
      other instanceof ArmadaSubmitJobTrigger &&
      JSON.stringify(other.serialize()) === JSON.stringify(this.serialize())
    );
  }
}

function submitFailed(why: string): TriggerEvent<SubmitFailedEvent> {
  return new TriggerEvent({ submit_failed: why });
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** An item in its stored JSON form (`JobSubmitRequestItem.toJSON`), parsed only when submitted. */
class StoredItem {
  constructor(readonly json: unknown) {}
}

const NO_OPTIONS: ArmadaPollJobTriggerOptions = Object.freeze({});

function checkSubmission(s: ArmadaJobSubmission): void {
  const name = (v: unknown) => typeof v === "string" && v !== "";
  const bad = (field: string, want: string) => {
    throw new ArmadaAirflowError(
      ErrorCode.InvalidArgument,
      `ArmadaSubmitJobTrigger submission.${field} must be ${want}, got ${JSON.stringify(s)}`,
    );
  };
  if (typeof s !== "object" || s === null) bad("", "an object");
  if (!name(s.queue)) bad("queue", "a non-empty string");
  if (!name(s.jobSetId)) bad("jobSetId", "a non-empty string");
  if (!name(s.externalJobUri)) bad("externalJobUri", "a non-empty string");
  const p = s.plan as JobWatchPlan | undefined;
  if (typeof p !== "object" || p === null) bad("plan", "an object");
  if (!(typeof p!.pollIntervalS === "number" && p!.pollIntervalS > 0))
    bad("plan.pollIntervalS", "a number > 0");
  if (!(typeof p!.ackTimeoutS === "number" && p!.ackTimeoutS > 0)) bad("plan.ackTimeoutS", "a number > 0");
}

/** Plans by JSON text: the triggers of one operator share one (a runner keeps one per waiting task otherwise). */
let sharedPlans = new Map<string, JobWatchPlan>();

/** The submission parsed from a stored row, its repeated parts shared with the other triggers'. */
function sharedSubmission(raw: unknown): ArmadaJobSubmission {
  if (typeof raw !== "object" || raw === null) return raw as ArmadaJobSubmission;
  const s = raw as ArmadaJobSubmission;
  const key = JSON.stringify(s.plan);
  let plan = sharedPlans.get(key);
  if (!plan) {
    if (sharedPlans.size >= 256) sharedPlans = new Map();
    plan = s.plan;
    sharedPlans.set(key, plan);
  }
  return {
    queue: typeof s.queue === "string" ? interned(s.queue) : s.queue,
    jobSetId: typeof s.jobSetId === "string" ? interned(s.jobSetId) : s.jobSetId,
    externalJobUri: s.externalJobUri,
    plan,
  };
}

registerTrigger(SUBMIT_JOB_TRIGGER_CLASSPATH, (kwargs) => {
  const item = kwargs.item;
  if (typeof item !== "object" || item === null) {
    throw new ArmadaAirflowError(
      ErrorCode.InvalidArgument,
      "ArmadaSubmitJobTrigger item must be a job item object",
    );
  }
  return new ArmadaSubmitJobTrigger(sharedSubmission(kwargs.submission), new StoredItem(item));
});
