import { status } from "@grpc/grpc-js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import type { GetActiveQueuesResponse } from "../../src/gen/armada/job.js";
import {
  Queue,
  type BatchQueueCreateResponse,
  type JobReprioritizeResponse,
  type JobSubmitResponse,
  type StreamingQueueMessage,
} from "../../src/gen/armada/submit.js";
import { startDevServer, type DevServer } from "armada-airflow/testing";
import { sleepUntil } from "../support/sleep-until.js";
import { call, clients, jobItem } from "./helpers.js";

describe("queue API and reprioritization", () => {
  let clock: ManualClock;
  let server: DevServer;
  let c: ReturnType<typeof clients>;
  beforeEach(async () => {
    clock = new ManualClock();
    server = await startDevServer({
      clock,
      queues: [],
      clusters: [{ id: "c1", nodes: [{ name: "n1", cpu: "1", memory: "8Gi" }] }],
    });
    c = clients(server.grpcTarget);
  });
  afterEach(async () => {
    c.close();
    await server.stop();
  });

  const listQueues = () =>
    new Promise<string[]>((resolve, reject) => {
      const names: string[] = [];
      const s = c.queues.getQueues({ num: 0 });
      s.on("data", (m: StreamingQueueMessage) => {
        if (m.event?.$case === "queue") names.push(m.event.value.name);
      });
      s.on("error", reject);
      s.on("end", () => resolve(names));
    });

  it("creates (singly and in batches), updates, cordons, lists and deletes queues", async () => {
    await call(c.queues, "createQueue", Queue.fromPartial({ name: "one", priorityFactor: 1 }));
    const batch = await call<unknown, BatchQueueCreateResponse>(c.queues, "createQueues", {
      queues: [Queue.fromPartial({ name: "two" }), Queue.fromPartial({ name: "one" })],
    });
    expect(batch.failedQueues.map((f) => [f.queue?.name, f.error])).toEqual([
      ["one", 'queue "one" already exists'],
    ]);
    await call(c.queues, "updateQueue", Queue.fromPartial({ name: "two", priorityFactor: 3 }));
    expect((await call<unknown, Queue>(c.queues, "getQueue", { name: "two" })).priorityFactor).toBe(3);
    await call(c.queues, "cordonQueue", { name: "two" });
    expect((await call<unknown, Queue>(c.queues, "getQueue", { name: "two" })).cordoned).toBe(true);
    // The legacy Submit service carries the same queue methods.
    await call(c.submit, "createQueue", Queue.fromPartial({ name: "three" }));
    expect(await listQueues()).toEqual(["one", "three", "two"]);
    await call(c.queues, "deleteQueue", { name: "one" });
    await expect(call(c.queues, "getQueue", { name: "one" })).rejects.toMatchObject({
      code: status.NOT_FOUND,
    });
    await expect(call(c.queues, "updateQueue", Queue.fromPartial({ name: "nope" }))).rejects.toMatchObject({
      code: status.NOT_FOUND,
    });
    await expect(call(c.queues, "createQueue", Queue.fromPartial({ name: "" }))).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
    });
  });

  it("reprioritizes a queued job so it runs first, and lists active queues", async () => {
    await call(c.queues, "createQueue", Queue.fromPartial({ name: "q" }));
    const res = await call<unknown, JobSubmitResponse>(c.submit, "submitJobs", {
      queue: "q",
      jobSetId: "s",
      jobRequestItems: [jobItem({ priority: 1 }), jobItem({ priority: 2 })],
    });
    const [first, second] = res.jobResponseItems.map((i) => i.jobId);
    const rep = await call<unknown, JobReprioritizeResponse>(c.submit, "reprioritizeJobs", {
      jobIds: [second],
      jobSetId: "s",
      queue: "q",
      newPriority: 0,
    });
    expect(rep.reprioritizationResults).toEqual({ [second]: "" });
    clock.advance(100);
    await sleepUntil(
      () => server.jobs().find((j) => j.id === second)!.state === "LEASED",
      "second leased first",
    );
    expect(server.jobs().find((j) => j.id === first)!.state).toBe("QUEUED");
    const active = await call<unknown, GetActiveQueuesResponse>(c.jobs, "getActiveQueues", {});
    expect(active.activeQueuesByPool.default.queues).toEqual(["q"]);
  });
});
