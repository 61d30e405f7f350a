/**
 * Runs callbacks at given times of an injected {@link Clock}. One driver loop
 * sleeps until the earliest timer, so thousands of pending transitions cost one
 * sleeper (which also keeps a ManualClock's sleeper list short).
 */
import type { Clock } from "../common/clock.js";
import { MinHeap } from "./min-heap.js";

interface Timer {
  at: number;
  seq: number;
  fn: (at: number) => void;
}

/** A clock-driven timer queue. Callbacks receive the time they were due at. */
export class TimerQueue {
  private readonly heap = new MinHeap<Timer>((a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq));
  private seq = 0;
  private sleeping: AbortController | undefined;
  private sleepingUntil = Infinity;
  private idle: (() => void) | undefined;
  private stopped = false;
  private readonly done: Promise<void>;

  constructor(
    private readonly clock: Clock,
    private readonly onError: (err: unknown) => void,
  ) {
    this.done = this.loop();
  }

  /** Runs `fn` at `atMs` (clock time); at once on the next turn if that is past. */
  at(atMs: number, fn: (at: number) => void): void {
    this.heap.push({ at: atMs, seq: this.seq++, fn });
    if (this.idle) {
      const wake = this.idle;
      this.idle = undefined;
      wake();
    } else if (atMs < this.sleepingUntil) {
      this.sleeping?.abort();
    }
  }

  /** Number of timers waiting. */
  get pending(): number {
    return this.heap.size;
  }

  /** Stops the loop; pending timers never run. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.sleeping?.abort();
    this.idle?.();
    await this.done;
  }

  /** Runs every timer that is due now, in time order (timers added meanwhile included). */
  runDue(): void {
    for (;;) {
      const next = this.heap.peek();
      if (!next || next.at > this.clock.nowMs() || this.stopped) return;
      this.heap.pop();
      try {
        next.fn(next.at);
      } catch (err) {
        this.onError(err);
      }
    }
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      this.runDue();
      if (this.stopped) return;
      const next = this.heap.peek();
      if (!next) {
        await new Promise<void>((resolve) => (this.idle = resolve));
        continue;
      }
      const controller = new AbortController();
      this.sleeping = controller;
      this.sleepingUntil = next.at;
      try {
        await this.clock.sleep(Math.max(0, next.at - this.clock.nowMs()), controller.signal);
      } catch {
        // Aborted: an earlier timer arrived or we are stopping; re-evaluate.
      } finally {
        this.sleeping = undefined;
        this.sleepingUntil = Infinity;
      }
    }
  }
}
