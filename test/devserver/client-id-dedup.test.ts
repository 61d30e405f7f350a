import { afterEach, beforeEach, expect, it } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import type { JobSubmitResponse } from "../../src/gen/armada/submit.js";
import { startDevServer, type DevServer } from "armada-airflow/testing";
import { call, clients, jobItem } from "./helpers.js";

let server: DevServer;
let c: ReturnType<typeof clients>;

beforeEach(async () => {
  server = await startDevServer({ clock: new ManualClock(), queues: ["q", "other"] });
  c = clients(server.grpcTarget);
});
afterEach(async () => {
  c.close();
  await server.stop();
});

const submit = async (queue: string, jobSetId: string, clientId: string) =>
  (
    await call<unknown, JobSubmitResponse>(c.submit, "submitJobs", {
      queue,
      jobSetId,
      jobRequestItems: [{ ...jobItem(), clientId }],
    })
  ).jobResponseItems.map((i) => i.jobId);

it("answers a repeated client id in a queue with the job it created, creating no second job", async () => {
  const [first] = await submit("q", "set", "client-1");
  const [again] = await submit("q", "set", "client-1");
  expect(again).toBe(first);
  expect(server.jobs()).toHaveLength(1);
});

it("creates separate jobs for different client ids, for no client id, and for the same id in another queue", async () => {
  const a = await submit("q", "set", "client-a");
  const b = await submit("q", "set", "client-b");
  const none1 = await submit("q", "set", "");
  const none2 = await submit("q", "set", "");
  const otherQueue = await submit("other", "set", "client-a");
  const ids = [...a, ...b, ...none1, ...none2, ...otherQueue];
  expect(new Set(ids).size).toBe(5);
  expect(server.jobs()).toHaveLength(5);
});
