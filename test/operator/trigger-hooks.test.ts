/**
 * The waiting triggers of one runner share a hook per channel and call
 * settings (instead of one each), and nothing is shared outside a runner.
 */
import { describe, expect, it } from "vitest";
import { GrpcChannelArgs } from "../../src/client/channel-args.js";
import { ManualClock } from "../../src/common/clock.js";
import { triggerHook } from "../../src/operator/trigger-hooks.js";
import { RunnerResources, withRunnerResources } from "../../src/runtime/runner-resources.js";

const clock = new ManualClock();
const settings = { clock, deadlineMs: 30_000, submitLookupGraceMs: 30_000 };
const argsOf = (target: string) => new GrpcChannelArgs({ target });

describe("triggerHook", () => {
  it("gives the triggers of one runner one hook per channel and settings", async () => {
    const resources = new RunnerResources();
    const [a, b, other, slower, otherClock] = withRunnerResources(resources, () => [
      triggerHook(argsOf("armada.example:50051"), settings),
      // The same channel, as a trigger reads it back from XCom.
      triggerHook(
        GrpcChannelArgs.deserialize(JSON.parse(JSON.stringify(argsOf("armada.example:50051")))),
        settings,
      ),
      triggerHook(argsOf("other.example:50051"), settings),
      triggerHook(argsOf("armada.example:50051"), { ...settings, deadlineMs: 60_000 }),
      triggerHook(argsOf("armada.example:50051"), { ...settings, clock: new ManualClock() }),
    ]);
    expect(b).toBe(a);
    expect(other).not.toBe(a);
    expect(slower).not.toBe(a);
    expect(otherClock).not.toBe(a);
    // Another runner has its own.
    const elsewhere = withRunnerResources(new RunnerResources(), () =>
      triggerHook(argsOf("armada.example:50051"), settings),
    );
    expect(elsewhere).not.toBe(a);
    // A runner that stopped and starts again makes new ones.
    await resources.close();
    expect(
      withRunnerResources(resources, () => triggerHook(argsOf("armada.example:50051"), settings)),
    ).not.toBe(a);
  });

  it("makes a new hook each time outside a runner", () => {
    expect(triggerHook(argsOf("armada.example:50051"), settings)).not.toBe(
      triggerHook(argsOf("armada.example:50051"), settings),
    );
  });
});
