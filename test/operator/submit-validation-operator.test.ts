/**
 * The operator refuses every malformed job before submitting: the error
 * names the field path, is fatal (no retry), nothing reaches the hook and
 * the rendered request is not stored in XCom.
 */
import { afterEach, describe, expect, it } from "vitest";
import { GrpcChannelArgs } from "../../src/client/channel-args.js";
import { ManualClock } from "../../src/common/clock.js";
import { ArmadaOperator, type ArmadaOperatorOptions } from "../../src/operator/armada-operator.js";
import { ArmadaOperatorInputError } from "../../src/operator/errors.js";
import { JobState } from "../../src/operator/job-states.js";
import { runWithContext } from "../../src/runtime/context.js";
import { isTaskFatalError } from "../../src/runtime/errors.js";
import { goodItem, INVALID_CASES } from "../client/submit-validation-cases.js";
import { FakeHook, FakeTaskInstance, makeContext, withTimeFlowing } from "./support.js";

function setup(options: Partial<ArmadaOperatorOptions>) {
  const hook = new FakeHook([JobState.SUCCEEDED]);
  const op = new ArmadaOperator({
    taskId: "t",
    name: "n",
    channelArgs: new GrpcChannelArgs({ target: "127.0.0.1:50051" }),
    armadaQueue: "q",
    jobRequest: goodItem(),
    pollInterval: 1,
    hookFactory: () => hook,
    ...options,
  });
  const ti = new FakeTaskInstance(op);
  const clock = new ManualClock();
  const context = makeContext(op, ti, clock);
  const execute = () =>
    withTimeFlowing(clock, () =>
      runWithContext(context, async () => {
        await op.renderTemplateFields(context);
        return op.execute(context);
      }),
    );
  return { hook, ti, execute };
}

afterEach(() => {
  delete process.env.ANNOTATION_KEY_PREFIX;
});

// A quantity message with no value is written as "0" in the Kubernetes form
// the operator works in, so only a raw gRPC client can send one.
const OPERATOR_CASES = INVALID_CASES.filter((c) => !c.rawOnly);

describe("ArmadaOperator refuses a malformed job before submitting", () => {
  it.each(OPERATOR_CASES.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    const s = setup({ jobRequest: c.item });
    const err = await s.execute().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArmadaOperatorInputError);
    expect((err as ArmadaOperatorInputError).field).toBe(`job_request.${c.path}`);
    expect((err as Error).message).toContain(`job_request.${c.path}: `);
    expect((err as Error).message).toMatch(c.says);
    expect(isTaskFatalError(err)).toBe(true);
    expect(s.hook.submits).toHaveLength(0);
    expect(s.ti.xcoms.has("job_request")).toBe(false);
  });

  it("refuses ANNOTATION_KEY_PREFIX='bad prefix!' naming the variable and the fix", async () => {
    process.env.ANNOTATION_KEY_PREFIX = "bad prefix!";
    const s = setup({});
    const err = await s.execute().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArmadaOperatorInputError);
    expect((err as ArmadaOperatorInputError).field).toBe("ANNOTATION_KEY_PREFIX");
    expect((err as Error).message).toMatch(
      /"bad prefix!" does not make valid annotation keys.*"armadaproject.io\/"/,
    );
    expect(s.hook.submits).toHaveLength(0);
  });

  it("accepts a custom prefix that makes valid keys, and submits once", async () => {
    process.env.ANNOTATION_KEY_PREFIX = "example.com/";
    const s = setup({});
    await s.execute();
    expect(s.hook.submits).toHaveLength(1);
    expect(s.hook.submits[0]!.item.annotations["example.com/taskId"]).toBe("t");
  });

  it("refuses a job whose rendered template is invalid (priority rendered from a param)", async () => {
    const s = setup({ jobRequest: { ...goodItem(), priority: "{{ -5 }}" as unknown as number } });
    const err = await s.execute().catch((e: unknown) => e);
    expect((err as ArmadaOperatorInputError).field).toBe("job_request.priority");
    expect(s.hook.submits).toHaveLength(0);
  });
});
