import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import { GrpcChannelArgs } from "../../src/client/channel-args.js";
import { ArmadaPollJobTrigger, POLL_JOB_TRIGGER_CLASSPATH } from "../../src/operator/poll-job-trigger.js";
import { RunningJobContext } from "../../src/operator/running-job-context.js";
import { createTrigger, TriggerEvent } from "../../src/runtime/trigger.js";
import type { TaskInstanceState } from "../../src/runtime/state.js";
import { FakeHook } from "./support.js";

const moment = new Date("2024-01-01T00:00:30Z");

function triggerFor(state: TaskInstanceState | Error) {
  const hook = new FakeHook([]);
  const args: GrpcChannelArgs[] = [];
  const trigger = new ArmadaPollJobTrigger(moment, {
    hookFactory: (a) => {
      args.push(a);
      return hook;
    },
  });
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
    xcom.job_context = new RunningJobContext({ armadaQueue: "q", jobId: "j9", jobSetId: "s", submitTime: new Date(0) }).toXCom();
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
