/**
 * How a waiting ArmadaOperator task learns that its job moved: by batched
 * polling at aligned poll moments (`poll`), or woken by its job set's shared
 * event stream and confirmed by one batched status call (`events`; see
 * `job-set-watch.ts`). Read from the option, else config.
 */
import { currentRuntimeConfig, type ArmadaOperatorConfig } from "../runtime/runtime-config.js";
import { ArmadaOperatorInputError } from "./errors.js";

/** See the module comment. */
export type ArmadaTracking = "poll" | "events";

const MODES: readonly ArmadaTracking[] = ["poll", "events"];

/**
 * The operator option, else config `[armada_operator] tracking` (`config`,
 * default {@link currentRuntimeConfig}'s; its default is `poll`); a bad
 * value names where it came from.
 */
export function resolveTracking(option: unknown, config?: ArmadaOperatorConfig): ArmadaTracking {
  if (option !== undefined) return checkMode("tracking", option);
  return checkMode("armada_operator.tracking", (config ?? currentRuntimeConfig().armada_operator).tracking);
}

/**
 * Config `[armada_operator] max_event_streams` (streams open at once per
 * process; 0 = none; default 100) of `config`
 * (default {@link currentRuntimeConfig}'s), checked.
 */
export function maxEventStreams(config?: ArmadaOperatorConfig): number {
  const n = (config ?? currentRuntimeConfig().armada_operator).max_event_streams;
  if (!Number.isInteger(n) || n < 0) {
    throw new ArmadaOperatorInputError(
      "armada_operator.max_event_streams",
      `must be a whole number >= 0 (streams open at once per process; 0 polls every job), got ${n}`,
    );
  }
  return n;
}

function checkMode(field: string, value: unknown): ArmadaTracking {
  if ((MODES as readonly unknown[]).includes(value)) return value as ArmadaTracking;
  throw new ArmadaOperatorInputError(
    field,
    `must be "poll" (batched status checks at each poll moment) or "events" (woken by the job set's event ` +
      `stream, confirmed by one status check), got ${JSON.stringify(value)}`,
  );
}
