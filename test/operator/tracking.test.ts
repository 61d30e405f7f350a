/** The `tracking` option and its config keys: read, defaulted, and refused when wrong, naming where. */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { maxEventStreams, resolveTracking } from "../../src/operator/tracking.js";
import { resolveRuntimeConfig } from "../../src/runtime/runtime-config.js";

const KEYS = [
  "ARMADA_AIRFLOW__ARMADA_OPERATOR__TRACKING",
  "ARMADA_AIRFLOW__ARMADA_OPERATOR__MAX_EVENT_STREAMS",
];
/** `[armada_operator]` as resolved from `env` alone (a home with no config file). */
const settings = (env: Record<string, string> = {}) =>
  resolveRuntimeConfig({ env: { ARMADA_AIRFLOW_HOME: path.join("/nonexistent", "aa-home"), ...env } })
    .armada_operator;

describe("tracking", () => {
  it("is the option, else [armada_operator] tracking, else events", () => {
    expect(resolveTracking(undefined, settings())).toBe("events");
    expect(resolveTracking(undefined, settings({ [KEYS[0]!]: "Poll" }))).toBe("poll");
    expect(resolveTracking(undefined, settings({ [KEYS[0]!]: "Events" }))).toBe("events");
    expect(resolveTracking("poll", settings({ [KEYS[0]!]: "Events" }))).toBe("poll");
  });

  it("refuses other values, naming the option or the config key", () => {
    expect(() => resolveTracking("stream", settings())).toThrow(/^tracking: must be "poll" .* or "events"/);
    expect(() => resolveTracking(undefined, settings({ [KEYS[0]!]: "watch" }))).toThrow(
      /^armada_operator\.tracking: must be/,
    );
  });

  it("max_event_streams defaults to 100 and must be a whole number >= 0", () => {
    expect(maxEventStreams(settings())).toBe(100);
    expect(maxEventStreams(settings({ [KEYS[1]!]: "0" }))).toBe(0);
    expect(() => maxEventStreams(settings({ [KEYS[1]!]: "2.5" }))).toThrow(
      /^armada_operator\.max_event_streams: must be a whole number/,
    );
  });
});
