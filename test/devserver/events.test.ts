import { status, type ClientReadableStream } from "@grpc/grpc-js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import type { EventStreamMessage } from "../../src/gen/armada/event.js";
import type { JobSubmitResponse } from "../../src/gen/armada/submit.js";
import { startDevServer, type DevServer } from "armada-airflow/testing";
import { sleepUntil } from "../support/sleep-until.js";
import { call, clients, jobItem, kinds, readEvents } from "./helpers.js";

describe("job set event streams", () => {
  let clock: ManualClock;
  let server: DevServer;
  let c: ReturnType<typeof clients>;

  beforeEach(async () => {
    clock = new ManualClock();
    server = await startDevServer({ clock, queues: ["q"] });
    c = clients(server.grpcTarget);
  });
  afterEach(async () => {
    c.close();
    await server.stop();
  });

  const submit = async (n = 1) =>
    (
      await call<unknown, JobSubmitResponse>(c.submit, "submitJobs", {
        queue: "q",
        jobSetId: "set",
        jobRequestItems: Array.from({ length: n }, () => jobItem()),
      })
    ).jobResponseItems.map((i) => i.jobId);

  it("keeps per-job-set order and resumes after a given message id", async () => {
    await submit(2);
    clock.advance(10_000);
    const all = await readEvents(c.events, { queue: "q", id: "set" });
    expect(all).toHaveLength(12);
    const ids = all.map((e) => e.id);
    expect(new Set(ids).size).toBe(12);
    const rest = await readEvents(c.events, { queue: "q", id: "set", fromMessageId: ids[4] });
    expect(rest.map((e) => e.id)).toEqual(ids.slice(5));
    expect(await readEvents(c.events, { queue: "q", id: "set", fromMessageId: ids[11] })).toEqual([]);
    await expect(
      readEvents(c.events, { queue: "q", id: "set", fromMessageId: "bogus" }),
    ).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
    });
  });

  it("errorIfMissing answers NOT_FOUND for a job set without events; without it the stream is just empty", async () => {
    await expect(
      readEvents(c.events, { queue: "q", id: "nothing", errorIfMissing: true }),
    ).rejects.toMatchObject({
      code: status.NOT_FOUND,
    });
    expect(await readEvents(c.events, { queue: "q", id: "nothing" })).toEqual([]);
  });

  it("watch keeps the stream open and delivers new events as they happen", async () => {
    const got: EventStreamMessage[] = [];
    const stream: ClientReadableStream<EventStreamMessage> = c.events.getJobSetEvents({
      id: "set",
      queue: "q",
      watch: true,
      fromMessageId: "",
      errorIfMissing: false,
    });
    stream.on("data", (m: EventStreamMessage) => got.push(m));
    const ended = new Promise<unknown>((resolve) => stream.on("error", resolve));
    await sleepUntil(() => server.callCounts().GetJobSetEvents === 1, "stream open");
    await submit(1);
    await sleepUntil(() => got.length === 2, "submitted+queued");
    clock.advance(400);
    await sleepUntil(() => got.length === 5, "leased, pending, running");
    clock.advance(5000);
    await sleepUntil(() => got.length === 6, "succeeded");
    expect(kinds(got)).toEqual(["submitted", "queued", "leased", "pending", "running", "succeeded"]);
    stream.cancel();
    expect(await ended).toMatchObject({ code: status.CANCELLED });
  });

  it("a dropped stream can be resumed from the last id without losing or repeating events", async () => {
    await submit(1);
    clock.advance(10_000);
    server.faults.dropEventStreamAfter(2);
    const first: EventStreamMessage[] = [];
    const err = await new Promise<{ code: number }>((resolve) => {
      const s = c.events.getJobSetEvents({
        id: "set",
        queue: "q",
        watch: true,
        fromMessageId: "",
        errorIfMissing: false,
      });
      s.on("data", (m: EventStreamMessage) => first.push(m));
      s.on("error", resolve);
    });
    expect(err.code).toBe(status.UNAVAILABLE);
    expect(first).toHaveLength(2);
    const rest = await readEvents(c.events, { queue: "q", id: "set", fromMessageId: first[1].id });
    expect(kinds([...first, ...rest])).toEqual([
      "submitted",
      "queued",
      "leased",
      "pending",
      "running",
      "succeeded",
    ]);
  });
});
