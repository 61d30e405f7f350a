/**
 * Bad input to ArmadaOperator, in every form a job request is written and in
 * the operator's own options and settings: each is refused before anything
 * is submitted, with an error naming the field, and nothing is stored.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import { ArmadaOperatorInputError } from "../../src/operator/errors.js";
import { closeArmadaHookClients } from "../../src/operator/hook.js";
import { isTaskFatalError } from "../../src/runtime/errors.js";
import { startDevServer, type DevServer } from "../../src/testing/index.js";
import { GOOD_YAML_REQUEST, JOB_REQUEST_CASES, OPERATOR_OPTION_CASES } from "./cases/operator.js";
import { expectNothingSubmitted, runOperatorCase, serverMark } from "./operator-harness.js";
import { each, expectNamesField } from "./table.js";

let server: DevServer;
const clock = new ManualClock();
beforeAll(async () => {
  server = await startDevServer({ clock, queues: ["q"] });
});
afterAll(async () => {
  closeArmadaHookClients();
  await server.stop();
});

describe("the operator refuses a malformed job request before submitting", () => {
  it.each(each(JOB_REQUEST_CASES))("%s", async (_name, c) => {
    const before = serverMark(server);
    const { error, ti } = await runOperatorCase(server, clock, c.input);
    expect(error).toBeInstanceOf(ArmadaOperatorInputError);
    expect((error as ArmadaOperatorInputError).field).toBe(c.field);
    expectNamesField(error.message, c);
    expect(isTaskFatalError(error)).toBe(true);
    expectNothingSubmitted(server, before, ti);
  });
});

describe("the operator refuses bad options and settings before submitting", () => {
  it.each(each(OPERATOR_OPTION_CASES))("%s", async (_name, c) => {
    const before = serverMark(server);
    const { error, ti } = await runOperatorCase(server, clock, c.input);
    expectNamesField(error.message, c);
    expectNothingSubmitted(server, before, ti);
  });
});

describe("YAML text as jobRequest, as the README documents", () => {
  it("is accepted, every string rendered as a template, and submitted", async () => {
    const ownClock = new ManualClock();
    const own = await startDevServer({ clock: ownClock, queues: ["q"] });
    try {
      const ok = await runOperatorCase(
        own,
        ownClock,
        { options: { jobRequest: GOOD_YAML_REQUEST } },
        undefined,
        {
          team: "data",
        },
      ).catch((e: unknown) => e);
      // runOperatorCase expects a refusal: here the job ran to its end instead.
      expect(String(ok)).toMatch(/expected the input to be refused/);
      const [job] = own.jobs();
      expect(own.jobs()).toHaveLength(1);
      expect(job!.state).toBe("SUCCEEDED");
      expect(job!.priority).toBe(2);
      expect(job!.labels).toMatchObject({ team: "data" });
      expect(job!.spec.podSpec?.containers[0]?.args).toEqual(["echo t in test_run_1"]);
    } finally {
      await own.stop();
    }
  });
});
