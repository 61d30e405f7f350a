/**
 * queueTimeout: a job waiting for capacity (QUEUED or LEASED) too long is
 * cancelled and the try fails retryably, with a log line naming the timeout;
 * a job that started running is never stopped by it. Polling and deferred.
 */
import { describe, expect, it } from "vitest";
import { GrpcChannelArgs } from "../../src/client/channel-args.js";
import { ManualClock } from "../../src/common/clock.js";
import { ArmadaOperator, type ArmadaOperatorOptions } from "../../src/operator/armada-operator.js";
import { ArmadaOperatorInputError, ArmadaOperatorJobFailedError } from "../../src/operator/errors.js";
import { JobState } from "../../src/client/job-states.js";
import { runWithContext } from "../../src/runtime/context.js";
import { isTaskDeferred, isTaskFatalError } from "../../src/runtime/errors.js";
import { goodItem } from "../bad-input/cases/job-request-items.js";
import { FakeHook, FakeTaskInstance, makeContext, withTimeFlowing } from "./support.js";

const channelArgs = new GrpcChannelArgs({ target: "127.0.0.1:50051" });

function setup(states: JobState[], options: Partial<ArmadaOperatorOptions>) {
  const hook = new FakeHook(states);
  const base = {
    taskId: "t",
    name: "n",
    channelArgs,
    armadaQueue: "q",
    jobRequest: goodItem(),
    pollInterval: 5,
    hookFactory: () => hook,
  };
  const op = new ArmadaOperator({ ...base, ...options });
  const ti = new FakeTaskInstance(op);
  const clock = new ManualClock();
  const context = makeContext(op, ti, clock);
  const run = <T>(fn: () => Promise<T>) => withTimeFlowing(clock, () => runWithContext(context, fn));
  return { hook, ti, clock, context, op, run, base };
}

describe("queueTimeout", () => {
  it("cancels a job still QUEUED past the timeout and fails the try retryably, saying which timeout fired", async () => {
    const s = setup(Array<JobState>(20).fill(JobState.QUEUED), { queueTimeout: 12 });
    const err = await s
      .run(async () => {
        await s.op.renderTemplateFields(s.context);
        return s.op.execute(s.context);
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArmadaOperatorJobFailedError);
    expect(isTaskFatalError(err)).toBe(false);
    expect((err as Error).message).toMatch(
      /queueTimeout fired: Armada job test_job was still QUEUED 1[5-9]s after submission \(queueTimeout 12s\)/,
    );
    expect(s.hook.cancels).toHaveLength(1);
    expect(s.hook.statusChecks.length).toBeLessThanOrEqual(5);
    expect(s.ti.log.has(/queueTimeout fired: .*; cancelling it/)).toBe(true);
  });

  it("also bounds LEASED", async () => {
    const s = setup([JobState.QUEUED, ...Array<JobState>(20).fill(JobState.LEASED)], { queueTimeout: 7 });
    const err = await s
      .run(async () => {
        await s.op.renderTemplateFields(s.context);
        return s.op.execute(s.context);
      })
      .catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/was still LEASED/);
    expect(s.hook.cancels).toHaveLength(1);
  });

  it("never fires on a RUNNING job, however long it runs", async () => {
    const s = setup([JobState.QUEUED, ...Array<JobState>(10).fill(JobState.RUNNING), JobState.SUCCEEDED], {
      queueTimeout: 6,
    });
    const result = await s.run(async () => {
      await s.op.renderTemplateFields(s.context);
      return s.op.execute(s.context);
    });
    expect(result).toMatchObject({ job_state: "SUCCEEDED" });
    expect(s.hook.cancels).toHaveLength(0);
    expect(s.ti.log.has(/queueTimeout fired/)).toBe(false);
  });

  it("fires on a resume after deferral once the job has waited too long", async () => {
    const s = setup(Array<JobState>(20).fill(JobState.QUEUED), { queueTimeout: 12, deferrable: true });
    let err: unknown = await s
      .run(async () => {
        await s.op.renderTemplateFields(s.context);
        return s.op.execute(s.context);
      })
      .catch((e: unknown) => e);
    let deferrals = 0;
    while (isTaskDeferred(err) && deferrals < 10) {
      deferrals++;
      s.clock.advance(5000);
      const copy = new ArmadaOperator({ ...s.base, queueTimeout: 12, deferrable: true });
      const ctx = { ...s.context, task: copy };
      err = await s
        .run(async () => {
          await copy.renderTemplateFields(ctx);
          return copy._trigger_reentry(ctx, { moment: s.clock.now().toISOString() });
        })
        .catch((e: unknown) => e);
    }
    expect(deferrals).toBeGreaterThanOrEqual(2);
    expect(err).toBeInstanceOf(ArmadaOperatorJobFailedError);
    expect((err as Error).message).toMatch(/queueTimeout fired: .*still QUEUED/);
    expect(s.hook.cancels).toHaveLength(1);
    expect(s.hook.submits).toHaveLength(1);
  });

  it("must be a number of seconds > 0", () => {
    expect(() => new ArmadaOperator({ ...setup([], {}).base, queueTimeout: 0 })).toThrow(
      ArmadaOperatorInputError,
    );
    expect(() => new ArmadaOperator({ ...setup([], {}).base, queueTimeout: Number.NaN })).toThrow(
      /queueTimeout: must be a number of seconds > 0/,
    );
  });
});
