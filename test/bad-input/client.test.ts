/**
 * Bad channel args, auth and job request items given to the client: each is
 * refused naming the option (or item and field) before anything is sent;
 * the dev server receives no call.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import { startDevServer, type DevServer } from "../../src/testing/index.js";
import { CLIENT_CASES } from "./cases/client.js";
import { each, expectNamesField, refusal } from "./table.js";

let server: DevServer;
beforeAll(async () => {
  server = await startDevServer({ clock: new ManualClock(), queues: ["q"] });
});
afterAll(async () => {
  await server.stop();
});

describe("the client refuses bad input before any call", () => {
  it.each(each(CLIENT_CASES))("%s", async (_name, c) => {
    const error = await refusal(() => c.input(server.grpcTarget));
    expectNamesField(error.message, c);
    expect(server.jobs()).toHaveLength(0);
    expect(server.callCounts().SubmitJobs ?? 0).toBe(0);
  });
});
