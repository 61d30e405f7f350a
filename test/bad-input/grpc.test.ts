/**
 * The dev server refuses malformed calls on receipt, over raw gRPC (the
 * generated clients, which check nothing before sending): the whole call
 * fails naming the item and field, and nothing is stored. Names that
 * Armada's submit checks leave to Kubernetes (namespace, container names)
 * are accepted, and the job fails when its pod cannot be created, with the
 * API server's reason, as on a real cluster.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import { sleepUntil } from "../support/sleep-until.js";
import { startDevServer, type DevServer } from "../../src/testing/index.js";
import type { JobSubmitRequestItem, JobSubmitResponse } from "../../src/gen/armada/submit.js";
import { call, clients } from "../devserver/helpers.js";
import { GRPC_CASES, PER_ITEM_CASES } from "./cases/grpc.js";
import { goodItem, VALID_CASES } from "./cases/job-request-items.js";
import { each, expectNamesField, refusal } from "./table.js";

let server: DevServer;
let c: ReturnType<typeof clients>;
const clock = new ManualClock();
beforeAll(async () => {
  server = await startDevServer({ clock, queues: ["q"] });
  // Generated clients, not ArmadaClient: it checks some fields (NaN) before sending.
  c = clients(server.grpcTarget);
});
afterAll(async () => {
  c.close();
  await server.stop();
});
const submit = (jobSetId: string, jobRequestItems: JobSubmitRequestItem[]) =>
  call<unknown, JobSubmitResponse>(c.submit, "submitJobs", { queue: "q", jobSetId, jobRequestItems });

/** Jobs and their states: what a refused call must leave as it was. */
const snapshot = () => server.jobs().map((j) => `${j.id}:${j.state}`);

describe("the dev server refuses a malformed call as a whole", () => {
  it.each(each(GRPC_CASES))("%s", async (_name, k) => {
    const before = snapshot();
    const err = (await refusal(() =>
      call(k.input.service === "jobs" ? c.jobs : c.submit, k.input.method, k.input.request),
    )) as Error & {
      code: number;
      details: string;
    };
    expect(err.code).toBe(k.input.code);
    expectNamesField(err.details, k);
    expect(snapshot()).toEqual(before);
  });
});

describe("names Kubernetes refuses, as a real cluster refuses them", () => {
  it.each(PER_ITEM_CASES.map((k) => [k.name, k] as const))(
    "%s: the call succeeds, and that job fails creating its pod",
    async (_n, k) => {
      const res = await submit("per-item", [goodItem(), k.item]);
      const bad = res.jobResponseItems[1]!.jobId;
      const job = () => server.jobs().find((j) => j.id === bad);
      await sleepUntil(() => {
        clock.advance(500);
        return job()?.state === "FAILED";
      }, `job ${bad} fails`);
      expect(job()!.error).toMatch(
        k.path === "namespace"
          ? /namespaces ".*" not found/
          : /Pod "armada-.*-0" is invalid: spec\.containers\[\d\]\.name/,
      );
      expect(job()!.runs).toHaveLength(1);
    },
  );

  it.each(VALID_CASES.map((k) => [k.name, k] as const))("accepts %s", async (_n, k) => {
    const res = await submit("good", [k.item]);
    expect(res.jobResponseItems[0]!.error).toBe("");
    expect(server.jobs().some((j) => j.id === res.jobResponseItems[0]!.jobId)).toBe(true);
  });
});
