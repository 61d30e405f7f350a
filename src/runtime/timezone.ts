/**
 * Wall-clock time in an IANA time zone, through the platform's `Intl` (no
 * time zone tables of our own). A "naive" time is a wall-clock reading
 * stored as if it were UTC epoch milliseconds, which lets a cron library
 * that knows nothing of zones step through local times.
 */
import { RuntimeError } from "./errors.js";

const DAY_MS = 86_400_000;
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timezone: string): Intl.DateTimeFormat {
  let f = formatters.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: timezone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    formatters.set(timezone, f);
  }
  return f;
}

/**
 * The canonical IANA name of `timezone` (`utc` and `UTC` alike give `UTC`);
 * an unknown name is an error naming `field`.
 */
export function checkTimezone(timezone: unknown, field: string): string {
  if (typeof timezone !== "string" || timezone.trim() === "") {
    throw new RuntimeError(
      "invalid_argument",
      `${field} must be an IANA time zone name such as "Europe/Paris" or "UTC", got ${JSON.stringify(timezone)}`,
    );
  }
  try {
    return formatter(timezone).resolvedOptions().timeZone;
  } catch {
    throw new RuntimeError(
      "invalid_argument",
      `${field} "${timezone}" is not a time zone this platform knows; use an IANA name such as "Europe/Paris", "America/New_York" or "UTC"`,
    );
  }
}

/** The wall-clock reading of instant `ms` in `timezone`, as naive milliseconds. */
export function toNaive(ms: number, timezone: string): number {
  if (timezone === "UTC") return ms;
  const parts: Record<string, number> = {};
  for (const p of formatter(timezone).formatToParts(new Date(ms))) {
    if (p.type !== "literal") parts[p.type] = Number(p.value);
  }
  const wholeSeconds = Date.UTC(
    parts.year!,
    parts.month! - 1,
    parts.day!,
    parts.hour!,
    parts.minute!,
    parts.second!,
  );
  return wholeSeconds + (((ms % 1000) + 1000) % 1000);
}

/**
 * The instant of a wall-clock reading in `timezone`, resolved the way Airflow
 * resolves local times (pendulum with `fold=1`): a reading that occurs twice
 * (clocks turned back) is its second occurrence; a reading that does not
 * exist (clocks turned forward) is moved forward by the size of the gap, so
 * 02:30 in a one-hour gap is 03:30.
 */
export function fromNaive(naive: number, timezone: string): number {
  if (timezone === "UTC") return naive;
  // Zone offsets change at most once in any two days, so the offsets a day either side bound the answer.
  const offsetBefore = toNaive(naive - DAY_MS, timezone) - (naive - DAY_MS);
  const offsetAfter = toNaive(naive + DAY_MS, timezone) - (naive + DAY_MS);
  const candidates = [naive - offsetBefore, naive - offsetAfter].filter(
    (c) => toNaive(c, timezone) === naive,
  );
  if (candidates.length > 0) return Math.max(...candidates);
  return naive - offsetBefore;
}

/**
 * Reads a date given to a DAG option: a `Date`, epoch milliseconds, or an
 * ISO 8601 string; a string without an offset (`2024-03-01`,
 * `2024-03-01T06:00`) is a wall-clock time in `timezone`, as Airflow reads a
 * naive `start_date` in the DAG's time zone.
 */
export function parseDateOption(value: unknown, timezone: string, field: string): number {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime()))
      throw new RuntimeError("invalid_argument", `${field} is an invalid Date`);
    return value.getTime();
  }
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "string") {
    const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3})\d*)?)?)?$/.exec(
      value.trim(),
    );
    if (m) {
      const [, y, mo, d, h, mi, s, frac] = m;
      const naive = Date.UTC(
        Number(y),
        Number(mo) - 1,
        Number(d),
        Number(h ?? 0),
        Number(mi ?? 0),
        Number(s ?? 0),
        Number((frac ?? "0").padEnd(3, "0")),
      );
      if (!Number.isNaN(naive)) return fromNaive(naive, timezone);
    } else if (/^\d{4}-\d{2}-\d{2}T.*(Z|[+-]\d{2}:?\d{2})$/i.test(value.trim())) {
      const ms = Date.parse(value);
      if (!Number.isNaN(ms)) return ms;
    }
  }
  throw new RuntimeError(
    "invalid_argument",
    `${field} must be a Date or an ISO 8601 date such as "2024-03-01", "2024-03-01T06:00" (in the DAG's timezone) or "2024-03-01T06:00:00Z", got ${JSON.stringify(value)}`,
  );
}
