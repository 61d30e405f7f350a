import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import { GrpcChannelArgs } from "../../src/client/channel-args.js";
import {
  ArmadaPollJobTrigger,
  POLL_JOB_TRIGGER_CLASSPATH,
  type ArmadaJobWatch,
} from "../../src/operator/poll-job-trigger.js";
import { JobState } from "../../src/client/job-states.js";
import { RunningJobContext } from "../../src/operator/running-job-context.js";
import { createTrigger, TaskEndEvent, TriggerEvent } from "../../src/runtime/trigger.js";
import { createTaskLogger } from "../../src/runtime/task-logger.js";
import type { TaskInstanceState } from "../../src/runtime/state.js";
import { FakeHook } from "./support.js";
import { StatusBatcher } from "../../src/operator/status-batcher.js";
import { sleepUntil } from "../support/sleep-until.js";

const moment = new Date("2024-01-01T00:00:30Z");

function triggerFor(
  state: TaskInstanceState | Error,
  watch?: ArmadaJobWatch,
  jobStates: JobState[] = [],
  at: Date = moment,
) {
  const hook = new FakeHook(jobStates);
  const args: GrpcChannelArgs[] = [];
  const trigger = new ArmadaPollJobTrigger(
    at,
    {
      hookFactory: (a) => {
        args.push(a);
        return hook;
      },
    },
    watch,
  );
  const ctx = new RunningJobContext({
    armadaQueue: "test_queue_1",
    jobId: "test_job",
    jobSetId: "prefix-test_run_1",
    submitTime: new Date(0),
    jobState: "RUNNING",
  });
  const xcom: Record<string, unknown> = {
    job_context: ctx.toXCom(),
    channel_args: new GrpcChannelArgs({ target: "127.0.0.1:1" }).serialize(),
  };
  trigger.taskInstance = Object.assign(
    { dagId: "d", taskId: "t", runId: "r", mapIndex: -1, tryNumber: 1 },
    {
      currentState: async () => {
        if (state instanceof Error) throw state;
        return state;
      },
      xcomPull: async ({ key }: { key: string }) => xcom[key],
    },
  );
  return { trigger, hook, args };
}

describe("ArmadaPollJobTrigger", () => {
  it("serializes to its class path and moment, and back to an equal trigger (case 20)", () => {
    const t = new ArmadaPollJobTrigger(moment);
    const [classpath, kwargs] = t.serialize();
    expect(classpath).toBe("armada.triggers.ArmadaPollJobTrigger");
    expect(classpath).toBe(POLL_JOB_TRIGGER_CLASSPATH);
    expect(kwargs).toEqual({ moment: "2024-01-01T00:00:30.000Z" });
    const back = createTrigger(classpath, JSON.parse(JSON.stringify(kwargs)));
    expect(back).toBeInstanceOf(ArmadaPollJobTrigger);
    expect((back as ArmadaPollJobTrigger).equals(t)).toBe(true);
    expect(t.equals(new ArmadaPollJobTrigger(moment.getTime() + 1))).toBe(false);
  });

  it("fires one event {moment} at the moment, on the injected clock", async () => {
    const t = new ArmadaPollJobTrigger(moment);
    const clock = new ManualClock(new Date("2024-01-01T00:00:00Z"));
    t.clock = clock;
    const events: TriggerEvent[] = [];
    const done = (async () => {
      for await (const e of t.run()) events.push(e);
    })();
    await new Promise((r) => setImmediate(r));
    expect(events).toHaveLength(0);
    clock.advance(29_999);
    await new Promise((r) => setImmediate(r));
    expect(events).toHaveLength(0);
    clock.advance(1);
    await done;
    expect(events.map((e) => e.payload)).toEqual([{ moment: "2024-01-01T00:00:30.000Z" }]);
  });

  describe("watching its job", () => {
    const start = new Date("2024-01-01T00:00:00Z");
    const watch: ArmadaJobWatch = {
      jobId: "test_job",
      lastState: "RUNNING",
      pollIntervalS: 10,
      untilMs: start.getTime() + 300_000,
    };

    /** The watch of event-stream tracking with check-ins every `quietS`, and no deadline of the operator's. */
    const eventsWatch = (quietS: number): ArmadaJobWatch => ({
      ...watch,
      untilMs: 8.64e15,
      quietS,
      tracking: "events",
      queue: "q",
      jobSetId: "js",
    });

    /** Runs the trigger on a manual clock, advancing it 10 s at a time until it fires. */
    async function fire(jobStates: JobState[], w = watch) {
      const { trigger, hook } = triggerFor("deferred", w, jobStates);
      const clock = new ManualClock(start);
      trigger.clock = clock;
      const logged: string[] = [];
      trigger.log = createTaskLogger((level, message) => logged.push(`${level} ${message}`));
      let event: TriggerEvent | undefined;
      const done = (async () => {
        for await (const e of trigger.run()) event = e;
      })();
      const checksAt: number[] = [];
      let seen = 0;
      for (let i = 0; i < 100 && !event; i++) {
        await new Promise((r) => setImmediate(r));
        while (hook.statusChecks.length > seen) {
          seen++;
          checksAt.push(clock.nowMs() - start.getTime());
        }
        if (!event) clock.advance(10_000);
      }
      await done;
      return { event: event!, checksAt, firedAt: clock.nowMs() - start.getTime(), logged };
    }

    it("serializes its watch and comes back equal", () => {
      const t = new ArmadaPollJobTrigger(moment, {}, watch);
      const [classpath, kwargs] = t.serialize();
      expect(kwargs).toEqual({ moment: "2024-01-01T00:00:30.000Z", watch });
      const back = createTrigger(classpath, JSON.parse(JSON.stringify(kwargs))) as ArmadaPollJobTrigger;
      expect(back.equals(t)).toBe(true);
      expect(back.equals(new ArmadaPollJobTrigger(moment))).toBe(false);
    });

    it("fires when the job's state changes, checking once per poll from its moment", async () => {
      const { event, checksAt } = await fire([JobState.RUNNING, JobState.RUNNING, JobState.SUCCEEDED]);
      expect(checksAt).toEqual([30_000, 40_000, 50_000]);
      expect(event.payload).toEqual({ moment: "2024-01-01T00:00:30.000Z", job_state: "SUCCEEDED" });
    });

    it("with endOnSuccess, a confirmed SUCCEEDED ends the task with the operator's result; anything else resumes it", async () => {
      const ending: ArmadaJobWatch = {
        ...watch,
        detailsUrl: "http://lookout/jobs/test_job",
        queue: "q",
        jobSetId: "js",
        endOnSuccess: { links: { docs: "http://docs/t" }, pushResult: true },
      };
      // Polling, and event tracking (this hook has no stream: it polls from the moment, as on a server without one).
      for (const w of [ending, { ...eventsWatch(300), ...ending, tracking: "events" as const }]) {
        const { trigger, hook } = triggerFor("deferred", w, [JobState.RUNNING, JobState.SUCCEEDED]);
        const clock = new ManualClock(start);
        trigger.clock = clock;
        const logged: string[] = [];
        trigger.log = createTaskLogger((level, message) => logged.push(`${level} ${message}`));
        const event = trigger.firstEvent();
        for (let i = 0; i < 100 && hook.statusChecks.length < 2; i++) {
          await new Promise((r) => setImmediate(r));
          clock.advance(10_000);
        }
        const ev = (await event)!;
        expect(TaskEndEvent.isEnd(ev), w.tracking ?? "poll").toBe(true);
        expect((ev as TaskEndEvent).payload).toEqual({ state: "success" });
        expect((ev as TaskEndEvent).xcoms).toEqual({
          return_value: {
            armada_queue: "q",
            job_id: "test_job",
            job_set_id: "js",
            job_state: "SUCCEEDED",
            links: { lookout: "http://lookout/jobs/test_job", docs: "http://docs/t" },
          },
        });
        expect(logged.slice(-2)).toEqual([
          "info Armada job test_job is in state: SUCCEEDED. Job details available at http://lookout/jobs/test_job",
          "info Armada job test_job terminated with state: SUCCEEDED",
        ]);
        expect(hook.forgotten).toEqual(["test_job"]);
        // It ended the task (SUCCESS): its job succeeded, so its cleanup cancels nothing.
        trigger.taskInstance!.currentState = async () => "success";
        await trigger.cleanup();
        expect(hook.cancels).toHaveLength(0);
        expect(trigger.endedItsTask).toBe(true);
      }
      // Without a result to push, the event ends the task with no XCom.
      const quiet = await fire([JobState.SUCCEEDED], {
        ...ending,
        endOnSuccess: { links: {}, pushResult: false },
      });
      expect([TaskEndEvent.isEnd(quiet.event), (quiet.event as TaskEndEvent).xcoms]).toEqual([true, {}]);
      // A failed job resumes the task: the operator's error handling (reasons, retries) is the task's.
      const failed = await fire([JobState.FAILED], ending);
      expect(TaskEndEvent.isEnd(failed.event)).toBe(false);
      expect(failed.event.payload).toMatchObject({ job_state: "FAILED" });
    });

    it("logs a step forward through the active states in the task's log and waits on; fires on an end or a step back", async () => {
      const queued = { ...watch, lastState: "QUEUED", detailsUrl: "http://lookout/jobs/test_job" };
      const ended = await fire(
        [JobState.QUEUED, JobState.RUNNING, JobState.RUNNING, JobState.SUCCEEDED],
        queued,
      );
      expect(ended.checksAt).toEqual([30_000, 40_000, 50_000, 60_000]);
      expect(ended.event.payload).toMatchObject({ job_state: "SUCCEEDED" });
      expect(ended.logged).toEqual([
        "info Armada job test_job is in state: RUNNING. Job details available at http://lookout/jobs/test_job",
      ]);
      // Back from RUNNING to QUEUED (its lease returned): the operator's queue deadline applies again.
      const back = await fire([JobState.RUNNING, JobState.QUEUED], queued);
      expect(back.event.payload).toMatchObject({ job_state: "QUEUED" });
      expect(back.firedAt).toBe(40_000);
      // A task that follows the container log resumes as the job starts running.
      const logs = await fire([JobState.QUEUED, JobState.RUNNING], { ...queued, resumeOnEveryChange: true });
      expect(logs.event.payload).toMatchObject({ job_state: "RUNNING" });
      expect(logs.logged).toEqual([]);
    });

    it("checks first at the poll moment nearest its own, with the triggers of the same round", async () => {
      const clock = new ManualClock(start);
      // Deferred 10 s before their moments, 0.1-4.9 s apart: all check first at 30 s, in one round.
      const moments = [30_100, 31_400, 34_900, 35_100].map((ms) => new Date(start.getTime() + ms));
      const runs = moments.map((at) => {
        const { trigger, hook } = triggerFor("deferred", watch, [JobState.RUNNING], at);
        trigger.clock = clock;
        const it = trigger.run()[Symbol.asyncIterator]();
        void it.next();
        return hook;
      });
      const firstCheckAt: (number | undefined)[] = moments.map(() => undefined);
      for (let t = 0; t < 41_000; t += 100) {
        await new Promise((r) => setImmediate(r));
        runs.forEach((hook, i) => {
          if (firstCheckAt[i] === undefined && hook.statusChecks.length > 0) firstCheckAt[i] = t;
        });
        clock.advance(100);
      }
      expect(firstCheckAt).toEqual([30_000, 30_000, 30_000, 40_000]);
    });

    it("many polling triggers of a channel: each group of one call's worth checks at its own phase of the interval, one call per group", async () => {
      const clock = new ManualClock(start);
      const calls: { atMs: number; ids: string[] }[] = [];
      const batcher = new StatusBatcher(
        async (ids) => {
          calls.push({ atMs: clock.nowMs() - start.getTime(), ids: [...ids] });
          return new Map(ids.map((id) => [id, JobState.RUNNING]));
        },
        { clock, maxBatchSize: 4 },
      );
      const hook = Object.assign(new FakeHook([JobState.RUNNING]), {
        getJobState: (id: string) => batcher.getState(id),
        trackJob: (id: string) => batcher.track(id),
        pollPhaseMs: (id: string, intervalMs: number) => batcher.pollPhase(id, intervalMs),
      });
      // Ten tasks deferred together (moment 30 s): groups of 4, 4 and 2, at phases 0, 1 and 2 s of the 10 s interval.
      for (let i = 0; i < 10; i++) {
        const trigger = new ArmadaPollJobTrigger(
          new Date(start.getTime() + 30_000),
          { hookFactory: () => hook },
          {
            ...watch,
            jobId: `job-${i}`,
          },
        );
        trigger.taskInstance = triggerFor("deferred").trigger.taskInstance;
        trigger.clock = clock;
        void trigger.run()[Symbol.asyncIterator]().next();
      }
      for (let t = 0; t <= 43_000; t += 100) {
        // A few turns: the alarm rings, the check is made, the batcher's call goes out, all at this time.
        for (let turn = 0; turn < 5; turn++) await new Promise((r) => setImmediate(r));
        clock.advance(100);
      }
      expect(calls.map((c) => [c.atMs, c.ids.length])).toEqual([
        [30_000, 4],
        [31_000, 4],
        [32_000, 2],
        [40_000, 4],
        [41_000, 4],
        [42_000, 2],
      ]);
      expect(new Set(calls.slice(0, 3).flatMap((c) => c.ids)).size).toBe(10);
    });

    it("fires at untilMs whatever the state (the operator's deadlines, a progress line)", async () => {
      const { event, firedAt } = await fire([JobState.RUNNING], {
        ...watch,
        untilMs: start.getTime() + 60_000,
      });
      expect(firedAt).toBe(60_000);
      expect(event.payload).toMatchObject({ job_state: "RUNNING" });
    });

    it("fires when a status check fails: the task's own check decides", async () => {
      const { trigger, hook } = triggerFor("deferred", watch, [JobState.RUNNING]);
      hook.getJobState = async () => {
        throw new Error("unavailable");
      };
      trigger.clock = new ManualClock(moment);
      const events: TriggerEvent[] = [];
      for await (const e of trigger.run()) events.push(e);
      expect(events.map((e) => e.payload)).toEqual([
        { moment: "2024-01-01T00:00:30.000Z", job_state: "RUNNING" },
      ]);
    });

    it("with tracking events: serializes queue and job set, and refuses a watch without them", () => {
      const events = { ...watch, tracking: "events" as const, queue: "q", jobSetId: "prefix-test_run_1" };
      const t = new ArmadaPollJobTrigger(moment, {}, events);
      const [classpath, kwargs] = t.serialize();
      expect(kwargs).toEqual({ moment: "2024-01-01T00:00:30.000Z", watch: events });
      expect(
        (createTrigger(classpath, JSON.parse(JSON.stringify(kwargs))) as ArmadaPollJobTrigger).equals(t),
      ).toBe(true);
      expect(() => new ArmadaPollJobTrigger(moment, {}, { ...events, jobSetId: "" })).toThrow(
        /watch\.jobSetId/,
      );
      expect(
        () => new ArmadaPollJobTrigger(moment, {}, { ...events, tracking: "stream" as "events" }),
      ).toThrow(/watch\.tracking/);
    });

    it("with tracking events on a hook without event streams, polls from its moment as without", async () => {
      const events = { ...watch, tracking: "events" as const, queue: "q", jobSetId: "js" };
      const { event, checksAt } = await fire([JobState.RUNNING, JobState.SUCCEEDED], events);
      expect(checksAt).toEqual([30_000, 40_000]);
      expect(event.payload).toMatchObject({ job_state: "SUCCEEDED" });
    });

    it("with tracking events on a stream re-opened past earlier events: checks once at its poll moment, and fires on the end it missed", async () => {
      const events = { ...watch, tracking: "events" as const, queue: "q", jobSetId: "js" };
      const { trigger, hook } = triggerFor("deferred", events, [JobState.SUCCEEDED]);
      let sawEveryEvent = false;
      const streamHook = Object.assign(hook, {
        watchJobEvents: () => ({
          fallenBack: false,
          eventState: undefined,
          get sawEveryEvent() {
            return sawEveryEvent;
          },
          next: () => new Promise<void>(() => {}), // no event ever comes: the end was read before
          onNext: () => {},
          close: () => {},
        }),
      });
      const clock = new ManualClock(start);
      const run = async () => {
        const t = new ArmadaPollJobTrigger(moment, { hookFactory: () => streamHook }, events);
        t.taskInstance = trigger.taskInstance;
        t.clock = clock;
        const fired: TriggerEvent[] = [];
        const done = (async () => {
          for await (const e of t.run()) fired.push(e);
        })();
        for (let i = 0; i < 10 && fired.length === 0; i++) {
          await new Promise((r) => setImmediate(r));
          clock.advance(10_000);
        }
        return { fired, done };
      };
      const missed = await run();
      await missed.done;
      expect(missed.fired.map((e) => e.payload)).toEqual([
        { moment: "2024-01-01T00:00:30.000Z", job_state: "SUCCEEDED" },
      ]);
      // A stream read from the job set's start knows every event: no check until one comes.
      sawEveryEvent = true;
      const checksBefore = hook.statusChecks.length;
      const whole = await run();
      expect(whole.fired).toEqual([]);
      expect(hook.statusChecks.length).toBe(checksBefore);
    });

    it("with quietS: checks in at the quiet moments, on the poll grid, with a line in the task's log, and does not fire for them", async () => {
      const quiet = { ...watch, untilMs: 8.64e15, quietS: 30 };
      const states = [...Array<JobState>(7).fill(JobState.RUNNING), JobState.SUCCEEDED];
      const { event, checksAt, firedAt, logged } = await fire(states, quiet);
      // The poll's own checks; the check-ins (at 60 s and 90 s) make no extra call.
      expect(checksAt).toEqual([30_000, 40_000, 50_000, 60_000, 70_000, 80_000, 90_000, 100_000]);
      expect(logged).toEqual([
        "info Armada job test_job is still in state: RUNNING; waiting on.",
        "info Armada job test_job is still in state: RUNNING; waiting on.",
      ]);
      expect([firedAt, event.payload]).toEqual([
        100_000,
        { moment: "2024-01-01T00:00:30.000Z", job_state: "SUCCEEDED" },
      ]);
      expect(() => new ArmadaPollJobTrigger(moment, {}, { ...quiet, quietS: 0 })).toThrow(/watch\.quietS/);
    });

    it("with quietS and tracking events: a check-in confirms the job alone; a lost end event is found at the next one", async () => {
      const events = eventsWatch(60);
      const { trigger, hook } = triggerFor("deferred", events, [JobState.RUNNING, JobState.SUCCEEDED]);
      const streamHook = Object.assign(hook, {
        watchJobEvents: () => ({
          fallenBack: false,
          eventState: undefined,
          sawEveryEvent: true,
          next: () => new Promise<void>(() => {}), // the end event is lost
          onNext: () => {},
          close: () => {},
        }),
      });
      const clock = new ManualClock(start);
      const t = new ArmadaPollJobTrigger(moment, { hookFactory: () => streamHook }, events);
      t.taskInstance = trigger.taskInstance;
      t.clock = clock;
      const logged: string[] = [];
      t.log = createTaskLogger((level, message) => logged.push(`${level} ${message}`));
      const fired: TriggerEvent[] = [];
      const done = (async () => {
        for await (const e of t.run()) fired.push(e);
      })();
      const checksAt: number[] = [];
      for (let i = 0; i < 20 && fired.length === 0; i++) {
        await new Promise((r) => setImmediate(r));
        while (hook.statusChecks.length > checksAt.length) checksAt.push(clock.nowMs() - start.getTime());
        if (fired.length === 0) clock.advance(10_000);
      }
      await done;
      // Deferred at 0: check-ins at 60 s (still RUNNING: a line, no resume) and 120 s (SUCCEEDED: it fires).
      expect(checksAt).toEqual([60_000, 120_000]);
      expect(logged).toEqual(["info Armada job test_job is still in state: RUNNING; waiting on."]);
      expect(fired.map((e) => e.payload)).toEqual([
        { moment: "2024-01-01T00:00:30.000Z", job_state: "SUCCEEDED" },
      ]);
    });

    it("with tracking events: many events of an unchanged state wake it without a check or a new sleep each; the end fires it", async () => {
      const events = eventsWatch(300);
      const { trigger, hook } = triggerFor("deferred", events, [JobState.SUCCEEDED]);
      let eventState: JobState | undefined = JobState.RUNNING;
      let wake: (() => void) | undefined;
      let waits = 0;
      const streamHook = Object.assign(hook, {
        watchJobEvents: () => ({
          fallenBack: false,
          get eventState() {
            return eventState;
          },
          sawEveryEvent: true,
          next: () => Promise.reject(new Error("the trigger waits with onNext")),
          onNext: (w: () => void) => {
            waits++;
            wake = w;
          },
          close: () => {},
        }),
      });
      const clock = new ManualClock(start);
      const t = new ArmadaPollJobTrigger(moment, { hookFactory: () => streamHook }, events);
      t.taskInstance = trigger.taskInstance;
      t.clock = clock;
      const removal = new AbortController();
      t.signal = removal.signal;
      const fired: TriggerEvent[] = [];
      const done = (async () => {
        for await (const e of t.run()) fired.push(e);
      })();
      const turn = () => new Promise((r) => setImmediate(r));
      await turn();
      for (let i = 0; i < 50; i++) {
        wake!();
        await turn();
      }
      expect(waits).toBe(51);
      expect(hook.statusChecks).toHaveLength(0);
      // One sleep, to the next check-in, kept across the 50 wake-ups.
      expect(clock.pendingSleepers).toBe(1);
      eventState = JobState.SUCCEEDED;
      wake!();
      await done;
      expect(hook.statusChecks).toHaveLength(1);
      expect(fired.map((e) => e.payload)).toEqual([
        { moment: "2024-01-01T00:00:30.000Z", job_state: "SUCCEEDED" },
      ]);
      // The triggerer removes a fired trigger: its kept sleep ends with it.
      removal.abort();
      expect(clock.pendingSleepers).toBe(0);
    });

    it("with tracking events: removed while it waits, its wait ends with the removal's reason and leaves no sleep", async () => {
      const events = eventsWatch(300);
      const { trigger, hook } = triggerFor("deferred", events, [JobState.SUCCEEDED]);
      const streamHook = Object.assign(hook, {
        watchJobEvents: () => ({
          fallenBack: false,
          eventState: JobState.RUNNING,
          sawEveryEvent: true,
          next: () => new Promise<void>(() => {}),
          onNext: () => {}, // no event comes
          close: () => {},
        }),
      });
      const clock = new ManualClock(start);
      const t = new ArmadaPollJobTrigger(moment, { hookFactory: () => streamHook }, events);
      t.taskInstance = trigger.taskInstance;
      t.clock = clock;
      const fired = t.run()[Symbol.asyncIterator]().next();
      await sleepUntil(() => clock.pendingSleepers === 1, "the trigger waiting on its check-in moment");
      const reason = new Error("trigger removed");
      t.cancel(reason);
      await expect(fired).rejects.toBe(reason);
      expect(clock.pendingSleepers).toBe(0);
      expect(hook.statusChecks).toHaveLength(0);
    });

    /** A stream whose job's latest event says `eventState`, with no event to come; records its `close` calls. */
    const closeRecordingStream = (eventState: JobState, closes: ({ linger?: boolean } | undefined)[]) => ({
      fallenBack: false,
      eventState,
      sawEveryEvent: true,
      next: () => new Promise<void>(() => {}),
      onNext: () => {},
      close: (o?: { linger?: boolean }) => closes.push(o),
    });

    it("with tracking events: removed while its confirming check is out, its wait ends at once and the check's late answer fires nothing", async () => {
      const events = eventsWatch(300);
      const { trigger, hook } = triggerFor("deferred", events);
      let answer: ((s: JobState) => void) | undefined;
      const closes: ({ linger?: boolean } | undefined)[] = [];
      const streamHook = Object.assign(hook, {
        getJobState: (jobId: string) => {
          hook.statusChecks.push(jobId);
          return new Promise<JobState>((r) => (answer = r));
        },
        // An end read before the trigger joined: it checks at once.
        watchJobEvents: () => closeRecordingStream(JobState.SUCCEEDED, closes),
      });
      const clock = new ManualClock(start);
      const t = new ArmadaPollJobTrigger(moment, { hookFactory: () => streamHook }, events);
      t.taskInstance = trigger.taskInstance;
      t.clock = clock;
      const fired = t.firstEvent();
      await sleepUntil(() => answer !== undefined, "the trigger's confirming check");
      const reason = new Error("trigger removed");
      t.cancel(reason);
      await expect(fired).rejects.toBe(reason);
      expect(closes).toEqual([undefined]);
      answer!(JobState.SUCCEEDED);
      await new Promise((r) => setImmediate(r));
      expect(closes).toHaveLength(1);
      expect(clock.pendingSleepers).toBe(0);
    });

    it("with tracking events: a hook that throws instead of rejecting fails this trigger alone, and it leaves the stream", async () => {
      const events = eventsWatch(300);
      const { trigger, hook } = triggerFor("deferred", events);
      const closes: ({ linger?: boolean } | undefined)[] = [];
      const broken = new Error("getJobState threw");
      const streamHook = Object.assign(hook, {
        getJobState: () => {
          throw broken;
        },
        watchJobEvents: () => closeRecordingStream(JobState.SUCCEEDED, closes),
      });
      const t = new ArmadaPollJobTrigger(moment, { hookFactory: () => streamHook }, events);
      t.taskInstance = trigger.taskInstance;
      t.clock = new ManualClock(start);
      await expect(t.firstEvent()).rejects.toBe(broken);
      expect(closes).toEqual([undefined]);
    });

    it("with tracking events: leaves the stream on an end, and keeps it a while on a move its task resumes for", async () => {
      const events = eventsWatch(300);
      for (const [found, linger] of [
        [JobState.SUCCEEDED, false],
        [JobState.QUEUED, true], // a step back: the task resumes and defers again
      ] as const) {
        const { trigger, hook } = triggerFor("deferred", events, [found]);
        const closes: ({ linger?: boolean } | undefined)[] = [];
        const streamHook = Object.assign(hook, {
          watchJobEvents: () => closeRecordingStream(found, closes),
        });
        const t = new ArmadaPollJobTrigger(moment, { hookFactory: () => streamHook }, events);
        t.taskInstance = trigger.taskInstance;
        t.clock = new ManualClock(start);
        const ev = await t.firstEvent();
        expect(ev?.payload).toEqual({ moment: "2024-01-01T00:00:30.000Z", job_state: JobState[found] });
        expect(closes).toEqual([{ linger }]);
      }
    });
    it("refuses a malformed watch, naming the field", () => {
      expect(() => new ArmadaPollJobTrigger(moment, {}, { ...watch, pollIntervalS: 0 })).toThrow(
        /watch\.pollIntervalS must be a number > 0/,
      );
      expect(() => new ArmadaPollJobTrigger(moment, {}, { ...watch, jobId: "" })).toThrow(/watch\.jobId/);
    });
  });

  it("cleanup cancels once for SUCCESS and once for FAILED; never for DEFERRED (case 21)", async () => {
    for (const state of ["success", "failed"] as const) {
      const { trigger, hook, args } = triggerFor(state);
      await trigger.cleanup();
      expect(hook.cancels.map((c) => c.jobId)).toEqual(["test_job"]);
      expect(args[0]!.target).toBe("127.0.0.1:1");
    }
    const deferred = triggerFor("deferred");
    await deferred.trigger.cleanup();
    expect(deferred.hook.cancels).toHaveLength(0);
  });

  it("cleanup also cancels for SKIPPED and UPSTREAM_FAILED, never for UP_FOR_RETRY (deliberate difference 7)", async () => {
    for (const state of ["skipped", "upstream_failed"] as const) {
      const { trigger, hook } = triggerFor(state);
      await trigger.cleanup();
      expect(hook.cancels).toHaveLength(1);
    }
    const retry = triggerFor("up_for_retry");
    await retry.trigger.cleanup();
    expect(retry.hook.cancels).toHaveLength(0);
  });

  it("cleanup reads job_context and channel_args through taskInstance.xcomPull (no in-process state)", async () => {
    const hook = new FakeHook([]);
    const args: GrpcChannelArgs[] = [];
    const trigger = new ArmadaPollJobTrigger(moment, {
      hookFactory: (a) => {
        args.push(a);
        return hook;
      },
    });
    const xcom: Record<string, unknown> = {};
    const pulls: unknown[] = [];
    trigger.taskInstance = {
      dagId: "d2",
      taskId: "t",
      runId: "r",
      mapIndex: -1,
      tryNumber: 1,
      currentState: async () => "failed",
      xcomPull: async (options) => {
        pulls.push(options);
        return xcom[options.key];
      },
    };
    // No job submitted yet: nothing to cancel.
    await trigger.cleanup();
    expect(hook.cancels).toHaveLength(0);
    xcom.job_context = new RunningJobContext({
      armadaQueue: "q",
      jobId: "j9",
      jobSetId: "s",
      submitTime: new Date(0),
    }).toXCom();
    xcom.channel_args = new GrpcChannelArgs({ target: "127.0.0.1:7" }).serialize();
    await trigger.cleanup();
    expect(hook.cancels.map((c) => c.jobId)).toEqual(["j9"]);
    expect(args.map((a) => a.target)).toEqual(["127.0.0.1:7"]);
    expect(pulls).toEqual([{ key: "job_context" }, { key: "job_context" }, { key: "channel_args" }]);
  });

  it("cleanup propagates a failing state lookup and cancels nothing (case 21)", async () => {
    const { trigger, hook } = triggerFor(new Error("database gone"));
    await expect(trigger.cleanup()).rejects.toThrow("database gone");
    expect(hook.cancels).toHaveLength(0);
  });

  it("after firing, cleanup leaves the job to the resuming task, unless the task already ended", async () => {
    const resumed = triggerFor("scheduled");
    resumed.trigger.clock = new ManualClock(moment);
    for await (const _ of resumed.trigger.run()) void _;
    await resumed.trigger.cleanup();
    expect(resumed.hook.cancels).toHaveLength(0);
    // Killed just as the trigger fired: the task will not resume, so the job must go.
    const killed = triggerFor("failed");
    killed.trigger.clock = new ManualClock(moment);
    for await (const _ of killed.trigger.run()) void _;
    await killed.trigger.cleanup();
    expect(killed.hook.cancels).toHaveLength(1);
  });
});
