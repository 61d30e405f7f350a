/**
 * ArmadaPollJobTrigger: what a deferred ArmadaOperator waits on. The
 * reference's fires one event at the next poll moment; the task then
 * resumes, checks its job and defers again, once per poll. Given a
 * {@link ArmadaJobWatch} (the operator always gives one, except while it
 * streams a running job's log), it instead checks the job itself, batched
 * with every other waiting job, and fires only when the task has something
 * to do. With event-stream tracking (`watch.tracking: "events"`) it does not
 * poll at all: its job set's shared event stream wakes it when its job
 * moves, and one batched status call confirms before it fires. Job data
 * lives in XCom, so the serialized form is the moment and the watch.
 */
import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { ErrorCode } from "../common/error-code.js";
import { crashPoint } from "../common/crash-point.js";
import { GrpcChannelArgs } from "../client/channel-args.js";
import { BaseTrigger, registerTrigger, TriggerEvent } from "../runtime/trigger.js";
import { TaskInstanceState } from "../runtime/state.js";
import { stderrLogger } from "../runtime/task-logger.js";
import type { ArmadaHookApi } from "./hook.js";
import { channelArgsHook } from "./trigger-hooks.js";
import { RunningJobContext } from "./running-job-context.js";
import { TERMINAL_JOB_STATES, isTerminalJobState, jobStateName } from "../client/job-states.js";
import type { JobEventSubscription } from "./job-set-watch.js";
import type { LogSink } from "./task-log.js";
import { momentAlarms, type AlarmListener } from "../common/moment-alarms.js";
import { interned } from "../runtime/store/interned-strings.js";
import { jobSucceededEvent, type JobSuccessEnd } from "./job-success-end.js";
import { jobDetailsSuffix } from "./links.js";

/** The class path the trigger serializes under (the reference's). */
export const POLL_JOB_TRIGGER_CLASSPATH = "armada.triggers.ArmadaPollJobTrigger";

/** XCom keys the deferring operator pushes and cleanup reads (the operator's XCOM_KEYS). */
const JOB_CONTEXT_KEY = "job_context";
const CHANNEL_ARGS_KEY = "channel_args";

/**
 * What a watching trigger waits for (serialized with the trigger, under
 * `watch`; a trigger without it fires at its moment, as the reference's).
 * From its moment on, it checks the job's state once per poll interval
 * through the channel's shared status batcher (one `GetJobStatus` for every
 * job the process waits on) and fires only when the state differs from
 * `lastState`, is final, or `untilMs` has come. So a job that waits or runs
 * for an hour costs its task one resume per state change, not one per poll.
 */
export interface ArmadaJobWatch {
  jobId: string;
  /** The state the operator last saw (a JobState name, e.g. `RUNNING`). */
  lastState: string;
  /** Seconds between checks. */
  pollIntervalS: number;
  /**
   * Fire by then whatever the state: the operator's own deadlines (and,
   * without `quietS`, a progress line now and then).
   */
  untilMs: number;
  /**
   * Seconds the trigger waits with nothing new before it checks the job
   * itself (one batched status call, which a lost event cannot defeat) and
   * says in the task's log that it is still waiting; it fires only if that
   * check finds something worth a resume. Absent (triggers deferred by
   * earlier versions): `untilMs` holds this moment and the task resumes at it.
   * Resuming every waiting task every few minutes was more than a runner can
   * do at 100,000 tasks: the resumes took every task slot, and no new task
   * started.
   */
  quietS?: number;
  /**
   * `events`: woken by the job set's shared event stream from the start
   * (not from the moment), falling back to polling when the stream cannot be
   * kept. Absent: polling. Needs `queue` and `jobSetId`.
   */
  tracking?: "events";
  /** The job's queue (event-stream tracking). */
  queue?: string;
  /** The job's job set (event-stream tracking). */
  jobSetId?: string;
  /** The job's page (Lookout), named in the trigger's state-change lines as the operator names it in its own. */
  detailsUrl?: string;
  /**
   * Fire on every change of state, forward steps too: the task follows the
   * job's container log, which it must start reading once the job runs.
   * Absent: a step forward through the active states is only logged.
   */
  resumeOnEveryChange?: boolean;
  /**
   * End the task when the job's SUCCEEDED is confirmed (a status call, in either mode), with the result the
   * resumed task would have returned, instead of resuming it (`[armada_operator] end_from_trigger`). Needs
   * `queue` and `jobSetId`.
   */
  endOnSuccess?: JobSuccessEnd;
}

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
export const CANCEL_ON: ReadonlySet<string> = new Set<string>([
  TaskInstanceState.SUCCESS,
  TaskInstanceState.FAILED,
  TaskInstanceState.SKIPPED,
  TaskInstanceState.UPSTREAM_FAILED,
  TaskInstanceState.REMOVED,
]);

/** The options of a trigger re-created from its stored form: one object for all of them. */
const NO_OPTIONS: ArmadaPollJobTriggerOptions = Object.freeze({});

/** Fires `{moment}` once at `moment`. */
export class ArmadaPollJobTrigger extends BaseTrigger implements AlarmListener {
  /** Serialization class path. */
  static readonly classpath = POLL_JOB_TRIGGER_CLASSPATH;
  /** The moment in epoch milliseconds: a number, not a Date (about 100 bytes), is kept per waiting trigger. */
  private readonly momentMs: number;
  /** Set when the trigger watches the job instead of firing at its moment. */
  readonly watch: ArmadaJobWatch | undefined;
  private readonly options: ArmadaPollJobTriggerOptions;
  /** The moment this trigger's alarm is set for (see `wakeAt`), while it is. */
  private alarmAtMs: number | undefined;
  /** Resolves the pending `wakeAt` wait: true for an event, false for the alarm. */
  private waiter: ((woke: boolean) => void) | undefined;
  /** Rejects the pending `wakeAt` wait: the trigger was removed. */
  private waiterFailed: ((reason: unknown) => void) | undefined;
  /** What its subscription calls at an event; made once, on the first wait for events. */
  private eventWake: (() => void) | undefined;
  /** While it follows its job set's events: where it is (see {@link followEvents}). */
  private following: EventFollowing | undefined;
  /** See {@link endedItsTask}. */
  private endedTask = false;

  constructor(
    moment: Date | string | number,
    options: ArmadaPollJobTriggerOptions = NO_OPTIONS,
    watch?: ArmadaJobWatch,
  ) {
    super();
    this.momentMs = new Date(moment).getTime();
    if (Number.isNaN(this.momentMs)) {
      throw new ArmadaAirflowError(
        ErrorCode.InvalidArgument,
        `ArmadaPollJobTrigger moment must be a valid time, got ${JSON.stringify(moment)}`,
      );
    }
    if (watch !== undefined) checkWatch(watch);
    this.watch = watch;
    this.options = options;
  }

  /** When it fires (without a watch) or first checks its job. */
  get moment(): Date {
    return new Date(this.momentMs);
  }

  /** Where cleanup reports (the options' log, else stderr): not copied into each trigger's options. */
  private get cleanupLog(): LogSink {
    return this.options.log ?? stderrLogger;
  }

  serialize(): [string, Record<string, unknown>] {
    return [
      POLL_JOB_TRIGGER_CLASSPATH,
      { moment: this.moment.toISOString(), ...(this.watch ? { watch: { ...this.watch } } : {}) },
    ];
  }

  /**
   * One event, then the end. Not an async generator: a waiting trigger is
   * kept per deferred task, and the generator's suspended frame (with its
   * request queue and the await into `followEvents`) was a frame more per
   * task; `followEvents` waits alone.
   */
  run(): AsyncIterable<TriggerEvent> {
    return onlyEvent(() => this.fire());
  }

  /**
   * The event, without the iterator `run()` wraps it in (the triggerer's
   * way: see {@link BaseTrigger.firstEvent}); through `run()` when a
   * subclass overrides it.
   */
  override firstEvent(): Promise<TriggerEvent | undefined> {
    if (this.run !== ArmadaPollJobTrigger.prototype.run) return super.firstEvent();
    return this.fire();
  }

  private fire(): Promise<TriggerEvent> {
    const watch = this.watch;
    if (watch?.tracking !== "events") return this.pollOrWait(watch);
    // One promise for the whole wait, not one per step: it is kept per waiting task.
    return new Promise<TriggerEvent>((resolve, reject) => {
      this.watchHook().then((hook) => {
        try {
          const sub = hook?.watchJobEvents?.(watch.queue!, watch.jobSetId!, watch.jobId);
          if (hook && sub) this.followEvents(watch, hook, sub, resolve, reject);
          // No stream for this job (no watch on the server, at the cap, given up): poll from the moment.
          else this.pollOrWait(watch).then(resolve, reject);
        } catch (err) {
          reject(err);
        }
      }, reject);
    });
  }

  /** Fires at the moment (no watch), or checks the job from its first poll moment on. */
  private async pollOrWait(watch: ArmadaJobWatch | undefined): Promise<TriggerEvent> {
    if (!watch) {
      await this.wakeAt(this.momentMs);
      return new TriggerEvent({ moment: this.moment.toISOString() });
    }
    // The hook first: it says when in each interval this job's poll round is (its phase).
    const hook = await this.watchHook();
    const phaseMs = hook?.pollPhaseMs?.(watch.jobId, watch.pollIntervalS * 1000) ?? 0;
    await this.wakeAt(firstWatchCheckAt(this.momentMs, watch, phaseMs));
    if (hook) return this.event(await this.watchJob(watch, hook), hook);
    return new TriggerEvent({ moment: this.moment.toISOString() });
  }

  /**
   * The event for the job's state as checked: the task's end when the job
   * succeeded and the watch says to end it here (the job's tracking by
   * `hook` ends with it: nobody will ask again), else a resume.
   */
  private event(jobState: string, hook?: ArmadaHookApi): TriggerEvent {
    const watch = this.watch;
    if (jobState === "SUCCEEDED" && watch?.endOnSuccess && watch.queue && watch.jobSetId) {
      this.endedTask = true;
      hook?.forgetJob(watch.jobId);
      this.log.info(`Armada job ${watch.jobId} is in state: SUCCEEDED.${detailsSuffix(watch)}`);
      return jobSucceededEvent(
        watch.endOnSuccess,
        { jobId: watch.jobId, queue: watch.queue, jobSetId: watch.jobSetId, detailsUrl: watch.detailsUrl },
        this.log,
      );
    }
    return new TriggerEvent({ moment: this.moment.toISOString(), job_state: jobState });
  }

  /** True once this trigger ended its task (its job succeeded): its cleanup has no job to cancel. */
  get endedItsTask(): boolean {
    return this.endedTask;
  }

  /** The hook of the task's channel (XCom `channel_args`), or undefined when it cannot be read. */
  private async watchHook(): Promise<ArmadaHookApi | undefined> {
    const rawArgs = await this.taskInstance?.xcomPull({ key: CHANNEL_ARGS_KEY });
    if (!rawArgs) return undefined; // the task resumes and checks the job itself
    return this.hookFor(rawArgs);
  }

  /** The hook of the channel in `rawArgs` (XCom `channel_args`), with the task's configured call settings. */
  private hookFor(rawArgs: unknown): ArmadaHookApi {
    return channelArgsHook(rawArgs, this.clock, this.options.hookFactory);
  }

  /**
   * Checks the job once per poll interval until its state is worth a resume;
   * returns that state's name. Poll moments are aligned on multiples of the
   * interval plus the phase of the job's group (the hook's `pollPhaseMs`), so
   * the triggers of a group check in the same instant and the batcher makes
   * one call for all of them; with more jobs than one call holds, the groups'
   * calls are spread over the interval. A failed check resumes the
   * task, whose own status check decides (it retries transient errors).
   */
  private async watchJob(
    watch: ArmadaJobWatch,
    hook: ArmadaHookApi,
    checkFirst = true,
    lastSeen = watch.lastState,
  ): Promise<string> {
    const intervalMs = watch.pollIntervalS * 1000;
    hook.trackJob?.(watch.jobId);
    const phaseMs = hook.pollPhaseMs?.(watch.jobId, intervalMs) ?? 0;
    if (!checkFirst) {
      await this.wakeAt(alignedMoment(this.clock.nowMs(), intervalMs, watch.untilMs, phaseMs));
    }
    let seen = lastSeen;
    let quietAt = nextQuietAt(watch, this.clock.nowMs());
    for (;;) {
      let state: string;
      try {
        state = jobStateName(await hook.getJobState(watch.jobId));
      } catch (e) {
        this.checkFailed(watch.jobId, e);
        return seen;
      }
      const now = this.clock.nowMs();
      if (this.worthResuming(watch, seen, state) || now >= watch.untilMs) return state;
      if (now >= quietAt) {
        this.stillWaiting(watch, state);
        quietAt = nextQuietAt(watch, now);
      }
      seen = state;
      await this.wakeAt(alignedMoment(now, intervalMs, watch.untilMs, phaseMs));
    }
  }

  /** The quiet check-in's line in the task's log: the job is as it was, and the trigger waits on. */
  private stillWaiting(watch: ArmadaJobWatch, state: string): void {
    this.log.info(
      `Armada job ${watch.jobId} is still in state: ${state}; waiting on.${detailsSuffix(watch)}`,
    );
  }

  /** Says in the task's log why it resumes without a new state. */
  private checkFailed(jobId: string, e: unknown): void {
    const why = e instanceof Error ? e.message : String(e);
    this.log.warn(`Checking Armada job ${jobId} failed (${why}); resuming the task, whose own check decides`);
  }

  /**
   * Whether the task must resume for `state` (the job was last seen in
   * `seen`): a final state, or any move but a step forward through the active
   * states. A step forward (QUEUED to RUNNING, say) asks nothing of the task
   * (its deadlines only get further away), so the trigger logs it in the task's
   * log, as the operator would, and goes on waiting: one resume per job
   * instead of one per state it passes through.
   */
  private worthResuming(watch: ArmadaJobWatch, seen: string, state: string): boolean {
    if (FINAL_JOB_STATES.has(state)) return true;
    if (state === seen) return false;
    if (watch.resumeOnEveryChange) return true;
    const from = PROGRESS_ORDER.indexOf(seen);
    if (from < 0 || PROGRESS_ORDER.indexOf(state) <= from) return true;
    this.log.info(`Armada job ${watch.jobId} is in state: ${state}.${detailsSuffix(watch)}`);
    return false;
  }

  /**
   * Event-stream tracking: waits for its job's events and confirms with one
   * batched status call (of the jobs woken now, not every tracked one)
   * whenever an event says the job moved from `lastState` or ended; fires
   * on the confirmed state only. An event the query API does not bear out
   * yet (it lags the stream, or the event was wrong) is checked again after
   * 1 s, doubling up to the poll interval, until the two agree or another
   * event comes. `untilMs` still bounds the wait, so even a lost event only
   * delays the task. When the stream is given up, polls as without it.
   *
   * Steps driven by its alarm, its subscription and its checks' answers,
   * not an async function: a suspended async frame and the promises awaiting
   * it were about a kilobyte of each of (up to 100,000) waiting tasks.
   * Settles through `resolve`/`reject`, and leaves the subscription then.
   */
  private followEvents(
    watch: ArmadaJobWatch,
    hook: ArmadaHookApi,
    sub: JobEventSubscription,
    resolve: (event: TriggerEvent) => void,
    reject: (reason: unknown) => void,
  ): void {
    if (this.isCancelled) {
      sub.close();
      return this.rejectCancelled(reject);
    }
    // An event read before this trigger joined (the job moved while its task deferred).
    const check = moved(sub, watch.lastState);
    // A stream that began at a resume point may have read this job's end before this trigger joined
    // (and no longer knows it): check once at the aligned poll moment, shared with the other triggers.
    const recheckAt = check || sub.sawEveryEvent ? Infinity : firstWatchCheckAt(this.momentMs, watch);
    const f = new EventFollowing(watch, hook, sub, resolve, reject, check, recheckAt);
    f.quietAt = nextQuietAt(watch, this.clock.nowMs());
    this.following = f;
    this.followStep(f);
  }

  /** The loop's top: polls once the stream is given up, checks when due, else waits. */
  private followStep(f: EventFollowing): void {
    this.guarded(f, () => this.followStepUnguarded(f));
  }

  /**
   * Runs a step; a step that throws (a hook that throws instead of
   * rejecting, say) fails this trigger alone. Steps run from the clock's
   * alarms and the stream's callbacks, which must not see it.
   */
  private guarded(f: EventFollowing, step: () => void): void {
    try {
      step();
    } catch (err) {
      this.followFailed(f, err);
    }
  }

  private followStepUnguarded(f: EventFollowing): void {
    if (this.following !== f) return;
    const { watch } = f;
    if (f.sub.fallenBack) {
      // Polls on from the state this trigger last saw (and logged), not the deferral's.
      this.watchJob(watch, f.hook, false, f.seen).then(
        (state) => this.followEnd(f, state),
        (err: unknown) => this.followFailed(f, err),
      );
      return;
    }
    const now = this.clock.nowMs();
    const quiet = now >= f.quietAt;
    if (!(f.check || now >= f.recheckAt || now >= watch.untilMs || quiet)) return this.followWait(f);
    f.check = false;
    f.hook.getJobState(watch.jobId, { alone: true }).then(
      (found) => this.guarded(f, () => this.followChecked(f, jobStateName(found), quiet)),
      (e: unknown) => {
        if (this.following !== f) return;
        this.checkFailed(watch.jobId, e);
        this.followEnd(f, f.seen); // the task's own check decides (it retries transient errors)
      },
    );
  }

  /** A check found the job in `found`: fires, or waits on (rechecking soon if the stream says otherwise). */
  private followChecked(f: EventFollowing, found: string, quiet: boolean): void {
    if (this.following !== f) return;
    const { watch } = f;
    if (this.worthResuming(watch, f.seen, found) || this.clock.nowMs() >= watch.untilMs) {
      return this.followEnd(f, found);
    }
    if (quiet) {
      this.stillWaiting(watch, found);
      f.quietAt = nextQuietAt(watch, this.clock.nowMs());
    }
    f.seen = found;
    if (moved(f.sub, f.seen)) {
      const intervalMs = watch.pollIntervalS * 1000;
      f.recheckMs = f.recheckMs === 0 ? FIRST_RECHECK_MS : Math.min(f.recheckMs * 2, intervalMs);
      // Aligned, so the rechecks of many triggers share one call.
      const at = this.clock.nowMs() + f.recheckMs;
      f.recheckAt = Math.ceil(at / f.recheckMs) * f.recheckMs;
    } else {
      f.recheckMs = 0;
      f.recheckAt = Infinity;
    }
    this.followWait(f);
  }

  /**
   * Waits for the next due moment or the job's next event (see {@link wakeAt};
   * the same alarm and subscription callback, with no promise): {@link wake}
   * takes the next step.
   */
  private followWait(f: EventFollowing): void {
    const atMs = Math.min(f.recheckAt, f.watch.untilMs, f.quietAt);
    if (atMs <= this.clock.nowMs()) return this.followStep(f);
    this.setAlarm(atMs);
    f.waiting = true;
    f.sub.onNext((this.eventWake ??= () => this.wake(true)));
  }

  /** Fires on `state`; the stream is kept a while when the task will likely defer again (a move, not an end). */
  private followEnd(f: EventFollowing, state: string): void {
    if (this.following !== f) return;
    this.following = undefined;
    this.clearAlarm();
    f.sub.close({ linger: !FINAL_JOB_STATES.has(state) });
    f.resolve(this.event(state, f.hook));
  }

  private followFailed(f: EventFollowing, err: unknown): void {
    if (this.following !== f) return;
    this.following = undefined;
    this.clearAlarm();
    f.sub.close();
    f.reject(err);
  }

  /** Rejects with the reason the trigger was removed with. */
  private rejectCancelled(reject: (reason: unknown) => void): void {
    try {
      this.throwIfCancelled();
    } catch (reason) {
      reject(reason);
    }
  }

  /**
   * Waits until `atMs` on the clock (false) or, given `sub`, its next event
   * (true); rejects with the reason when the trigger is (or was) removed.
   * Neither a sleep nor a promise per trigger: the clock's shared
   * alarm of the moment (moments are aligned on the poll interval, so
   * thousands of triggers share one) and a callback on the subscription. The
   * alarm is kept across the event wake-ups before its moment (a job's
   * every event wakes its trigger, and the moment is mostly the same next
   * check-in), and left when the trigger waits for another moment or is removed.
   */
  private wakeAt(atMs: number, sub?: JobEventSubscription): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.throwIfCancelled(); // thrown in the executor: the wait rejects
      if (atMs <= this.clock.nowMs()) return resolve(false);
      this.setAlarm(atMs);
      this.waiter = resolve;
      this.waiterFailed = reject;
      sub?.onNext((this.eventWake ??= () => this.wake(true)));
    });
  }

  /** Sets the alarm for `atMs`, leaving the one set before (kept when it is the same moment). */
  private setAlarm(atMs: number): void {
    if (this.alarmAtMs === atMs) return;
    const alarms = momentAlarms(this.clock);
    if (this.alarmAtMs !== undefined) alarms.delete(this.alarmAtMs, this);
    this.alarmAtMs = atMs;
    alarms.add(atMs, this);
  }

  private clearAlarm(): void {
    if (this.alarmAtMs !== undefined) momentAlarms(this.clock).delete(this.alarmAtMs, this);
    this.alarmAtMs = undefined;
  }

  /** The alarm of `atMs` rang (the clock's {@link MomentAlarms} calls it); not for other callers. */
  ring(atMs: number): void {
    if (this.alarmAtMs === atMs) this.alarmAtMs = undefined;
    this.wake(false);
  }

  /** Ends the pending wait: `wakeAt`'s promise, or the event follow's (its next step). */
  private wake(byEvent: boolean): void {
    const waiter = this.waiter;
    this.waiter = this.waiterFailed = undefined;
    if (waiter) return waiter(byEvent);
    const f = this.following;
    if (!f?.waiting) return;
    f.waiting = false;
    if (byEvent) f.check = moved(f.sub, f.seen);
    this.followStep(f);
  }

  /** Removed: leaves its alarm and ends its wait with `reason`. */
  protected override onCancel(reason: unknown): void {
    this.clearAlarm();
    const fail = this.waiterFailed;
    this.waiter = this.waiterFailed = undefined;
    fail?.(reason);
    const f = this.following;
    if (f) {
      this.following = undefined;
      f.sub.close();
      f.reject(reason);
    }
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
    // Its job succeeded and this trigger ended the task (or a mark-failed won the race): nothing to cancel.
    if (!ti || this.endedTask) return;
    const state = await ti.currentState();
    if (!CANCEL_ON.has(state)) return;
    // Read from the store, not from memory: after a restart (`resume`) this
    // runs in a process that never saw the task defer.
    const rawContext = await ti.xcomPull({ key: JOB_CONTEXT_KEY });
    if (!rawContext) {
      this.cleanupLog.info(
        `Task ${ti.taskId} is ${state}; no Armada job in XCom ${JOB_CONTEXT_KEY}, nothing to cancel`,
      );
      return;
    }
    const context = RunningJobContext.fromXCom(rawContext);
    const rawArgs = await ti.xcomPull({ key: CHANNEL_ARGS_KEY });
    if (!rawArgs) {
      this.cleanupLog.warn(
        `No channel_args in XCom for ${ti.taskId}; cannot cancel Armada job ${context.jobId}.`,
      );
      return;
    }
    const hook = this.hookFor(rawArgs);
    this.cleanupLog.info(
      `Task ${ti.taskId} is ${state}; cancelling Armada job ${context.jobId} in queue ${context.armadaQueue}`,
    );
    await hook.cancelJob(context, this.cleanupLog);
    crashPoint("armada.cancelling");
  }

  /** Equal when the moments (and watches) are equal. */
  equals(other: unknown): boolean {
    return (
      other instanceof ArmadaPollJobTrigger &&
      other.momentMs === this.momentMs &&
      JSON.stringify(other.watch) === JSON.stringify(this.watch)
    );
  }
}

/** Whether the latest event of the job says it moved from `seen` (or ended). */
function moved(sub: JobEventSubscription, seen: string): boolean {
  const hint = sub.eventState;
  return hint !== undefined && (jobStateName(hint) !== seen || isTerminalJobState(hint));
}

/** Where a trigger following its job set's events is, between its steps. */
class EventFollowing {
  /** The state this trigger last saw (and logged). */
  seen: string;
  /** The next quiet check-in (see `nextQuietAt`). */
  quietAt = Infinity;
  /** The delay of the last recheck after an event not yet borne out (0: none pending). */
  recheckMs = 0;
  /** True while it waits for its alarm or an event. */
  waiting = false;

  constructor(
    readonly watch: ArmadaJobWatch,
    readonly hook: ArmadaHookApi,
    readonly sub: JobEventSubscription,
    readonly resolve: (event: TriggerEvent) => void,
    readonly reject: (reason: unknown) => void,
    /** Check the job at the next step: an event said it moved. */
    public check: boolean,
    /** Check the job at this moment (an event not yet borne out, or a stream that began at a resume point). */
    public recheckAt: number,
  ) {
    this.seen = watch.lastState;
  }
}

/**
 * An iterable of the one event `fire` resolves to (`for await` sees it,
 * then the end), without a generator frame of its own.
 */
function onlyEvent(fire: () => Promise<TriggerEvent>): AsyncIterable<TriggerEvent> {
  return {
    [Symbol.asyncIterator]() {
      let started = false;
      const end = (): Promise<IteratorResult<TriggerEvent>> => {
        started = true;
        return Promise.resolve({ done: true, value: undefined });
      };
      return {
        next: () => {
          if (started) return end();
          started = true;
          return fire().then((value) => ({ done: false, value }));
        },
        return: end,
      };
    },
  };
}

/** The active states in the order a job passes through them. */
const PROGRESS_ORDER: readonly string[] = ["UNKNOWN", "SUBMITTED", "QUEUED", "LEASED", "PENDING", "RUNNING"];

/** First recheck after an event the query API did not bear out yet. */
const FIRST_RECHECK_MS = 1000;

/** After `now`, the next multiple of the interval plus `phaseMs` (or `untilMs`, when sooner). */
function alignedMoment(now: number, intervalMs: number, untilMs: number, phaseMs = 0): number {
  return Math.min((Math.floor((now - phaseMs) / intervalMs) + 1) * intervalMs + phaseMs, untilMs);
}

/** The job's page, as the operator names it at the end of its state lines (empty without one). */
function detailsSuffix(watch: ArmadaJobWatch): string {
  return jobDetailsSuffix(watch.detailsUrl);
}

/**
 * The next quiet check-in after `now` (Infinity without `quietS`): on a
 * multiple of the poll interval, so the check-ins of tasks that deferred
 * near each other share one status call; never sooner than an interval.
 */
function nextQuietAt(watch: ArmadaJobWatch, now: number): number {
  if (watch.quietS === undefined) return Infinity;
  const intervalMs = watch.pollIntervalS * 1000;
  const quietMs = Math.max(watch.quietS * 1000, intervalMs);
  return Math.floor((now + quietMs) / intervalMs) * intervalMs;
}

/**
 * When a watching trigger checks first: at the poll moment (of its job's
 * phase) nearest its own `moment` (within half an interval of it), not at the
 * moment itself.
 * Tasks defer a few milliseconds apart; checking at their own moments made
 * one status call per group of tasks, where an aligned first check joins the
 * round every other watching trigger of the process checks in.
 */
function firstWatchCheckAt(moment: number, watch: ArmadaJobWatch, phaseMs = 0): number {
  const intervalMs = watch.pollIntervalS * 1000;
  const aligned = Math.ceil((moment - phaseMs - intervalMs / 2) / intervalMs) * intervalMs + phaseMs;
  return Math.min(aligned, watch.untilMs);
}

const FINAL_JOB_STATES: ReadonlySet<string> = new Set([...TERMINAL_JOB_STATES].map((s) => jobStateName(s)));

function checkWatch(w: ArmadaJobWatch): void {
  const bad = (field: string, want: string) => {
    throw new ArmadaAirflowError(
      ErrorCode.InvalidArgument,
      `ArmadaPollJobTrigger watch.${field} must be ${want}, got ${JSON.stringify(w)}`,
    );
  };
  if (typeof w !== "object" || w === null) bad("", "an object");
  if (typeof w.jobId !== "string" || w.jobId === "") bad("jobId", "a non-empty string");
  if (typeof w.lastState !== "string") bad("lastState", "a job state name");
  if (!(typeof w.pollIntervalS === "number" && w.pollIntervalS > 0)) bad("pollIntervalS", "a number > 0");
  if (!Number.isFinite(w.untilMs)) bad("untilMs", "a time in epoch milliseconds");
  if (w.quietS !== undefined && !(typeof w.quietS === "number" && w.quietS > 0 && Number.isFinite(w.quietS)))
    bad("quietS", "a number of seconds > 0 or absent");
  if (w.tracking !== undefined) {
    if (w.tracking !== "events") bad("tracking", '"events" or absent');
    const name = (v: unknown) => typeof v === "string" && v !== "";
    if (!name(w.queue)) bad("queue", "a non-empty string with tracking events");
    if (!name(w.jobSetId)) bad("jobSetId", "a non-empty string with tracking events");
  }
  if (w.detailsUrl !== undefined && typeof w.detailsUrl !== "string") bad("detailsUrl", "a URL or absent");
  if (w.resumeOnEveryChange !== undefined && w.resumeOnEveryChange !== true)
    bad("resumeOnEveryChange", "true or absent");
}

registerTrigger(POLL_JOB_TRIGGER_CLASSPATH, (kwargs) => {
  const watch = kwargs.watch as ArmadaJobWatch | undefined;
  if (watch !== null && typeof watch === "object") {
    // Parsed from each trigger's row: names many waiting triggers repeat share one copy.
    if (typeof watch.lastState === "string") watch.lastState = interned(watch.lastState);
    if (typeof watch.queue === "string") watch.queue = interned(watch.queue);
    if (typeof watch.jobSetId === "string") watch.jobSetId = interned(watch.jobSetId);
    if (typeof watch.tracking === "string") watch.tracking = interned(watch.tracking);
  }
  return new ArmadaPollJobTrigger(String(kwargs.moment), NO_OPTIONS, watch);
});
