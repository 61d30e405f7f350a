import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { ErrorCode } from "../common/error-code.js";
/**
 * Kubernetes log timestamps (RFC 3339, up to nanoseconds) compared without
 * losing precision. A JavaScript Date keeps milliseconds only; two lines a
 * few microseconds apart would look equal and one would be dropped or shown
 * twice at a poll boundary.
 */

/** A parsed timestamp: whole milliseconds plus the nanoseconds below them. */
export interface LogTimestamp {
  /** Milliseconds since the epoch. */
  epochMs: number;
  /** 0..999999: nanoseconds within the millisecond. */
  subMsNanos: number;
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/i;

/** Parses an RFC 3339 timestamp, or returns undefined when `text` is not one. */
export function tryParseLogTimestamp(text: string): LogTimestamp | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const fraction = (m[2] ?? "").padEnd(9, "0");
  const whole = Date.parse(`${m[1]}${m[3]!.toUpperCase()}`);
  if (Number.isNaN(whole)) return undefined;
  return { epochMs: whole + Number(fraction.slice(0, 3)), subMsNanos: Number(fraction.slice(3)) };
}

/** Parses an RFC 3339 timestamp; throws naming `field` when it is not one. */
export function parseLogTimestamp(text: string, field = "timestamp"): LogTimestamp {
  const t = tryParseLogTimestamp(text);
  if (!t)
    throw new ArmadaAirflowError(
      ErrorCode.InvalidArgument,
      `${field}: ${JSON.stringify(text)} is not an RFC 3339 timestamp`,
    );
  return t;
}

/** Negative, zero or positive as `a` is before, equal to or after `b`. */
export function compareLogTimestamps(a: LogTimestamp, b: LogTimestamp): number {
  return a.epochMs - b.epochMs || a.subMsNanos - b.subMsNanos;
}

/** The canonical UTC form with all nine fractional digits. */
export function formatLogTimestamp(t: LogTimestamp): string {
  const iso = new Date(t.epochMs).toISOString(); // yyyy-mm-ddThh:mm:ss.mmmZ
  return `${iso.slice(0, 23)}${String(t.subMsNanos).padStart(6, "0")}Z`;
}
