/**
 * ArmadaHook's error truth against the dev server with injected faults:
 * a cancel that fails is retried or reported (never taken for CANCELLED), a
 * definite submit refusal is typed and fatal, and a missing queue says so.
 */
import { status } from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { GrpcChannelArgs } from "../../src/client/channel-args.js";
import { jobRequestItemFromKubernetes } from "../../src/client/kubernetes-job-request-item.js";
import { ManualClock } from "../../src/common/clock.js";
import {
  ArmadaOperatorCancelError,
  ArmadaOperatorQueueNotFoundError,
  ArmadaOperatorSubmitError,
} from "../../src/operator/errors.js";
import { ArmadaHook, closeArmadaHookClients } from "../../src/operator/hook.js";
import { JobState } from "../../src/client/job-states.js";
import { RunningJobContext } from "../../src/operator/running-job-context.js";
import { isTaskFatalError } from "../../src/runtime/errors.js";
import { startDevServer, type DevServer } from "../../src/testing/index.js";
import { sleepUntil } from "../support/sleep-until.js";

let server: DevServer;
const serverClock = new ManualClock(Date.UTC(2024, 0, 1));
beforeAll(async () => {
  server = await startDevServer({ clock: serverClock, queues: ["q"] });
});
afterAll(async () => {
  closeArmadaHookClients();
  await server.stop();
});
afterEach(() => server.faults.clear());

const item = (uri: string) => ({
  ...jobRequestItemFromKubernetes({
    podSpec: {
      containers: [
        { name: "main", image: "busybox", args: ["sleep", "600"], resources: { requests: { cpu: "1" } } },
      ],
    },
  }),
  externalJobUri: uri,
});

function recorder() {
  const warnings: string[] = [];
  const infos: string[] = [];
  return {
    warnings,
    infos,
    log: {
      info: (m: string) => void infos.push(m),
      warn: (m: string) => void warnings.push(m),
      error: () => {},
    },
  };
}

/** A hook on its own clock, so the test can see and release its back-off sleeps. */
function newHook(options: { maxCancelAttempts?: number } = {}) {
  const clock = new ManualClock(Date.UTC(2024, 0, 1));
  const hook = new ArmadaHook(new GrpcChannelArgs({ target: server.grpcTarget }), {
    clock,
    cancelBackoffMs: 1000,
    ...options,
  });
  return { hook, clock };
}

/** Runs `p`, advancing `clock` whenever the code under test sleeps, until it settles. */
async function driving<T>(clock: ManualClock, p: Promise<T>): Promise<T> {
  let settled = false;
  const done = p.finally(() => (settled = true));
  done.catch(() => {});
  while (!settled) {
    await sleepUntil(() => settled || clock.pendingSleepers > 0, "hook sleeping or done");
    if (clock.pendingSleepers > 0) clock.advance(60_000);
  }
  return done;
}

const cancels = () => server.callCounts().CancelJobs ?? 0;
const stateOf = (id: string) => server.jobs().find((j) => j.id === id)?.state;

async function submitted(hook: ArmadaHook, name: string): Promise<RunningJobContext> {
  const id = await hook.submitJob({ queue: "q", jobSetId: name, item: item(name), externalJobUri: name });
  return new RunningJobContext({
    armadaQueue: "q",
    jobId: id,
    jobSetId: name,
    submitTime: serverClock.now(),
  });
}

describe("ArmadaHook.cancelJob reports the truth", () => {
  it("retries a cancel that fails transiently and reports CANCELLED only once Armada accepted it", async () => {
    const { hook, clock } = newHook();
    const ctx = await submitted(hook, "c1");
    const before = cancels();
    const r = recorder();
    server.faults.failNext("CancelJobs", 2, status.UNAVAILABLE, "server away");
    const after = await driving(clock, hook.cancelJob(ctx, r.log));
    expect(after.jobState).toBe("CANCELLED");
    expect(stateOf(ctx.jobId)).toBe("CANCELLED");
    expect(cancels() - before).toBe(3);
    expect(r.warnings[0]).toMatch(
      /Failed to cancel Armada job .* \(attempt 1 of 4\): .*server away.*; trying again$/,
    );
    expect(r.warnings[1]).toMatch(/\(attempt 2 of 4\): .*; trying again in 1s$/);
  });

  it("throws ArmadaOperatorCancelError after the bounded attempts; the job is still running and the error says so", async () => {
    const { hook, clock } = newHook({ maxCancelAttempts: 3 });
    const ctx = await submitted(hook, "c2");
    const before = cancels();
    server.faults.failNext("CancelJobs", 10, status.UNAVAILABLE, "server away");
    const err = await driving(clock, hook.cancelJob(ctx, recorder().log)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArmadaOperatorCancelError);
    expect((err as ArmadaOperatorCancelError).attempts).toBe(3);
    expect((err as Error).message).toMatch(
      /Could not cancel Armada job '.*' in queue 'q' after 3 attempt\(s\).*may still be running/,
    );
    expect(isTaskFatalError(err)).toBe(false);
    expect(cancels() - before).toBe(3);
    expect(stateOf(ctx.jobId)).not.toBe("CANCELLED");
  });

  it("does not retry a refused cancel (PERMISSION_DENIED)", async () => {
    const { hook, clock } = newHook();
    const ctx = await submitted(hook, "c3");
    const before = cancels();
    server.faults.failNext("CancelJobs", 1, status.PERMISSION_DENIED, "not yours");
    const err = await driving(clock, hook.cancelJob(ctx, recorder().log)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArmadaOperatorCancelError);
    expect((err as Error).message).toMatch(/not yours/);
    expect(cancels() - before).toBe(1);
    expect(stateOf(ctx.jobId)).not.toBe("CANCELLED");
  });

  it("when Armada cancels nothing (the job had ended), reports the job's own state", async () => {
    const { hook, clock } = newHook();
    const ctx = await submitted(hook, "c4");
    server.faults.failJob(ctx.jobId, "boom");
    const r = recorder();
    const after = await driving(clock, hook.cancelJob(ctx, r.log));
    expect(after.state).toBe(JobState.FAILED);
    expect(r.warnings.join("\n")).toMatch(/cancelled nothing for job .*: it is in state FAILED/);
  });
});

describe("ArmadaHook.submitJob refusals are typed and never retried", () => {
  it("a missing queue (PERMISSION_DENIED could not find queue) is a fatal error saying how to create it", async () => {
    const { hook } = newHook();
    const before = server.callCounts().SubmitJobs ?? 0;
    const jobsBefore = server.jobs().length;
    server.faults.failNext("SubmitJobs", 1, status.PERMISSION_DENIED, 'could not find queue "nope"');
    const err = await hook
      .submitJob({ queue: "nope", jobSetId: "s", item: item("u-nope"), externalJobUri: "u-nope" })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArmadaOperatorQueueNotFoundError);
    expect(isTaskFatalError(err)).toBe(true);
    expect((err as Error).message).toMatch(/Armada queue 'nope' does not exist/);
    expect((err as Error).message).toMatch(/armadactl create queue nope/);
    expect((server.callCounts().SubmitJobs ?? 0) - before).toBe(1);
    expect(server.callCounts().GetJobStatusUsingExternalJobUri ?? 0).toBe(0);
    expect(server.jobs().length).toBe(jobsBefore);
  });

  it("another PERMISSION_DENIED stays an ArmadaError, not a missing queue", async () => {
    const { hook } = newHook();
    server.faults.failNext("SubmitJobs", 1, status.PERMISSION_DENIED, "user may not submit to q");
    const err = await hook
      .submitJob({ queue: "q", jobSetId: "s", item: item("u-perm"), externalJobUri: "u-perm" })
      .catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(ArmadaOperatorSubmitError);
    expect((err as { code: number }).code).toBe(status.PERMISSION_DENIED);
  });
});
