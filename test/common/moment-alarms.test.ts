import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import { MomentAlarms, momentAlarms } from "../../src/common/moment-alarms.js";

const turn = () => new Promise((r) => setImmediate(r));

function listener(rang: Array<[string, number]>, name: string) {
  return { ring: (at: number) => rang.push([name, at]) };
}

describe("MomentAlarms", () => {
  it("keeps one sleep per moment for every listener of it, and rings each once at its moment", async () => {
    const clock = new ManualClock(new Date(0));
    const alarms = new MomentAlarms(clock);
    const rang: Array<[string, number]> = [];
    for (let i = 0; i < 400; i++) alarms.add(30_000, listener(rang, `a${i}`));
    alarms.add(60_000, listener(rang, "b"));
    await turn();
    expect(clock.pendingSleepers).toBe(2);
    expect(alarms.listening).toBe(401);
    clock.advance(29_999);
    await turn();
    expect(rang).toEqual([]);
    clock.advance(1);
    await turn();
    expect(rang).toHaveLength(400);
    expect(new Set(rang.map(([, at]) => at))).toEqual(new Set([30_000]));
    expect(alarms.size).toBe(1);
    clock.advance(30_000);
    await turn();
    expect(rang.at(-1)).toEqual(["b", 60_000]);
    expect(clock.pendingSleepers).toBe(0);
    expect(alarms.size).toBe(0);
  });

  it("ends a moment's sleep when its last listener leaves; the others of it still ring", async () => {
    const clock = new ManualClock(new Date(0));
    const alarms = new MomentAlarms(clock);
    const rang: Array<[string, number]> = [];
    const a = listener(rang, "a");
    const b = listener(rang, "b");
    alarms.add(10_000, a);
    alarms.add(10_000, b);
    alarms.add(20_000, a);
    await turn();
    alarms.delete(20_000, a);
    await turn();
    expect(clock.pendingSleepers).toBe(1);
    alarms.delete(10_000, a);
    alarms.delete(10_000, a); // twice: no effect
    clock.advance(10_000);
    await turn();
    expect(rang).toEqual([["b", 10_000]]);
    expect(clock.pendingSleepers).toBe(0);
  });

  it("rings a moment already past a microtask later, never inside add; a clock that wakes early sleeps again", async () => {
    const clock = new ManualClock(new Date(50_000));
    const alarms = new MomentAlarms(clock);
    const rang: Array<[string, number]> = [];
    alarms.add(40_000, listener(rang, "past"));
    expect(rang).toEqual([]);
    await turn();
    expect(rang).toEqual([["past", 40_000]]);
    // A clock whose sleep ends before the moment (as a system clock's long sleep can).
    let early = true;
    const wakesEarly = {
      nowMs: () => clock.nowMs(),
      now: () => clock.now(),
      sleep: (ms: number, signal?: AbortSignal) => {
        const first = early;
        early = false;
        return clock.sleep(first ? ms / 2 : ms, signal);
      },
    };
    const alarms2 = new MomentAlarms(wakesEarly as never);
    alarms2.add(60_000, listener(rang, "late"));
    await turn();
    clock.advance(5_000);
    await turn();
    expect(rang).toHaveLength(1);
    clock.advance(5_000);
    await turn();
    expect(rang.at(-1)).toEqual(["late", 60_000]);
  });

  it("rings many listeners of one moment a slice per event-loop turn; one that leaves before its slice is not rung", async () => {
    const clock = new ManualClock(new Date(0));
    const alarms = new MomentAlarms(clock);
    const rang: Array<[string, number]> = [];
    const all = Array.from({ length: 1200 }, (_, i) => listener(rang, `l${i}`));
    for (const l of all) alarms.add(1000, l);
    await turn();
    clock.advance(1000);
    // The sleep's wake-up and the first slice run in microtasks of this turn; the rest wait for later turns.
    await Promise.resolve();
    await Promise.resolve();
    await Promise.resolve();
    expect(rang).toHaveLength(500);
    alarms.delete(1000, all[1199]!);
    await turn();
    await turn();
    await turn();
    expect(rang).toHaveLength(1199);
    expect(rang.map(([name]) => name)).not.toContain("l1199");
    expect(alarms.size).toBe(0);
  });

  it("is one set of alarms per clock", () => {
    const a = new ManualClock();
    expect(momentAlarms(a)).toBe(momentAlarms(a));
    expect(momentAlarms(a)).not.toBe(momentAlarms(new ManualClock()));
  });
});
