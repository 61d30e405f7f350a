import { afterEach, describe, expect, it, vi } from "vitest";
import { status } from "@grpc/grpc-js";
import { ArmadaError } from "../../src/client/armada-error.js";
import type { JobSubmitRequestItem, JobSubmitResponse } from "../../src/gen/armada/submit.js";
import { toJobSubmitRequestItem } from "../../src/client/job-request-item-input.js";
import { SubmitBatcher } from "../../src/operator/submit-batcher.js";

const item = (clientId: string, priority = 1) => ({ clientId, priority }) as unknown as JobSubmitRequestItem;

/** A SubmitJobs that answers each item with a job id derived from its client id, or refuses. */
function fakeCall(refuse?: (items: JobSubmitRequestItem[]) => unknown) {
  const calls: { queue: string; jobSetId: string; clientIds: string[] }[] = [];
  const call = async (
    queue: string,
    jobSetId: string,
    items: JobSubmitRequestItem[],
  ): Promise<JobSubmitResponse> => {
    calls.push({ queue, jobSetId, clientIds: items.map((i) => i.clientId) });
    const err = refuse?.(items);
    if (err) throw err;
    return { jobResponseItems: items.map((i) => ({ jobId: `job-${i.clientId}`, error: "" })) };
  };
  return { call, calls };
}

describe("SubmitBatcher", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("keeps a batch open while items keep coming within the gap, up to maxWaitMs from its first item", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const { call, calls } = fakeCall();
    const b = new SubmitBatcher(call, { windowMs: 10, maxWaitMs: 200 });
    const sentAt: number[] = [];
    const answers: Promise<unknown>[] = [];
    const t0 = Date.now();
    // 100 tasks reaching submit 5 ms apart (as a runner starts them), then nothing.
    for (let i = 0; i < 100; i++) {
      answers.push(b.submit("q", "s", item(`t${i}`)).then(() => sentAt.push(Date.now() - t0)));
      await vi.advanceTimersByTimeAsync(5);
    }
    await vi.advanceTimersByTimeAsync(50);
    await Promise.all(answers);
    // A fixed 10 ms window would have made 50 calls of 2; the gap never passes, so each call waits
    // the cap: items 0-39 (t = 0..195 ms) at 200 ms, 40-79 at 400 ms, the rest 10 ms after the last (495 ms).
    expect(calls.map((c) => c.clientIds.length)).toEqual([40, 40, 20]);
    expect(calls[0]!.clientIds[0]).toBe("t0");
    expect(calls[1]!.clientIds[0]).toBe("t40");
    expect(Math.min(...sentAt)).toBe(200);
    expect(Math.max(...sentAt)).toBe(505);
  });

  it("reads each item as it joins: a bad one is refused at once and alone, and the call sends the items read, not reading them again", async () => {
    const sent: JobSubmitRequestItem[][] = [];
    const b = new SubmitBatcher(async (_q, _s, items) => {
      sent.push(items);
      // As the client's submitJobs does: an item read ahead is sent as it is (the same object back).
      const again = items.map((i, n) => toJobSubmitRequestItem(i, `jobRequestItems[${n}]`));
      expect(again.every((i, n) => i === items[n])).toBe(true);
      return { jobResponseItems: items.map((i) => ({ jobId: `job-${i.clientId}`, error: "" })) };
    });
    const bad = b.submit("q", "s", {
      clientId: "bad",
      podSpecs: [{ containers: "nope" }],
    } as unknown as JobSubmitRequestItem);
    await expect(bad).rejects.toThrow(/jobRequestItems\[0\] at podSpecs\[0\]\.containers: expected a list/);
    expect(sent).toEqual([]);
    const answers = await Promise.all([b.submit("q", "s", item("a")), b.submit("q", "s", item("b"))]);
    expect(answers.map((a) => a.jobId)).toEqual(["job-a", "job-b"]);
    expect(sent.map((c) => c.map((i) => i.clientId))).toEqual([["a", "b"]]);
  });

  it("patient items (a trigger's, holding no task slot) batch apart, with the longer gap and wait", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const { call, calls } = fakeCall();
    const b = new SubmitBatcher(call, {
      windowMs: 10,
      maxWaitMs: 200,
      patientWindowMs: 100,
      patientMaxWaitMs: 2000,
    });
    const answers: Promise<unknown>[] = [];
    // 600 triggers submitting 5 ms apart over 3 s, and one task submitting in its slot at 1 s.
    for (let i = 0; i < 600; i++) {
      answers.push(b.submit("q", "s", item(`p${i}`), true));
      if (i === 200) answers.push(b.submit("q", "s", item("task")));
      await vi.advanceTimersByTimeAsync(5);
    }
    await vi.advanceTimersByTimeAsync(200);
    await Promise.all(answers);
    // The task's item went alone after its own 10 ms gap; the patient ones waited the 2 s cap (items 0-399),
    // then the last 200 went 100 ms after the last of them.
    expect(calls.map((c) => c.clientIds.length)).toEqual([1, 400, 200]);
    expect(calls[0]!.clientIds).toEqual(["task"]);
  });

  it("by default a lone patient item waits a 500 ms quiet gap (longer than a deferring fan-out's stalls)", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const { call, calls } = fakeCall();
    const b = new SubmitBatcher(call);
    const answer = b.submit("q", "s", item("p"), true);
    await vi.advanceTimersByTimeAsync(499);
    expect(calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    await answer;
    expect(calls.map((c) => c.clientIds)).toEqual([["p"]]);
  });

  it("sends a lone item once the gap has passed, not at the cap", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const { call, calls } = fakeCall();
    const b = new SubmitBatcher(call, { windowMs: 10, maxWaitMs: 200 });
    const first = b.submit("q", "s", item("a"));
    await vi.advanceTimersByTimeAsync(9);
    expect(calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    await first;
    // A second item 15 ms later (past the gap) is a call of its own.
    await vi.advanceTimersByTimeAsync(5);
    const second = b.submit("q", "s", item("b"));
    await vi.advanceTimersByTimeAsync(10);
    await second;
    expect(calls.map((c) => c.clientIds)).toEqual([["a"], ["b"]]);
  });

  it("shares one call among the items of a queue and job set, up to maxItems, each getting its own answer", async () => {
    const { call, calls } = fakeCall();
    const b = new SubmitBatcher(call, { maxItems: 500 });
    const answers = await Promise.all([
      ...Array.from({ length: 1200 }, (_, i) => b.submit("q", "set-a", item(`a${i}`))),
      b.submit("q", "set-b", item("b0")),
    ]);
    expect(answers.slice(0, 1200).map((a) => a.jobId)).toEqual(
      Array.from({ length: 1200 }, (_, i) => `job-a${i}`),
    );
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
    const bad = new ArmadaError({
      code: status.INVALID_ARGUMENT,
      details: "item 1: priority must be >= 0",
      method: "SubmitJobs",
    });
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
    const lost = new ArmadaError({
      code: status.DEADLINE_EXCEEDED,
      details: "deadline exceeded",
      method: "SubmitJobs",
    });
    const { call, calls } = fakeCall(() => lost);
    const b = new SubmitBatcher(call);
    const results = await Promise.allSettled([b.submit("q", "s", item("x")), b.submit("q", "s", item("y"))]);
    expect(results.map((r) => (r as PromiseRejectedResult).reason)).toEqual([lost, lost]);
    expect(calls).toHaveLength(1);
  });
});
