import { describe, expect, it } from "vitest";
import { status } from "@grpc/grpc-js";
import { ArmadaError } from "../../src/client/armada-error.js";
import type { JobSubmitRequestItem, JobSubmitResponse } from "../../src/gen/armada/submit.js";
import { SubmitBatcher } from "../../src/operator/submit-batcher.js";

const item = (clientId: string, priority = 1) => ({ clientId, priority }) as unknown as JobSubmitRequestItem;

/** A SubmitJobs that answers each item with a job id derived from its client id, or refuses. */
function fakeCall(refuse?: (items: JobSubmitRequestItem[]) => unknown) {
  const calls: { queue: string; jobSetId: string; clientIds: string[] }[] = [];
  const call = async (queue: string, jobSetId: string, items: JobSubmitRequestItem[]): Promise<JobSubmitResponse> => {
    calls.push({ queue, jobSetId, clientIds: items.map((i) => i.clientId) });
    const err = refuse?.(items);
    if (err) throw err;
    return { jobResponseItems: items.map((i) => ({ jobId: `job-${i.clientId}`, error: "" })) };
  };
  return { call, calls };
}

describe("SubmitBatcher", () => {
  it("shares one call among the items of a queue and job set, up to maxItems, each getting its own answer", async () => {
    const { call, calls } = fakeCall();
    const b = new SubmitBatcher(call, { maxItems: 500 });
    const answers = await Promise.all([
      ...Array.from({ length: 1200 }, (_, i) => b.submit("q", "set-a", item(`a${i}`))),
      b.submit("q", "set-b", item("b0")),
    ]);
    expect(answers.slice(0, 1200).map((a) => a.jobId)).toEqual(Array.from({ length: 1200 }, (_, i) => `job-a${i}`));
    expect(answers[1200]!.jobId).toBe("job-b0");
    // ceil(1200 / 500) calls for set-a, one for set-b.
    expect(calls.map((c) => [c.jobSetId, c.clientIds.length])).toEqual([
      ["set-a", 500],
      ["set-a", 500],
      ["set-a", 200],
      ["set-b", 1],
    ]);
  });

  it("a whole-call refusal caused by one item is retried item by item, so only that item fails", async () => {
    const bad = new ArmadaError({ code: status.INVALID_ARGUMENT, details: "item 1: priority must be >= 0", method: "SubmitJobs" });
    const { call, calls } = fakeCall((items) => (items.some((i) => i.priority < 0) ? bad : undefined));
    const b = new SubmitBatcher(call);
    const results = await Promise.allSettled([
      b.submit("q", "s", item("x")),
      b.submit("q", "s", item("y", -5)),
      b.submit("q", "s", item("z")),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect((results[1] as PromiseRejectedResult).reason).toBe(bad);
    expect(calls.map((c) => c.clientIds)).toEqual([["x", "y", "z"], ["x"], ["y"], ["z"]]);
  });

  it("an unknown outcome fails every item of the call with that error (each looks its job up), never splits", async () => {
    const lost = new ArmadaError({ code: status.DEADLINE_EXCEEDED, details: "deadline exceeded", method: "SubmitJobs" });
    const { call, calls } = fakeCall(() => lost);
    const b = new SubmitBatcher(call);
    const results = await Promise.allSettled([b.submit("q", "s", item("x")), b.submit("q", "s", item("y"))]);
    expect(results.map((r) => (r as PromiseRejectedResult).reason)).toEqual([lost, lost]);
    expect(calls).toHaveLength(1);
  });
});
