import { setImmediate as yieldToEventLoop } from "node:timers/promises";

/**
 * Lets the event loop breathe during a long pass of the scheduling loop.
 * better-sqlite3 is synchronous, so a pass that starts thousands of tries
 * would otherwise hold the loop (gRPC calls, timers, trigger polls) until it
 * ends; every `every` steps, {@link step} yields one turn of the event loop.
 */
export class Pacer {
  private steps = 0;

  constructor(private readonly every = 64) {}

  /**
   * Counts one unit of work; every `every` units, a promise of the next
   * event-loop turn to wait for. Undefined otherwise, so a caller that goes
   * on at once does not even wait a microtask (the starts of a pass are
   * handed to the store in one synchronous stretch, to share a commit).
   */
  step(): Promise<unknown> | undefined {
    return ++this.steps % this.every === 0 ? yieldToEventLoop() : undefined;
  }
}
