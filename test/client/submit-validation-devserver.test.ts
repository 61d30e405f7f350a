/**
 * The dev server refuses malformed items on receipt, over raw gRPC: the
 * whole call fails INVALID_ARGUMENT naming the item index and field, and no
 * job is recorded. The rules the dev server answers per item (names, no pod
 * spec) still end that item REJECTED with its reason, as a real server's
 * later checks do.
 */
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { validateSubmitItem } from "../../src/client/submit-validation.js";
import { ManualClock } from "../../src/common/clock.js";
import { startDevServer, type DevServer } from "../../src/testing/index.js";
import type { JobSubmitRequestItem, JobSubmitResponse } from "../../src/gen/armada/submit.js";
import { call, clients } from "../devserver/helpers.js";
import { goodItem, INVALID_CASES, VALID_CASES } from "./submit-validation-cases.js";

let server: DevServer;
let c: ReturnType<typeof clients>;
beforeAll(async () => {
  server = await startDevServer({ clock: new ManualClock(), queues: ["q"] });
  // Generated clients, not ArmadaClient: it checks some fields (NaN) before sending.
  c = clients(server.grpcTarget);
});
const submit = (jobSetId: string, jobRequestItems: JobSubmitRequestItem[]) =>
  call<unknown, JobSubmitResponse>(c.submit, "submitJobs", { queue: "q", jobSetId, jobRequestItems });
afterAll(async () => {
  c.close();
  await server.stop();
});

const PER_ITEM_RULES = new Set([
  "pod-spec-missing",
  "pod-spec-count",
  "containers",
  "container-name",
  "namespace",
]);
const ruleOf = (k: (typeof INVALID_CASES)[number]) =>
  validateSubmitItem(k.item).find((i) => i.path === k.path)!.rule;

/**
 * Items the real server's own request checks refuse first, with its own
 * message (the dev server's submit-refusals.ts gives the same text).
 */
const REAL_SERVER_MESSAGES: Record<string, RegExp> = {
  "both podSpec and podSpecs": /PodSpec must be nil if PodSpecs is provided/,
  "client id of 101 characters": /client id of length 101 is greater than max allowed length of\s+100/,
  "no pod spec": /Job must contain at least one PodSpec/,
};

describe("the dev server refuses a malformed item on receipt", () => {
  it.each(Object.entries(REAL_SERVER_MESSAGES))(
    "%s: INVALID_ARGUMENT with the real server's message",
    async (name, says) => {
      const k = INVALID_CASES.find((c) => c.name === name)!;
      const before = server.jobs().length;
      const err = (await submit("bad-input", [goodItem(), k.item]).catch((e: unknown) => e)) as {
        code: number;
        details: string;
      };
      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(err.details).toMatch(says);
      expect(server.jobs().length).toBe(before);
    },
  );

  const whole = INVALID_CASES.filter(
    (c) => !PER_ITEM_RULES.has(ruleOf(c)) && !(c.name in REAL_SERVER_MESSAGES),
  );
  it.each(whole.map((k) => [k.name, k] as const))(
    "%s: INVALID_ARGUMENT naming item 1 and the field",
    async (_n, k) => {
      const before = server.jobs().length;
      const err = (await submit("bad-input", [goodItem(), k.item]).catch((e: unknown) => e)) as {
        code: number;
        details: string;
      };
      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(err.details).toContain(`job_request_items[1].${k.path}: `);
      expect(err.details).toMatch(k.says);
      expect(server.jobs().length).toBe(before);
    },
  );

  const perItem = INVALID_CASES.filter(
    (c) => PER_ITEM_RULES.has(ruleOf(c)) && !(c.name in REAL_SERVER_MESSAGES),
  );
  it.each(perItem.map((k) => [k.name, k] as const))(
    "%s: that item ends REJECTED, the call succeeds",
    async (_n, k) => {
      const res = await submit("per-item", [goodItem(), k.item]);
      const bad = res.jobResponseItems[1]!.jobId;
      expect(server.jobs().find((j) => j.id === bad)?.state).toBe("REJECTED");
    },
  );

  it.each(VALID_CASES.map((k) => [k.name, k] as const))("accepts %s", async (_n, k) => {
    const res = await submit("good", [k.item]);
    expect(res.jobResponseItems[0]!.error).toBe("");
    expect(server.jobs().some((j) => j.id === res.jobResponseItems[0]!.jobId)).toBe(true);
  });
});
