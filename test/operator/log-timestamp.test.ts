import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  compareLogTimestamps,
  formatLogTimestamp,
  parseLogTimestamp,
  tryParseLogTimestamp,
} from "../../src/operator/log-timestamp.js";

describe("log timestamps", () => {
  it("keeps nanoseconds that a Date would lose", () => {
    const a = parseLogTimestamp("2024-01-01T00:00:00.123456789Z");
    const b = parseLogTimestamp("2024-01-01T00:00:00.123456790Z");
    expect(compareLogTimestamps(a, b)).toBeLessThan(0);
    expect(formatLogTimestamp(a)).toBe("2024-01-01T00:00:00.123456789Z");
  });

  it("accepts offsets and missing fractions; rejects non-timestamps", () => {
    expect(formatLogTimestamp(parseLogTimestamp("2024-01-01T01:00:00+01:00"))).toBe("2024-01-01T00:00:00.000000000Z");
    expect(tryParseLogTimestamp("hello")).toBeUndefined();
    expect(() => parseLogTimestamp("nope", "sinceTime")).toThrow(/sinceTime/);
  });

  it("orders like the instants they name and formats losslessly (property)", () => {
    const ts = fc.record({
      ms: fc.integer({ min: 0, max: 4_000_000_000_000 }),
      nanos: fc.integer({ min: 0, max: 999_999 }),
    });
    fc.assert(
      fc.property(ts, ts, (x, y) => {
        const fx = formatLogTimestamp({ epochMs: x.ms, subMsNanos: x.nanos });
        const px = parseLogTimestamp(fx);
        expect(px).toEqual({ epochMs: x.ms, subMsNanos: x.nanos });
        const py = parseLogTimestamp(formatLogTimestamp({ epochMs: y.ms, subMsNanos: y.nanos }));
        const expected = Math.sign(x.ms - y.ms || x.nanos - y.nanos);
        expect(Math.sign(compareLogTimestamps(px, py))).toBe(expected);
      }),
    );
  });
});
