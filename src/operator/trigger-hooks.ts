/**
 * The hooks of a runner's waiting ArmadaPollJobTriggers, shared: every
 * trigger of one channel with the same call settings uses one ArmadaHook,
 * where each used to build its own (a hook, its channel arguments and
 * options, for each of 100,000 waiting tasks). A hook holds no state of its
 * own beyond those settings (the channel, its batchers and streams live in
 * the runner's connection pool), so sharing it changes nothing a trigger sees.
 */
import type { Clock } from "../common/clock.js";
import { GrpcChannelArgs } from "../client/channel-args.js";
import { currentRuntimeConfig } from "../runtime/runtime-config.js";
import { currentRunnerResources, type RunnerResource } from "../runtime/runner-resources.js";
import { ArmadaHook, configuredHookOptions, type ArmadaHookApi, type ArmadaHookOptions } from "./hook.js";

/** Hooks kept at most per runner (the least recently used is dropped): a runner talks to few channels. */
const MAX_HOOKS = 64;

const RESOURCE_KEY = Symbol.for("armada-airflow.operator.trigger-hooks");

interface Kept {
  clock: Clock;
  hook: ArmadaHookApi;
}

/** See the module comment; held in the runner's resources, so it ends with the runner. */
class TriggerHooks implements RunnerResource {
  private readonly kept = new Map<string, Kept>();

  hookFor(key: string, clock: Clock, make: () => ArmadaHookApi): ArmadaHookApi {
    const found = this.kept.get(key);
    this.kept.delete(key);
    const kept = found && found.clock === clock ? found : { clock, hook: make() };
    this.kept.set(key, kept);
    if (this.kept.size > MAX_HOOKS) this.kept.delete(this.kept.keys().next().value!);
    return kept.hook;
  }

  close(): void {
    this.kept.clear();
  }
}

/**
 * The hook for the channel `args` with `options`: the runner's shared one
 * when called in a runner, else a new one.
 */
export function triggerHook(
  args: GrpcChannelArgs,
  options: Pick<ArmadaHookOptions, "deadlineMs" | "submitLookupGraceMs"> & { clock: Clock },
): ArmadaHookApi {
  const make = () => new ArmadaHook(args, options);
  const resources = currentRunnerResources();
  if (!resources) return make();
  // The serialized arguments name the channel (target, options, auth): equal text, the same channel.
  const key = JSON.stringify([options.deadlineMs, options.submitLookupGraceMs, args.serialize()]);
  return resources.get(RESOURCE_KEY, () => new TriggerHooks()).hookFor(key, options.clock, make);
}

/**
 * The hook a trigger uses for the channel its task stored (XCom
 * `channel_args`, serialized or not), with the configured call settings; or
 * the one `hookFactory` makes (a test's).
 */
export function channelArgsHook(
  rawArgs: unknown,
  clock: Clock,
  hookFactory?: (channelArgs: GrpcChannelArgs) => ArmadaHookApi,
): ArmadaHookApi {
  const args = rawArgs instanceof GrpcChannelArgs ? rawArgs : GrpcChannelArgs.deserialize(rawArgs, 1);
  if (hookFactory) return hookFactory(args);
  return triggerHook(args, { clock, ...configuredHookOptions(currentRuntimeConfig().armada_operator) });
}
