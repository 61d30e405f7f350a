/**
 * Settings that would make every Armada call fail are refused before the
 * first call, at once, naming the setting: a zero RPC deadline, an
 * unreadable TLS file, an unset token variable.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { BearerTokenAuth } from "../../src/client/bearer-token-auth.js";
import { GrpcChannelArgs, type GrpcChannelArgsInit } from "../../src/client/channel-args.js";
import { ManualClock } from "../../src/common/clock.js";
import { ArmadaOperator } from "../../src/operator/armada-operator.js";
import { armadaEnvironment } from "../../src/operator/armada-environment.js";
import { ArmadaOperatorInputError } from "../../src/operator/errors.js";
import { ArmadaHook, closeArmadaHookClients } from "../../src/operator/hook.js";
import { runWithContext } from "../../src/runtime/context.js";
import { isTaskFatalError } from "../../src/runtime/errors.js";
import { startDevServer, type DevServer } from "../../src/testing/index.js";
import { goodItem } from "../bad-input/cases/job-request-items.js";
import { FakeTaskInstance, makeContext, withTimeFlowing } from "./support.js";

let server: DevServer;
beforeAll(async () => {
  server = await startDevServer({ clock: new ManualClock(), queues: ["q"] });
});
afterAll(async () => {
  closeArmadaHookClients();
  await server.stop();
});
const DEADLINE_ENV = "ARMADA_AIRFLOW__ARMADA_OPERATOR__RPC_DEADLINE_S";
afterEach(() => {
  delete process.env[DEADLINE_ENV];
});

/** Runs an operator with the real hook against the dev server; returns what it threw. */
async function runOperator(channelArgs: GrpcChannelArgs | GrpcChannelArgsInit): Promise<unknown> {
  // Settings from the environment are refused as early as construction (DAG load).
  let op: ArmadaOperator;
  try {
    op = makeOperator(channelArgs);
  } catch (e) {
    return e;
  }
  return runConstructed(op);
}

function makeOperator(channelArgs: GrpcChannelArgs | GrpcChannelArgsInit): ArmadaOperator {
  return new ArmadaOperator({
    taskId: "t",
    name: "n",
    channelArgs,
    armadaQueue: "q",
    jobRequest: goodItem(),
    pollInterval: 1,
  });
}

async function runConstructed(op: ArmadaOperator): Promise<unknown> {
  const ti = new FakeTaskInstance(op);
  const clock = new ManualClock();
  const context = makeContext(op, ti, clock);
  return withTimeFlowing(clock, () =>
    runWithContext(context, async () => {
      await op.renderTemplateFields(context);
      return op.execute(context);
    }),
  ).then(
    () => undefined,
    (e: unknown) => e,
  );
}

function expectRefusedBeforeAnyCall(err: unknown, field: string, says: RegExp): void {
  expect(err).toBeInstanceOf(ArmadaOperatorInputError);
  expect((err as ArmadaOperatorInputError).field).toBe(field);
  expect((err as Error).message).toMatch(says);
  expect(isTaskFatalError(err)).toBe(true);
  expect(server.callCounts().SubmitJobs ?? 0).toBe(0);
  expect(server.callCounts().GetJobStatusUsingExternalJobUri ?? 0).toBe(0);
  expect(server.jobs()).toHaveLength(0);
}

describe("the operator checks its settings before the first call", () => {
  it("rpc_deadline_s = 0 fails at once, naming the setting", async () => {
    process.env[DEADLINE_ENV] = "0";
    const err = await runOperator({ target: server.grpcTarget });
    expectRefusedBeforeAnyCall(
      err,
      "armada_operator.rpc_deadline_s",
      /must be a number of seconds > 0, got 0/,
    );
  });

  it("a missing TLS caFile fails at once, naming the option and the path", async () => {
    const err = await runOperator({ target: server.grpcTarget, tls: { caFile: "/nonexistent/ca.pem" } });
    expectRefusedBeforeAnyCall(
      err,
      "channelArgs.tls.caFile",
      /Cannot read TLS caFile "\/nonexistent\/ca.pem" \(ENOENT\)/,
    );
  });

  it("a token read from an unset variable fails at once, naming the variable", async () => {
    const err = await runOperator({
      target: server.grpcTarget,
      auth: BearerTokenAuth.fromEnv("PREFLIGHT_TEST_UNSET_TOKEN"),
    });
    expectRefusedBeforeAnyCall(
      err,
      "channelArgs.auth.tokenEnv",
      /environment variable PREFLIGHT_TEST_UNSET_TOKEN is not set/,
    );
  });
});

describe("other early checks", () => {
  it("ARMADA_TOKEN_ENV naming an unset variable says which", async () => {
    const err = await armadaEnvironment({
      env: { ARMADA_TARGET: "armada.example.com:443", ARMADA_TOKEN_ENV: "NOPE_TOKEN" },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArmadaOperatorInputError);
    expect((err as ArmadaOperatorInputError).field).toBe("ARMADA_TOKEN_ENV");
    expect((err as Error).message).toMatch(/environment variable NOPE_TOKEN, which is not set/);
  });

  it("ArmadaHook refuses a deadline of 0 at construction", () => {
    expect(
      () => new ArmadaHook(new GrpcChannelArgs({ target: server.grpcTarget }), { deadlineMs: 0 }),
    ).toThrow(/deadlineMs must be a number > 0, got 0/);
  });
});
