/**
 * Hooks share a channel's client and batchers only when they ask for the
 * same thing: the same channel arguments, clock and call deadline. A hook
 * with a shorter deadline must not silently get an earlier hook's client.
 */
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GrpcChannelArgs } from "../../src/client/channel-args.js";
import { ManualClock } from "../../src/common/clock.js";
import { ArmadaHook, closeArmadaHookClients } from "../../src/operator/hook.js";
import { startDevServer, type DevServer } from "../../src/testing/index.js";

let server: DevServer;
beforeAll(async () => {
  server = await startDevServer({ queues: ["q"] });
});
afterAll(async () => {
  closeArmadaHookClients();
  await server.stop();
});

describe("ArmadaHook channel sharing", () => {
  it("same arguments, clock and deadline share one client; another deadline or clock gets its own", () => {
    const args = new GrpcChannelArgs({ target: server.grpcTarget });
    const a = new ArmadaHook(args, { deadlineMs: 30_000 });
    expect(
      new ArmadaHook(new GrpcChannelArgs({ target: server.grpcTarget }), { deadlineMs: 30_000 }).client,
    ).toBe(a.client);
    expect(new ArmadaHook(args, { deadlineMs: 500 }).client).not.toBe(a.client);
    expect(new ArmadaHook(args, { deadlineMs: 30_000, clock: new ManualClock() }).client).not.toBe(a.client);
  });

  it("a hook with a short deadline times out on a slow server although a long-deadline hook came first", async () => {
    const args = new GrpcChannelArgs({ target: server.grpcTarget });
    const patient = new ArmadaHook(args, { deadlineMs: 60_000 });
    void patient.client;
    server.faults.latency("GetJobStatus", 3_000);
    try {
      const hasty = new ArmadaHook(args, { deadlineMs: 200 });
      const err = (await hasty.client.getJobStatus({ jobIds: ["x"] }).then(
        () => undefined,
        (e: unknown) => e,
      )) as { code?: number } | undefined;
      expect(err?.code).toBe(status.DEADLINE_EXCEEDED);
    } finally {
      server.faults.clear();
    }
  });
});
