/**
 * Quiets the repeating part of a deferrable task's progress on the console.
 * A deferrable task that polls goes deferred -> scheduled -> running ->
 * deferred at every poll, and the runner logs the same three lines each
 * time: for a hundred tasks that is thousands of lines saying nothing new.
 * After a try's first deferral those repeats are left out; what changes (a
 * job state, a container log line, a warning, the task's end) is still
 * shown, and a heartbeat line says the task is still waiting at most every
 * few minutes. The stored task log keeps every line.
 */

/** States a deferred task passes through at each poll. */
const CYCLE_STATES: ReadonlySet<string> = new Set(["deferred", "scheduled", "running", "queued"]);

/** The runner's lines for one pass of the cycle (runner.ts: defer, trigger fired, resume). */
const CYCLE_LINES: readonly RegExp[] = [
  /^Pausing task as DEFERRED \(/,
  /^Trigger fired: resuming task$/,
  /^Resuming \S+ after deferral \(try \d+\)$/,
];

/** Default gap between two "still deferred" lines of one task. */
export const DEFAULT_HEARTBEAT_MS = 5 * 60_000;

interface TryState {
  tryNumber: number;
  /** Deferred at least once in this try: later passes of the cycle are quiet. */
  deferredOnce: boolean;
  since: number;
  lastShown: number;
}

/** See the module comment. Keys identify a task instance (dag, run, task, map index). */
export class DeferralCycleFilter {
  private readonly tries = new Map<string, TryState>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly heartbeatMs = DEFAULT_HEARTBEAT_MS,
  ) {}

  private entry(key: string, tryNumber: number): TryState {
    let t = this.tries.get(key);
    if (!t || t.tryNumber !== tryNumber) {
      const now = this.now();
      t = { tryNumber, deferredOnce: false, since: now, lastShown: now };
      this.tries.set(key, t);
    }
    return t;
  }

  /**
   * What to print for a state change: `"show"`, `"hide"`, or a heartbeat
   * text to print instead (`still deferred, waiting 5 min`).
   */
  onState(key: string, tryNumber: number, state: string): "show" | "hide" | { heartbeat: string } {
    const t = this.entry(key, tryNumber);
    if (!CYCLE_STATES.has(state)) {
      this.tries.delete(key);
      return "show";
    }
    if (!t.deferredOnce) {
      if (state === "deferred") {
        t.deferredOnce = true;
        t.since = t.lastShown = this.now();
      }
      return "show";
    }
    if (state !== "deferred") return "hide";
    const now = this.now();
    if (now - t.lastShown < this.heartbeatMs) return "hide";
    t.lastShown = now;
    return { heartbeat: `still deferred, waiting ${Math.round((now - t.since) / 60_000)} min` };
  }

  /** True when a log line is one of the cycle's repeats and is left out. */
  hidesLog(key: string, tryNumber: number, message: string): boolean {
    const t = this.tries.get(key);
    if (!t || t.tryNumber !== tryNumber || !t.deferredOnce) return false;
    return CYCLE_LINES.some((re) => re.test(message));
  }
}
