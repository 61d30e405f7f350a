/** The `tracking` option and its config keys: read, defaulted, and refused when wrong, naming where. */
import { afterEach, describe, expect, it } from "vitest";
import { maxEventStreams, resolveTracking } from "../../src/operator/tracking.js";

const KEYS = [
  "ARMADA_AIRFLOW__ARMADA_OPERATOR__TRACKING",
  "ARMADA_AIRFLOW__ARMADA_OPERATOR__MAX_EVENT_STREAMS",
];
const saved = KEYS.map((k) => process.env[k]);
afterEach(() => {
  KEYS.forEach((k, i) => (saved[i] === undefined ? delete process.env[k] : (process.env[k] = saved[i])));
});

describe("tracking", () => {
  it("is the option, else [armada_operator] tracking, else poll", () => {
    delete process.env[KEYS[0]!];
    expect(resolveTracking(undefined)).toBe("poll");
    process.env[KEYS[0]!] = "Events";
    expect(resolveTracking(undefined)).toBe("events");
    expect(resolveTracking("poll")).toBe("poll");
  });

  it("refuses other values, naming the option or the config key", () => {
    expect(() => resolveTracking("stream")).toThrow(/^tracking: must be "poll" .* or "events"/);
    process.env[KEYS[0]!] = "watch";
    expect(() => resolveTracking(undefined)).toThrow(/^armada_operator\.tracking: must be/);
  });

  it("max_event_streams defaults to 100 and must be a whole number >= 0", () => {
    delete process.env[KEYS[1]!];
    expect(maxEventStreams()).toBe(100);
    process.env[KEYS[1]!] = "0";
    expect(maxEventStreams()).toBe(0);
    process.env[KEYS[1]!] = "2.5";
    expect(() => maxEventStreams()).toThrow(/^armada_operator\.max_event_streams: must be a whole number/);
  });
});
