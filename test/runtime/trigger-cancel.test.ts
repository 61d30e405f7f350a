import { describe, expect, it } from "vitest";
import { BaseTrigger, TriggerEvent } from "../../src/runtime/trigger.js";

class Waiting extends BaseTrigger {
  serialize(): [string, Record<string, unknown>] {
    return ["test.Waiting", {}];
  }
  async *run(): AsyncIterable<TriggerEvent> {
    await new Promise((_resolve, reject) =>
      this.signal.addEventListener("abort", () => reject(this.signal.reason)),
    );
    yield new TriggerEvent("never");
  }
}

class Cancellable extends Waiting {
  cancels = 0;
  protected override onCancel(): void {
    this.cancels++;
  }
  check(): void {
    this.throwIfCancelled();
  }
}

describe("BaseTrigger cancel", () => {
  it("aborts the signal read before the cancel with its reason, and a signal first read after it", async () => {
    const t = new Waiting();
    const events = t.run()[Symbol.asyncIterator]();
    const next = events.next();
    const reason = new Error("removed");
    t.cancel(reason);
    await expect(next).rejects.toBe(reason);
    const late = new Waiting();
    late.cancel(reason);
    expect(late.signal.aborted).toBe(true);
    expect(late.signal.reason).toBe(reason);
  });

  it("is idempotent: onCancel runs once, and throwIfCancelled throws the first reason", () => {
    const t = new Cancellable();
    expect(t.isCancelled).toBe(false);
    expect(() => t.check()).not.toThrow();
    const first = new Error("first");
    t.cancel(first);
    t.cancel(new Error("second"));
    expect(t.cancels).toBe(1);
    expect(t.isCancelled).toBe(true);
    expect(() => t.check()).toThrow(first);
  });

  it("a signal given by the caller cancels the trigger when it aborts, also when already aborted", () => {
    const t = new Cancellable();
    const given = new AbortController();
    t.signal = given.signal;
    expect(t.signal).toBe(given.signal);
    given.abort("stop");
    expect(t.isCancelled).toBe(true);
    expect(t.cancels).toBe(1);
    const u = new Cancellable();
    u.signal = AbortSignal.abort("already");
    expect(u.isCancelled).toBe(true);
    expect(() => u.check()).toThrow();
  });

  it("keeps its brand on the prototype: every instance is a trigger, no property of its own", () => {
    const t = new Waiting();
    expect(BaseTrigger.isTrigger(t)).toBe(true);
    expect(Object.getOwnPropertySymbols(t)).toEqual([]);
    expect(BaseTrigger.isTrigger({})).toBe(false);
  });
});
