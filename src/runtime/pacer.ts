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

  /** Counts one unit of work; yields to the event loop every `every` units. */
  async step(): Promise<void> {
    if (++this.steps % this.every === 0) await yieldToEventLoop();
  }
}
