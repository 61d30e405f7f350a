import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { ArmadaError } from "../../src/client/armada-error.js";
import { GrpcChannelArgs } from "../../src/client/channel-args.js";
import { ManualClock } from "../../src/common/clock.js";
import { JobSubmitRequestItem } from "../../src/gen/armada/submit.js";
import { ArmadaOperatorSubmitError } from "../../src/operator/errors.js";
import { ArmadaHook } from "../../src/operator/hook.js";
import { SubmitBatcher } from "../../src/operator/submit-batcher.js";
import { isTaskFatalError } from "../../src/runtime/errors.js";

type Answer = { error?: ArmadaError; items?: { jobId: string; error: string }[] };

function hookWith(answers: Answer[], lookup: { ids: string[]; clientIds: Record<string, string> }) {
  const calls = { submit: 0, lookup: 0 };
  const fake = {
    submitJobs: async (_r: { jobRequestItems: JobSubmitRequestItem[] }) => {
      calls.submit++;
      const a = answers.shift()!;
      if (a.error) throw a.error;
      return { jobResponseItems: a.items ?? [] };
    },
    getJobStatusUsingExternalJobUri: async () => {
      calls.lookup++;
      return { jobStates: Object.fromEntries(lookup.ids.map((id) => [id, 0])) };
    },
    getJobDetails: async () => ({
      jobDetails: Object.fromEntries(lookup.ids.map((id) => [id, { jobId: id, jobSpec: { clientId: lookup.clientIds[id] } }])),
    }),
  };
  const hook = new ArmadaHook(new GrpcChannelArgs({ target: "127.0.0.1:1" }), {
    clock: new ManualClock(),
    submitLookupGraceMs: 0,
    maxSubmitAttempts: 3,
  });
  Object.defineProperty(hook, "client", { value: fake });
  Object.defineProperty(hook, "submitter", {
    value: new SubmitBatcher((_q, _s, jobRequestItems) => fake.submitJobs({ jobRequestItems })),
  });
  return { hook, calls };
}

const request = (clientId = "cid-1") => ({
  queue: "q",
  jobSetId: "s",
  externalJobUri: "airflow://d/t/r/-1",
  item: JobSubmitRequestItem.fromPartial({ clientId }),
});
const deadline = () => new ArmadaError({ code: status.DEADLINE_EXCEEDED, method: "SubmitJobs" });

describe("ArmadaHook.submitJob", () => {
  it("returns the job id of a definite answer", async () => {
    const { hook, calls } = hookWith([{ items: [{ jobId: "j1", error: "" }] }], { ids: [], clientIds: {} });
    expect(await hook.submitJob(request())).toBe("j1");
    expect(calls).toEqual({ submit: 1, lookup: 0 });
  });

  it("reports Armada's per-item error once, without looking up or submitting again", async () => {
    const { hook, calls } = hookWith([{ items: [{ jobId: "", error: "queue q does not exist" }] }], { ids: [], clientIds: {} });
    await expect(hook.submitJob(request())).rejects.toThrow("Error submitting job to Armada: queue q does not exist");
    expect(calls).toEqual({ submit: 1, lookup: 0 });
  });

  it("makes a per-item refusal a typed, fatal error naming the item and Armada's reason", async () => {
    const { hook, calls } = hookWith([{ items: [{ jobId: "", error: "pod spec too large" }] }], { ids: [], clientIds: {} });
    const err = await hook.submitJob(request()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArmadaOperatorSubmitError);
    expect(err).toMatchObject({ queue: "q", jobSetId: "s", itemIndex: 0, reason: "pod spec too large" });
    expect((err as Error).message).toMatch(/job_request_items\[0\] in queue 'q'/);
    expect(isTaskFatalError(err)).toBe(true);
    expect(calls).toEqual({ submit: 1, lookup: 0 });
  });

  it("makes an answer with the wrong number of items a fatal error, not a retry", async () => {
    const { hook, calls } = hookWith([{ items: [] }], { ids: [], clientIds: {} });
    const err = await hook.submitJob(request()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArmadaOperatorSubmitError);
    expect(isTaskFatalError(err)).toBe(true);
    expect(calls).toEqual({ submit: 1, lookup: 0 });
  });

  it("does not retry a definite failure (INVALID_ARGUMENT)", async () => {
    const invalid = new ArmadaError({ code: status.INVALID_ARGUMENT, method: "SubmitJobs", details: "bad" });
    const { hook, calls } = hookWith([{ error: invalid }], { ids: [], clientIds: {} });
    await expect(hook.submitJob(request())).rejects.toBe(invalid);
    expect(calls).toEqual({ submit: 1, lookup: 0 });
  });

  it("after an ambiguous failure finds this submission's job by URI and client id instead of submitting again", async () => {
    const { hook, calls } = hookWith([{ error: deadline() }], {
      ids: ["older", "mine"],
      clientIds: { older: "cid-0", mine: "cid-1" },
    });
    expect(await hook.submitJob(request("cid-1"))).toBe("mine");
    expect(calls.submit).toBe(1);
  });

  it("submits again only when the job is not found, and gives up after the attempts", async () => {
    const { hook, calls } = hookWith([{ error: deadline() }, { items: [{ jobId: "j2", error: "" }] }], {
      ids: ["older"],
      clientIds: { older: "cid-0" },
    });
    expect(await hook.submitJob(request("cid-1"))).toBe("j2");
    expect(calls.submit).toBe(2);
    const never = hookWith([{ error: deadline() }, { error: deadline() }, { error: deadline() }], { ids: [], clientIds: {} });
    await expect(never.hook.submitJob(request())).rejects.toMatchObject({ code: status.DEADLINE_EXCEEDED });
    expect(never.calls.submit).toBe(3);
  });

  it("gives a submission without a client id one, so it can be found again", async () => {
    const seen: string[] = [];
    const { hook } = hookWith([{ items: [{ jobId: "j", error: "" }] }], { ids: [], clientIds: {} });
    const client = (hook as unknown as { client: { submitJobs: (r: { jobRequestItems: { clientId: string }[] }) => unknown } }).client;
    const orig = client.submitJobs;
    client.submitJobs = (r) => {
      seen.push(r.jobRequestItems[0]!.clientId);
      return orig(r);
    };
    await hook.submitJob(request(""));
    expect(seen[0]).toMatch(/^[0-9a-f-]{36}$/);
  });
});
