/**
 * Bad templates in what the operator renders: each is refused at render
 * time, naming the field path (and line and column for syntax errors),
 * before anything is submitted or stored.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import { closeArmadaHookClients } from "../../src/operator/hook.js";
import { startDevServer, type DevServer } from "../../src/testing/index.js";
import { TEMPLATE_CASES, TEMPLATE_PARAMS } from "./cases/templates.js";
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

describe("the operator refuses a bad template before submitting", () => {
  it.each(each(TEMPLATE_CASES))("%s", async (_name, c) => {
    const before = serverMark(server);
    const { error, ti } = await runOperatorCase(server, clock, c.input, c.input.templateEnv, TEMPLATE_PARAMS);
    expectNamesField(error.message, c);
    // Nothing of the process leaks into the message.
    const home = process.env.HOME;
    if (home) expect(error.message).not.toContain(`HOME=${home}`);
    expectNothingSubmitted(server, before, ti);
  });
});
