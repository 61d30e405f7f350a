/**
 * How a waiting ArmadaOperator task learns that its job moved: by batched
 * polling at aligned poll moments (`poll`), or woken by its job set's shared
 * event stream and confirmed by one batched status call (`events`; see
 * `job-set-watch.ts`). Read from the option, else config.
 */
import { getConfig, getConfigNumber } from "../runtime/config.js";
import { ArmadaOperatorInputError } from "./errors.js";

/** See the module comment. */
export type ArmadaTracking = "poll" | "events";

const MODES: readonly ArmadaTracking[] = ["poll", "events"];

/** The default when neither the option nor `[armada_operator] tracking` is set. */
export const DEFAULT_TRACKING: ArmadaTracking = "poll";

/** Default of `[armada_operator] max_event_streams`. */
export const DEFAULT_MAX_EVENT_STREAMS = 100;

/** The operator option, else config `[armada_operator] tracking`, else {@link DEFAULT_TRACKING}; a bad value names where it came from. */
export function resolveTracking(option: unknown): ArmadaTracking {
  if (option !== undefined) return checkMode("tracking", option);
  const raw = getConfig("armada_operator", "tracking");
  if (raw === undefined || raw.trim() === "") return DEFAULT_TRACKING;
  return checkMode("armada_operator.tracking", raw.trim().toLowerCase());
}

/** Config `[armada_operator] max_event_streams` (streams open at once per process; 0 = none), checked. */
export function maxEventStreams(): number {
  const n = getConfigNumber("armada_operator", "max_event_streams", DEFAULT_MAX_EVENT_STREAMS);
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
