import { Listr } from "listr2";
import type { RunnerEvent } from "../runtime/runner.js";
import type { TaskInstanceState } from "../runtime/state.js";
import { DeferralCycleFilter } from "./deferral-cycle.js";
import { briefLogMessage } from "./failure-text.js";

/** Where the CLI writes. */
export interface CliStreams {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

const label = (e: { taskId: string; mapIndex: number }) =>
  e.mapIndex >= 0 ? `${e.taskId}[${e.mapIndex}]` : e.taskId;

/**
 * Live progress of DAG runs. Every task log line goes to stderr with a
 * `[task try]` prefix and every state change as its own line; with a TTY the
 * state summary is also shown as a listr2 task whose title tracks the counts.
 */
export class ProgressReporter {
  /** Each task instance's state by key: the state alone (a string the runner shares), kept per task instance. */
  private readonly states = new Map<string, TaskInstanceState>();
  private onChange: (() => void) | undefined;
  /** Set while a listr2 task renders: lines go to its output instead of stderr. */
  private sink: ((line: string) => void) | undefined;

  /** Lines not yet written: written together once per turn of the event loop (a write each costs a syscall). */
  private pending: string[] = [];
  private flushScheduled = false;
  /** Set while {@link track} runs work on a plain stderr: lines are batched then, written at once otherwise. */
  private batching = false;

  private line(text: string): void {
    if (this.sink) return this.sink(text);
    if (!this.batching) {
      this.streams.stderr.write(`${text}\n`);
      return;
    }
    this.pending.push(text);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(this.flush);
  }

  /** Writes the lines still held (also at exit, so a process that ends loses none). */
  readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.pending.length === 0) return;
    const text = this.pending.join("\n") + "\n";
    this.pending = [];
    this.streams.stderr.write(text);
  };

  constructor(
    private readonly streams: CliStreams,
    private readonly quietLogs = false,
    /** Show the stack traces of expected failures and every deferral cycle too (`--verbose`). */
    private readonly verbose = false,
    /** Leaves out the repeats of deferrable polling (injectable for its clock). */
    private readonly cycles = new DeferralCycleFilter(),
  ) {}

  /** Feed runner events here. */
  readonly onEvent = (e: RunnerEvent): void => {
    if (e.type === "log") {
      const key = `${e.dagId}\u0000${e.runId}\u0000${label(e)}`;
      if (!this.quietLogs && (this.verbose || !this.cycles.hidesLog(key, e.tryNumber, e.message))) {
        const level = e.level === "info" ? "" : `${e.level.toUpperCase()} `;
        const text = e.level === "error" ? briefLogMessage(e.message, this.verbose) : e.message;
        for (const line of text.split("\n")) this.line(`[${label(e)} #${e.tryNumber}] ${level}${line}`);
      }
    } else if (e.type === "ti") {
      const key = `${e.dagId}\u0000${e.runId}\u0000${label(e)}`;
      const old = this.states.get(key);
      if (old) this.count(old, -1);
      this.count(e.state, 1);
      this.states.set(key, e.state);
      const shown = this.cycles.onState(key, e.tryNumber, e.state);
      if (this.verbose || shown === "show") {
        this.line(`--> ${e.dagId} ${label(e)} try ${e.tryNumber}: ${e.state}   (${this.summary()})`);
      } else if (shown !== "hide") {
        this.line(`--> ${e.dagId} ${label(e)} try ${e.tryNumber}: ${shown.heartbeat}   (${this.summary()})`);
      }
      this.onChange?.();
    } else {
      this.line(`==> DAG run ${e.dagId} ${e.runId}: ${e.state}`);
    }
  };

  /** Task instances per state, kept as events arrive (a summary per event must not cost O(tasks)). */
  private readonly counts = new Map<TaskInstanceState, number>();

  private count(state: TaskInstanceState, delta: number): void {
    const n = (this.counts.get(state) ?? 0) + delta;
    if (n > 0) this.counts.set(state, n);
    else this.counts.delete(state);
  }

  /** `3 success, 1 running, 2 deferred`. */
  summary(): string {
    return [...this.counts.entries()].map(([s, n]) => `${n} ${s}`).join(", ") || "starting";
  }

  /** Runs `work`, showing a listr2 progress line on a TTY stderr; plain lines otherwise. */
  async track<T>(title: string, work: () => Promise<T>): Promise<T> {
    if (!this.streams.stderr.isTTY) {
      process.once("exit", this.flush);
      this.batching = true;
      try {
        return await work();
      } finally {
        this.batching = false;
        this.flush();
        process.off("exit", this.flush);
      }
    }
    let result: T | undefined;
    const list = new Listr(
      [
        {
          title,
          rendererOptions: { bottomBar: 20, persistentOutput: true },
          task: async (_ctx, task) => {
            this.onChange = () => (task.title = `${title}: ${this.summary()}`);
            this.sink = (line) => (task.output = line);
            try {
              result = await work();
            } finally {
              this.sink = undefined;
            }
            task.title = `${title}: ${this.summary()}`;
          },
        },
      ],
      {
        renderer: "default",
        fallbackRenderer: "simple",
        exitOnError: true,
        rendererOptions: { lazy: false },
      },
    );
    await list.run();
    return result as T;
  }
}
