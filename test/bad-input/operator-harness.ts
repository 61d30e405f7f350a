/**
 * Runs an ArmadaOperator built from a bad-input case against an in-process
 * dev server with the real hook, the way a task runs it (construct, render,
 * execute), and checks that nothing reached the server or the task's XCom.
 * The server and the task share one manual clock that moves whenever the
 * task sleeps, so a case that slips through runs its job to the end and
 * fails at once ("expected the input to be refused"), not at a timeout.
 */
import { expect } from "vitest";
import { GrpcChannelArgs } from "../../src/client/channel-args.js";
import type { ManualClock } from "../../src/common/clock.js";
import { ArmadaOperator, type ArmadaOperatorOptions } from "../../src/operator/armada-operator.js";
import { runWithContext } from "../../src/runtime/context.js";
import type { TemplateEnv } from "../../src/runtime/template.js";
import type { DevServer } from "../../src/testing/index.js";
import { FakeTaskInstance, makeContext, withTimeFlowing } from "../operator/support.js";
import { goodItem } from "./cases/job-request-items.js";
import type { OperatorInput } from "./cases/operator.js";
import { refusal } from "./table.js";

/** Sets `env` for the duration of `fn` (the operator reads settings from process.env). */
async function withEnv<T>(env: Record<string, string> | undefined, fn: () => Promise<T>): Promise<T> {
  const saved = Object.entries(env ?? {}).map(([k]) => [k, process.env[k]] as const);
  Object.assign(process.env, env ?? {});
  try {
    return await fn();
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** What one case left behind. */
export interface OperatorOutcome {
  error: Error;
  /** The task instance, when the operator was constructed (XComs to check). */
  ti: FakeTaskInstance | undefined;
}

/**
 * Constructs, renders and executes an operator from a good baseline changed
 * by `input` (options, environment); resolves with what it threw.
 */
export async function runOperatorCase(
  server: DevServer,
  clock: ManualClock,
  input: OperatorInput,
  templateEnv?: TemplateEnv,
  params: Record<string, unknown> = {},
): Promise<OperatorOutcome> {
  let ti: FakeTaskInstance | undefined;
  const error = await refusal(() =>
    withEnv(input.env, async () => {
      const options = {
        taskId: "t",
        name: "bad-input",
        channelArgs: new GrpcChannelArgs({ target: server.grpcTarget }),
        armadaQueue: "q",
        jobRequest: goodItem(),
        pollInterval: 1,
        ...input.options,
      } as ArmadaOperatorOptions;
      const op = new ArmadaOperator(options);
      ti = new FakeTaskInstance(op);
      const context = { ...makeContext(op, ti, clock), params };
      await withTimeFlowing(clock, () =>
        runWithContext(context, async () => {
          await op.renderTemplateFields(context, templateEnv);
          return op.execute(context);
        }),
      );
    }),
  );
  return { error, ti };
}

/** What the dev server has received so far: compared before and after each case. */
export function serverMark(server: DevServer): { jobs: number; submits: number; lookups: number } {
  const counts = server.callCounts();
  return {
    jobs: server.jobs().length,
    submits: counts.SubmitJobs ?? 0,
    lookups: counts.GetJobStatusUsingExternalJobUri ?? 0,
  };
}

/** Asserts the dev server got no job and no submit since `before`, and the task stored no request or job. */
export function expectNothingSubmitted(
  server: DevServer,
  before: ReturnType<typeof serverMark>,
  ti: FakeTaskInstance | undefined,
): void {
  expect(serverMark(server)).toEqual(before);
  if (ti) {
    expect([...ti.xcoms.keys()].filter((k) => k === "job_request" || k === "job_context")).toEqual([]);
  }
}
