/**
 * Alarms at given moments of a {@link Clock}, one sleep per distinct moment
 * whoever waits for it. Waiting triggers wake at moments aligned on their
 * poll interval (their quiet check-ins, their rechecks), so 100,000 of them
 * wait for a handful of moments: one sleep each, where a sleep per trigger
 * cost each a timer, an abort listener and promises for as long as it waited.
 */
import type { Clock } from "./clock.js";

/** What an alarm wakes: told the moment that came. */
export interface AlarmListener {
  ring(atMs: number): void;
}

/** Listeners rung per event-loop turn when many wait for one moment. */
const RING_SLICE = 500;

interface Moment {
  readonly listeners: Set<AlarmListener>;
  /** Ends the moment's sleep when its last listener leaves (a test's clock then holds no sleeper). */
  readonly stop: AbortController;
}

/** The alarms of one clock (see {@link momentAlarms}). */
export class MomentAlarms {
  private readonly moments = new Map<number, Moment>();

  constructor(private readonly clock: Clock) {}

  /**
   * Rings `listener` once at `atMs` (by the clock: a sleep that ends early
   * sleeps again). A moment already past rings a microtask later, never
   * inside this call.
   */
  add(atMs: number, listener: AlarmListener): void {
    const kept = this.moments.get(atMs);
    if (kept) {
      kept.listeners.add(listener);
      return;
    }
    const moment: Moment = { listeners: new Set([listener]), stop: new AbortController() };
    this.moments.set(atMs, moment);
    void this.sleepTo(atMs, moment);
  }

  /** `listener` no longer waits for `atMs`; the moment's sleep ends with its last listener. */
  delete(atMs: number, listener: AlarmListener): void {
    const moment = this.moments.get(atMs);
    if (!moment?.listeners.delete(listener) || moment.listeners.size > 0) return;
    this.moments.delete(atMs);
    moment.stop.abort();
  }

  /** Moments with a sleep now; for tests. */
  get size(): number {
    return this.moments.size;
  }

  /** Listeners waiting, over every moment: a test's readiness signal (its waiters are parked). */
  get listening(): number {
    let n = 0;
    for (const moment of this.moments.values()) n += moment.listeners.size;
    return n;
  }

  private async sleepTo(atMs: number, moment: Moment): Promise<void> {
    try {
      await Promise.resolve();
      for (let left = atMs - this.clock.nowMs(); left > 0; left = atMs - this.clock.nowMs()) {
        await this.clock.sleep(left, moment.stop.signal);
      }
    } catch {
      return; // its last listener left
    }
    // Rung a slice per event-loop turn: what each listener does next (a trigger's status check) runs
    // before the next slice, and 100,000 of them in one turn held the event loop for seconds. The moment
    // stays listed meanwhile, so a listener that leaves before its turn is not rung.
    let inSlice = 0;
    for (const listener of moment.listeners) {
      moment.listeners.delete(listener);
      listener.ring(atMs);
      if (++inSlice === RING_SLICE && moment.listeners.size > 0) {
        inSlice = 0;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    if (this.moments.get(atMs) === moment) this.moments.delete(atMs);
  }
}

const byClock = new WeakMap<Clock, MomentAlarms>();

/** The alarms of `clock`, shared by everything that waits on it. */
export function momentAlarms(clock: Clock): MomentAlarms {
  let alarms = byClock.get(clock);
  if (!alarms) {
    alarms = new MomentAlarms(clock);
    byClock.set(clock, alarms);
  }
  return alarms;
}
