import { randomUUID } from "node:crypto";
import { RuntimeError } from "./errors.js";

/** How a macro argument is shown in an error. */
function shown(v: unknown): string {
  return typeof v === "string"
    ? JSON.stringify(v)
    : typeof v === "function"
      ? "a function"
      : (JSON.stringify(v) ?? String(v));
}

function parseDs(ds: unknown, fn: string): Date {
  const m = typeof ds === "string" ? /^(\d{4})-(\d{2})-(\d{2})$/.exec(ds) : null;
  if (!m)
    throw new RuntimeError("template", `macros.${fn}: expected a date stamp YYYY-MM-DD, got ${shown(ds)}`);
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  // Date.UTC rolls 2024-02-30 over to March; Python's strptime refuses it, and so do we.
  if (d.getUTCMonth() !== Number(m[2]) - 1 || d.getUTCDate() !== Number(m[3])) {
    throw new RuntimeError("template", `macros.${fn}: ${shown(ds)} is not a valid date`);
  }
  return d;
}

function requireString(v: unknown, fn: string, what: string): string {
  if (typeof v !== "string")
    throw new RuntimeError("template", `macros.${fn}: ${what} must be a string, got ${shown(v)}`);
  return v;
}

/**
 * `days` of `ds_add` as a number: a number, or a string holding one (as a
 * DAG's `params` often have), or null/"" for none (Airflow returns `ds` as it
 * is for a falsy `days`).
 */
function daysArg(days: unknown): number {
  if (days === null || days === "") return 0;
  const n = typeof days === "number" ? days : typeof days === "string" ? Number(days.trim()) : NaN;
  if (!Number.isFinite(n)) {
    throw new RuntimeError(
      "template",
      `macros.ds_add: days must be a number of days, got ${days === undefined ? "nothing" : shown(days)}; e.g. macros.ds_add(ds, 5)`,
    );
  }
  return n;
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, "0");
}

/** strftime for the directives Airflow DAGs use (%Y %m %d %H %M %S %j %y %b %a %%). */
export function strftime(date: Date, fmt: string): string {
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  const yday = Math.floor((date.getTime() - Date.UTC(date.getUTCFullYear(), 0, 1)) / 86_400_000) + 1;
  return fmt.replace(/%([YmdHMSjyba%])/g, (_m, d: string) => {
    switch (d) {
      case "Y":
        return String(date.getUTCFullYear());
      case "y":
        return pad(date.getUTCFullYear() % 100);
      case "m":
        return pad(date.getUTCMonth() + 1);
      case "d":
        return pad(date.getUTCDate());
      case "H":
        return pad(date.getUTCHours());
      case "M":
        return pad(date.getUTCMinutes());
      case "S":
        return pad(date.getUTCSeconds());
      case "j":
        return pad(yday, 3);
      case "b":
        return months[date.getUTCMonth()]!;
      case "a":
        return days[date.getUTCDay()]!;
      default:
        return "%";
    }
  });
}

function strptimeDs(value: string, fmt: string): Date {
  // Builds a regex from the format; enough for the numeric directives.
  const fields: string[] = [];
  const source = fmt.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/%([YmdHMS])/g, (_m, d: string) => {
    fields.push(d);
    return d === "Y" ? "(\\d{4})" : "(\\d{2})";
  });
  const m = new RegExp(`^${source}$`).exec(value);
  if (!m) throw new RuntimeError("template", `macros.ds_format: "${value}" does not match format "${fmt}"`);
  const parts: Record<string, number> = { Y: 1970, m: 1, d: 1, H: 0, M: 0, S: 0 };
  fields.forEach((f, i) => (parts[f] = Number(m[i + 1])));
  return new Date(Date.UTC(parts.Y!, parts.m! - 1, parts.d!, parts.H!, parts.M!, parts.S!));
}

/** Airflow's `macros` available in templates. */
export const macros = {
  /** `ds_add("2015-01-01", 5)` -> `"2015-01-06"`. */
  ds_add(ds: string, days: number): string {
    const d = parseDs(ds, "ds_add");
    const n = daysArg(days);
    // As Python's `date + timedelta(days=n)`: a fraction of a day counts from midnight.
    return strftime(new Date(d.getTime() + Math.round(n * 86_400_000)), "%Y-%m-%d");
  },
  /** `ds_format("2015-01-01", "%Y-%m-%d", "%m-%d-%y")` -> `"01-01-15"`. */
  ds_format(ds: string, inputFormat: string, outputFormat: string): string {
    const value = requireString(ds, "ds_format", "ds");
    const input = requireString(inputFormat, "ds_format", "input_format");
    const output = requireString(outputFormat, "ds_format", "output_format");
    return strftime(strptimeDs(value, input), output);
  },
  /** A random UUID (Python's `uuid.uuid4()`). */
  uuid4(): string {
    return randomUUID();
  },
  /** Python's `random.random()`. */
  random(): number {
    return Math.random();
  },
  /** `json.dumps` / `json.loads`. */
  json: {
    dumps: (v: unknown) => JSON.stringify(v),
    loads: (s: string) => {
      try {
        return JSON.parse(requireString(s, "json.loads", "the argument")) as unknown;
      } catch (err) {
        if (err instanceof RuntimeError) throw err;
        throw new RuntimeError("template", `macros.json.loads: not JSON (${(err as Error).message})`, {
          cause: err,
        });
      }
    },
  },
};
