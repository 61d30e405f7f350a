import { describe, expect, it } from "vitest";
import { DAG } from "armada-airflow";
import { parseSchedule, runsBetween } from "../../src/runtime/schedule.js";
import { fromNaive } from "../../src/runtime/timezone.js";

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
const utc = (s: string) => Date.parse(s);

/** The logical dates of the automated runs a schedule makes one after another, from nothing. */
function firstRuns(
  spec: Parameters<typeof parseSchedule>[0],
  tz: string,
  n: number,
  r: { earliestMs?: number; latestMs?: number; catchup: boolean },
  nowMs: number,
) {
  const s = parseSchedule(spec, tz);
  const out: string[] = [];
  let last;
  for (let i = 0; i < n; i++) {
    const next = s.nextRun(last, r, nowMs);
    if (!next) break;
    out.push(
      `${iso(next.logicalDateMs)} [${iso(next.dataInterval.startMs)}, ${iso(next.dataInterval.endMs)}] after ${iso(next.runAfterMs)}`,
    );
    last = next.dataInterval;
  }
  return out;
}

describe("schedules", () => {
  it("cron and presets trigger at each cron time (Airflow 3): logical date = data interval start = end", () => {
    expect(
      firstRuns(
        "@daily",
        "UTC",
        2,
        { earliestMs: utc("2024-01-01T00:00:00Z"), catchup: true },
        utc("2024-01-10T00:00:00Z"),
      ),
    ).toEqual([
      "2024-01-01T00:00:00.000Z [2024-01-01T00:00:00.000Z, 2024-01-01T00:00:00.000Z] after 2024-01-01T00:00:00.000Z",
      "2024-01-02T00:00:00.000Z [2024-01-02T00:00:00.000Z, 2024-01-02T00:00:00.000Z] after 2024-01-02T00:00:00.000Z",
    ]);
    const at = (spec: string) =>
      iso(
        parseSchedule(spec, "UTC").nextRun(
          undefined,
          { earliestMs: utc("2024-01-01T00:30:00Z"), catchup: true },
          0,
        )!.logicalDateMs,
      );
    expect(at("@hourly")).toBe("2024-01-01T01:00:00.000Z");
    expect(at("@weekly")).toBe("2024-01-07T00:00:00.000Z"); // Sunday
    expect(at("@monthly")).toBe("2024-02-01T00:00:00.000Z");
    expect(at("@yearly")).toBe("2025-01-01T00:00:00.000Z");
    expect(at("*/20 9-17 * * 1-5")).toBe("2024-01-01T09:00:00.000Z");
  });

  it("without catchup only the latest cron time that passed runs, then the schedule goes on from there", () => {
    const s = parseSchedule("0 * * * *", "UTC");
    const r = { earliestMs: utc("2024-01-01T00:00:00Z"), catchup: false };
    const first = s.nextRun(undefined, r, utc("2024-01-03T05:20:00Z"))!;
    expect(iso(first.logicalDateMs)).toBe("2024-01-03T05:00:00.000Z");
    expect(iso(s.nextRun(first.dataInterval, r, utc("2024-01-03T05:20:00Z"))!.runAfterMs)).toBe(
      "2024-01-03T06:00:00.000Z",
    );
    // Down for a day: the next run is the latest passed one, not the 24 missed.
    expect(iso(s.nextRun(first.dataInterval, r, utc("2024-01-04T07:10:00Z"))!.logicalDateMs)).toBe(
      "2024-01-04T07:00:00.000Z",
    );
  });

  it("fixed intervals cover [start, start + interval] and run at the interval's end; ISO 8601 durations too", () => {
    const r = { earliestMs: utc("2024-01-01T00:00:00Z"), catchup: true };
    expect(firstRuns({ every: "6h" }, "UTC", 2, r, 0)).toEqual([
      "2024-01-01T00:00:00.000Z [2024-01-01T00:00:00.000Z, 2024-01-01T06:00:00.000Z] after 2024-01-01T06:00:00.000Z",
      "2024-01-01T06:00:00.000Z [2024-01-01T06:00:00.000Z, 2024-01-01T12:00:00.000Z] after 2024-01-01T12:00:00.000Z",
    ]);
    expect(firstRuns("PT1H30M", "UTC", 1, r, 0)).toEqual([
      "2024-01-01T00:00:00.000Z [2024-01-01T00:00:00.000Z, 2024-01-01T01:30:00.000Z] after 2024-01-01T01:30:00.000Z",
    ]);
    // Without catchup: the interval that ended last.
    expect(
      firstRuns({ every: "15m" }, "UTC", 1, { ...r, catchup: false }, utc("2024-01-05T10:07:00Z")),
    ).toEqual([
      "2024-01-05T09:52:00.000Z [2024-01-05T09:52:00.000Z, 2024-01-05T10:07:00.000Z] after 2024-01-05T10:07:00.000Z",
    ]);
  });

  it("@once runs once at the start date; end dates end the schedule; null is manual only", () => {
    expect(
      firstRuns(
        "@once",
        "UTC",
        5,
        { earliestMs: utc("2024-02-01T12:00:00Z"), catchup: false },
        utc("2024-03-01T00:00:00Z"),
      ),
    ).toEqual([
      "2024-02-01T12:00:00.000Z [2024-02-01T12:00:00.000Z, 2024-02-01T12:00:00.000Z] after 2024-02-01T12:00:00.000Z",
    ]);
    expect(
      firstRuns(
        "@daily",
        "UTC",
        10,
        { earliestMs: utc("2024-01-01T00:00:00Z"), latestMs: utc("2024-01-03T00:00:00Z"), catchup: true },
        0,
      ),
    ).toHaveLength(3);
    expect(parseSchedule(null, "UTC").nextRun(undefined, { catchup: true }, 0)).toBeUndefined();
  });

  it("a fixed-time cron keeps its wall-clock time across DST; an hourly one keeps real hours (as Airflow)", () => {
    const paris = (s: string) => utc(s);
    // 2024-03-31 02:00 -> 03:00 in Paris: 02:30 does not exist and becomes 03:30 CEST (01:30 UTC).
    const fixed = firstRuns(
      "30 2 * * *",
      "Europe/Paris",
      3,
      { earliestMs: paris("2024-03-30T00:00:00Z"), catchup: true },
      0,
    );
    expect(fixed.map((l) => l.slice(0, 24))).toEqual([
      "2024-03-30T01:30:00.000Z",
      "2024-03-31T01:30:00.000Z",
      "2024-04-01T00:30:00.000Z",
    ]);
    // 2024-10-27 03:00 -> 02:00: 02:30 happens twice; the run is at the second (CET, 01:30 UTC).
    const fall = firstRuns(
      "30 2 * * *",
      "Europe/Paris",
      2,
      { earliestMs: paris("2024-10-26T12:00:00Z"), catchup: true },
      0,
    );
    expect(fall.map((l) => l.slice(0, 24))).toEqual(["2024-10-27T01:30:00.000Z", "2024-10-28T01:30:00.000Z"]);
    const hourly = firstRuns(
      "0 * * * *",
      "Europe/Paris",
      3,
      { earliestMs: paris("2024-10-27T00:00:00Z"), catchup: true },
      0,
    );
    expect(hourly.map((l) => l.slice(0, 24))).toEqual([
      "2024-10-27T00:00:00.000Z",
      "2024-10-27T01:00:00.000Z",
      "2024-10-27T02:00:00.000Z",
    ]);
    expect(iso(fromNaive(Date.UTC(2024, 6, 1, 9), "America/New_York"))).toBe("2024-07-01T13:00:00.000Z");
  });

  it("backfill ranges include both ends", () => {
    const runs = runsBetween(
      parseSchedule("@daily", "UTC"),
      utc("2024-01-01T00:00:00Z"),
      utc("2024-01-04T00:00:00Z"),
    );
    expect(runs.map((r) => iso(r.logicalDateMs))).toEqual([
      "2024-01-01T00:00:00.000Z",
      "2024-01-02T00:00:00.000Z",
      "2024-01-03T00:00:00.000Z",
      "2024-01-04T00:00:00.000Z",
    ]);
  });

  it("bad schedules, zones and dates are refused naming the DAG option", () => {
    expect(() => new DAG({ dagId: "a", schedule: "61 * * * *" })).toThrow(
      /DAG "a": schedule "61 \* \* \* \*" is not a valid cron expression.*5 fields/,
    );
    expect(() => new DAG({ dagId: "a", schedule: "@fortnightly" })).toThrow(/not a preset.*@daily/);
    expect(() => new DAG({ dagId: "a", schedule: { every: "soon" } })).toThrow(
      /schedule\.every must be a positive duration such as "15m"/,
    );
    expect(() => new DAG({ dagId: "a", schedule: "P1M" })).toThrow(/months.*@monthly/);
    expect(() => new DAG({ dagId: "a", schedule: "@daily", timezone: "Mars/Olympus" })).toThrow(
      /timezone "Mars\/Olympus" is not a time zone.*IANA/,
    );
    expect(() => new DAG({ dagId: "a", schedule: "@daily", startDate: "tomorrow" })).toThrow(
      /startDate must be a Date or an ISO 8601 date/,
    );
    expect(() => new DAG({ dagId: "a", startDate: "2024-02-01", endDate: "2024-01-01" })).toThrow(
      /endDate is before startDate/,
    );
    const d = new DAG({ dagId: "a", schedule: "@daily", timezone: "Europe/Paris", startDate: "2024-07-01" });
    expect(iso(d.startDateMs)).toBe("2024-06-30T22:00:00.000Z");
  });
});
