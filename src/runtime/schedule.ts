/**
 * DAG schedules, with Airflow 3's timetable semantics: which run comes next,
 * its logical date and its data interval. Cron parsing is croner's; time
 * zones are the platform's `Intl` ({@link toNaive}/{@link fromNaive}).
 *
 * - A cron expression or preset (`@hourly`, `@daily`, ...) triggers at each
 *   cron time: logical date = data interval start = end = that time (Airflow
 *   3's `CronTriggerTimetable`). With config
 *   `[scheduler] create_cron_data_intervals = true` a run instead covers the
 *   interval from one cron time to the next and starts at its end (Airflow
 *   2's `CronDataIntervalTimetable`).
 * - A fixed interval (`{ every: "15m" }`, `"PT15M"`) covers
 *   `[start, start + interval]` and starts at its end (`DeltaDataIntervalTimetable`).
 * - `@once` runs once, at `startDate` (or at once).
 * - `null`: manual runs only.
 */
import { Cron } from "croner";
import { currentRuntimeConfig, type RuntimeConfig } from "./runtime-config.js";
import { RuntimeError } from "./errors.js";
import { formatDuration, isIsoDuration, parseDuration } from "./duration.js";
import { fromNaive, toNaive } from "./timezone.js";

/** What a DAG's `schedule` option accepts. */
export type ScheduleSpec = string | { every: string } | null;

/** A run's data interval, epoch milliseconds. */
export interface DataInterval {
  startMs: number;
  endMs: number;
}

/** One run a schedule asks for. */
export interface ScheduledRun {
  logicalDateMs: number;
  dataInterval: DataInterval;
  /** The earliest time the run may be created. */
  runAfterMs: number;
}

/** The bounds a DAG puts on its automated runs. */
export interface TimeRestriction {
  /** `startDate`. */
  earliestMs?: number;
  /** `endDate`. */
  latestMs?: number;
  catchup: boolean;
}

/** A parsed schedule (Airflow's timetable). */
export interface Schedule {
  /** How the schedule was written, for lists and messages; `null` for manual only. */
  readonly summary: string | null;
  /** The automated run after the one covering `last` (or the first), or undefined when there is none. */
  nextRun(
    last: DataInterval | undefined,
    restriction: TimeRestriction,
    nowMs: number,
  ): ScheduledRun | undefined;
  /** The data interval of a manual run started at `runAfterMs`. */
  manualInterval(runAfterMs: number): DataInterval;
}

/** Airflow's cron presets, as cron expressions. */
const PRESETS: Record<string, string> = {
  "@hourly": "0 * * * *",
  "@daily": "0 0 * * *",
  "@weekly": "0 0 * * 0",
  "@monthly": "0 0 1 * *",
  "@quarterly": "0 0 1 */3 *",
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
};

const exact = (ms: number): ScheduledRun => ({
  logicalDateMs: ms,
  dataInterval: { startMs: ms, endMs: ms },
  runAfterMs: ms,
});

/**
 * A cron expression evaluated in a time zone as Airflow does: on wall-clock
 * times, then placed in the zone. A fixed-time expression (its runs share
 * hour and minute, e.g. `30 2 * * *`) keeps its wall-clock time across DST
 * changes (a time in the gap moves forward by the gap, a repeated time is
 * taken at its second occurrence); any other (`0 * * * *`, `*\/15 * * * *`)
 * keeps its real elapsed time between runs.
 */
export class ZonedCron {
  readonly expression: string;
  readonly timezone: string;
  private readonly cron: Cron;
  private readonly fixedTime: boolean;

  constructor(expression: string, timezone: string, field = "schedule") {
    this.expression = expression;
    this.timezone = timezone;
    try {
      this.cron = new Cron(expression, { timezone: "UTC", mode: "5-part" });
    } catch (err) {
      throw new RuntimeError(
        "invalid_argument",
        `${field} "${expression}" is not a valid cron expression (${(err as Error).message}); write 5 fields (minute hour day-of-month month day-of-week) such as "0 6 * * 1-5", or a preset: ${[...Object.keys(PRESETS), "@once"].join(", ")}`,
      );
    }
    // Airflow's rule: fixed time when two consecutive runs fall at the same hour and minute.
    const [a, b] = this.cron.nextRuns(2, new Date(Date.UTC(2001, 0, 1)));
    if (!a || !b) throw new RuntimeError("invalid_argument", `${field} "${expression}" never matches a date`);
    this.fixedTime = a.getUTCHours() === b.getUTCHours() && a.getUTCMinutes() === b.getUTCMinutes();
  }

  /** The first cron time strictly after `ms`. */
  next(ms: number): number {
    const naive = toNaive(ms, this.timezone);
    const scheduled = this.cron.nextRun(new Date(naive))?.getTime();
    if (scheduled === undefined) return Number.POSITIVE_INFINITY;
    return this.fixedTime ? fromNaive(scheduled, this.timezone) : ms + (scheduled - naive);
  }

  /** The last cron time strictly before `ms`. */
  prev(ms: number): number {
    const naive = toNaive(ms, this.timezone);
    const scheduled = this.cron.previousRuns(1, new Date(naive))[0]?.getTime();
    if (scheduled === undefined) return Number.NEGATIVE_INFINITY;
    return this.fixedTime ? fromNaive(scheduled, this.timezone) : ms - (naive - scheduled);
  }

  /** `ms` when it is a cron time, else the next one. */
  alignNext(ms: number): number {
    const next = this.next(ms);
    return this.prev(next) === ms ? ms : next;
  }

  /** `ms` when it is a cron time, else the previous one. */
  alignPrev(ms: number): number {
    const prev = this.prev(ms);
    return this.next(prev) === ms ? ms : prev;
  }
}

/** Airflow 3's cron schedule: a run at each cron time, its data interval that one instant. */
class CronTriggerSchedule implements Schedule {
  constructor(
    readonly summary: string,
    private readonly cron: ZonedCron,
  ) {}

  /** With no start date and no earlier run: the last cron time if it was recent (10% of the period, at least 5 minutes), else the next. */
  private firstRun(nowMs: number): number {
    const past = this.cron.alignPrev(nowMs);
    const next = this.cron.alignNext(nowMs);
    const buffer = Math.max((next - past) / 10, 5 * 60_000);
    return nowMs - past <= buffer ? past : next;
  }

  nextRun(last: DataInterval | undefined, r: TimeRestriction, nowMs: number): ScheduledRun | undefined {
    let next: number;
    if (r.catchup) {
      if (last) next = this.cron.next(last.endMs);
      else if (r.earliestMs === undefined) next = this.firstRun(nowMs);
      else next = this.cron.alignNext(r.earliestMs);
    } else {
      // Without catchup only the latest cron time that passed is run, never the ones missed before it.
      const candidates = [this.cron.alignPrev(nowMs)];
      if (last) candidates.push(this.cron.next(last.endMs));
      else if (r.earliestMs === undefined) candidates.push(this.firstRun(nowMs));
      if (r.earliestMs !== undefined) candidates.push(this.cron.alignNext(r.earliestMs));
      next = Math.max(...candidates);
    }
    if (!Number.isFinite(next) || (r.latestMs !== undefined && r.latestMs < next)) return undefined;
    return exact(next);
  }

  manualInterval(runAfterMs: number): DataInterval {
    return { startMs: runAfterMs, endMs: runAfterMs };
  }
}

/** How an interval schedule steps and aligns. */
interface IntervalSteps {
  next(ms: number): number;
  prev(ms: number): number;
  alignNext(ms: number): number;
  alignPrev(ms: number): number;
  /** Without catchup: the start of the latest interval that has ended by `nowMs`. */
  latestStart(nowMs: number): number;
}

/** A schedule whose runs cover consecutive intervals and start once their interval has ended. */
class IntervalSchedule implements Schedule {
  constructor(
    readonly summary: string,
    private readonly steps: IntervalSteps,
  ) {}

  nextRun(last: DataInterval | undefined, r: TimeRestriction, nowMs: number): ScheduledRun | undefined {
    let earliest = r.earliestMs;
    if (!r.catchup) {
      const latest = this.steps.latestStart(nowMs);
      earliest = earliest === undefined ? latest : Math.max(latest, this.steps.alignNext(earliest));
    } else if (earliest !== undefined) {
      earliest = this.steps.alignNext(earliest);
    }
    let start: number;
    if (!last) {
      if (earliest === undefined) return undefined;
      start = earliest;
    } else {
      // Aligned, so that a changed schedule continues on its own boundaries.
      const fromLast = this.steps.alignPrev(last.endMs);
      start = earliest === undefined ? fromLast : Math.max(fromLast, earliest);
    }
    if (!Number.isFinite(start) || (r.latestMs !== undefined && start > r.latestMs)) return undefined;
    const end = this.steps.next(start);
    if (!Number.isFinite(end)) return undefined;
    return { logicalDateMs: start, dataInterval: { startMs: start, endMs: end }, runAfterMs: end };
  }

  manualInterval(runAfterMs: number): DataInterval {
    const end = this.steps.alignPrev(runAfterMs);
    return { startMs: this.steps.prev(end), endMs: end };
  }
}

function cronIntervalSteps(cron: ZonedCron): IntervalSteps {
  return {
    next: (ms) => cron.next(ms),
    prev: (ms) => cron.prev(ms),
    alignNext: (ms) => cron.alignNext(ms),
    alignPrev: (ms) => cron.alignPrev(ms),
    latestStart(nowMs) {
      const lastStart = cron.prev(nowMs);
      // On a boundary the interval that just ended starts one period back; between boundaries, two.
      return cron.next(lastStart) === nowMs ? lastStart : cron.prev(lastStart);
    },
  };
}

function deltaSteps(ms: number): IntervalSteps {
  return {
    next: (t) => t + ms,
    prev: (t) => t - ms,
    alignNext: (t) => t,
    alignPrev: (t) => t,
    latestStart: (nowMs) => nowMs - ms,
  };
}

/** `@once`: one run, at the start date (or as soon as the DAG is seen). */
class OnceSchedule implements Schedule {
  readonly summary = "@once";
  nextRun(last: DataInterval | undefined, r: TimeRestriction, nowMs: number): ScheduledRun | undefined {
    if (last) return undefined;
    const at = r.earliestMs ?? nowMs;
    if (r.latestMs !== undefined && at > r.latestMs) return undefined;
    return exact(at);
  }
  manualInterval(runAfterMs: number): DataInterval {
    return { startMs: runAfterMs, endMs: runAfterMs };
  }
}

/** `null`: manual runs only. */
class ManualSchedule implements Schedule {
  readonly summary = null;
  nextRun(): undefined {
    return undefined;
  }
  manualInterval(runAfterMs: number): DataInterval {
    return { startMs: runAfterMs, endMs: runAfterMs };
  }
}

/**
 * Parses a DAG's `schedule` in its time zone. Errors name `field` and say
 * what is accepted.
 */
export function parseSchedule(
  spec: unknown,
  timezone: string,
  field = "schedule",
  config: RuntimeConfig = currentRuntimeConfig(),
): Schedule {
  if (spec === null || spec === undefined) return new ManualSchedule();
  if (typeof spec === "object" && !Array.isArray(spec) && Object.keys(spec).length === 1 && "every" in spec) {
    const ms = parseDuration((spec as { every: unknown }).every, `${field}.every`);
    return new IntervalSchedule(`every ${formatDuration(ms)}`, deltaSteps(ms));
  }
  if (typeof spec !== "string" || spec.trim() === "") {
    throw new RuntimeError(
      "invalid_argument",
      `${field} must be a cron expression ("0 6 * * *"), a preset ("@daily"), { every: "15m" }, an ISO 8601 duration ("PT15M") or null; got ${JSON.stringify(spec)}`,
    );
  }
  const text = spec.trim();
  if (text === "@once") return new OnceSchedule();
  if (isIsoDuration(text)) {
    const ms = parseDuration(text, field);
    return new IntervalSchedule(text, deltaSteps(ms));
  }
  let expression = text;
  if (text.startsWith("@")) {
    const preset = PRESETS[text.toLowerCase()];
    if (!preset) {
      throw new RuntimeError(
        "invalid_argument",
        `${field} "${text}" is not a preset this scheduler knows; use one of ${[...Object.keys(PRESETS), "@once"].join(", ")}, or a cron expression`,
      );
    }
    expression = preset;
  }
  const cron = new ZonedCron(expression, timezone, field);
  return config.scheduler.create_cron_data_intervals
    ? new IntervalSchedule(text, cronIntervalSteps(cron))
    : new CronTriggerSchedule(text, cron);
}

/**
 * The automated runs with logical dates from `fromMs` to `toMs` (both
 * included), in order, as a backfill creates them. More than `limit` is an
 * error (a typo in a date should not create a million runs).
 */
export function runsBetween(
  schedule: Schedule,
  fromMs: number,
  toMs: number,
  limit = 10_000,
): ScheduledRun[] {
  const out: ScheduledRun[] = [];
  const restriction: TimeRestriction = { earliestMs: fromMs, latestMs: toMs, catchup: true };
  let last: DataInterval | undefined;
  for (;;) {
    const next = schedule.nextRun(last, restriction, toMs);
    if (!next || next.logicalDateMs > toMs) return out;
    if (last && next.logicalDateMs <= out.at(-1)!.logicalDateMs) return out;
    out.push(next);
    if (out.length > limit) {
      throw new RuntimeError(
        "invalid_argument",
        `the dates span more than ${limit} runs; choose a shorter range`,
      );
    }
    last = next.dataInterval;
  }
}
