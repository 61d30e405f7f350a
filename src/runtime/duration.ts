/**
 * Fixed schedule intervals: `"15m"`-style text (`s`, `m`, `h`, `d`, `w`,
 * combinable as `1h30m`) or ISO 8601 durations (`PT15M`, `P1D`, `P1DT12H`,
 * `P2W`). Calendar months and years have no fixed length, so they are
 * refused with a pointer to the cron presets.
 */
import { RuntimeError } from "./errors.js";

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** True when `text` looks like an ISO 8601 duration (so a schedule string is read as one). */
export function isIsoDuration(text: string): boolean {
  return /^P(?!$)/i.test(text.trim());
}

/** Milliseconds of a duration; an unreadable or non-positive one is an error naming `field`. */
export function parseDuration(text: unknown, field: string): number {
  const hint = `${field} must be a positive duration such as "15m", "1h30m", "2d" or ISO 8601 "PT15M", "P1D"; got ${JSON.stringify(text)}`;
  if (typeof text !== "string") throw new RuntimeError("invalid_argument", hint);
  const t = text.trim();
  let ms = 0;
  if (isIsoDuration(t)) {
    const m =
      /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/i.exec(
        t,
      );
    if (!m) throw new RuntimeError("invalid_argument", hint);
    const [, years, months, weeks, days, hours, minutes, seconds] = m;
    if (years || months) {
      throw new RuntimeError(
        "invalid_argument",
        `${field} ${JSON.stringify(text)} has years or months, which have no fixed length; use a cron schedule such as "@monthly" or "0 0 1 * *" instead`,
      );
    }
    ms =
      Number(weeks ?? 0) * UNIT_MS.w! +
      Number(days ?? 0) * UNIT_MS.d! +
      Number(hours ?? 0) * UNIT_MS.h! +
      Number(minutes ?? 0) * UNIT_MS.m! +
      Math.round(Number(seconds ?? 0) * 1000);
  } else {
    if (!/^(\d+(?:\.\d+)?\s*[smhdw]\s*)+$/i.test(t)) throw new RuntimeError("invalid_argument", hint);
    for (const [, n, unit] of t.matchAll(/(\d+(?:\.\d+)?)\s*([smhdw])/gi))
      ms += Number(n) * UNIT_MS[unit!.toLowerCase()]!;
    ms = Math.round(ms);
  }
  if (!(ms > 0)) throw new RuntimeError("invalid_argument", hint);
  return ms;
}

/** `3600000` -> `1h`, for messages. */
export function formatDuration(ms: number): string {
  const out: string[] = [];
  let rest = ms;
  for (const unit of ["w", "d", "h", "m", "s"]) {
    const size = UNIT_MS[unit]!;
    if (rest >= size) {
      out.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  if (rest > 0) out.push(`${rest}ms`);
  return out.join("") || "0s";
}
