import { format } from "node:util";
import { redactSecrets } from "./secrets-masker.js";

/** Log levels of task logs. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** A task's logger: lines go to the task instance's log (stored, and printed with a task prefix). */
export interface TaskLogger {
  debug(message: string, ...args: unknown[]): void;
  info(message: string, ...args: unknown[]): void;
  warn(message: string, ...args: unknown[]): void;
  error(message: string, ...args: unknown[]): void;
}

/** Receives each formatted, redacted log line. */
export type LogSink = (level: LogLevel, message: string) => void;

/** A {@link TaskLogger} that formats `message` with `args` as `console.log` does and redacts secrets. */
export function createTaskLogger(sink: LogSink): TaskLogger {
  return new SinkLogger(sink);
}

/**
 * A {@link TaskLogger} that formats and redacts each line and hands it to
 * {@link write}. A class, not an object of four closures: a runner keeps a
 * logger for each waiting trigger (100,000 of them at scale), and methods on
 * the prototype cost nothing per logger. Call them on the logger
 * (`log.info(...)`). A subclass that keeps what it writes with as fields
 * (not a sink closure and its scope) is the smallest logger per task.
 */
export abstract class FormattingTaskLogger implements TaskLogger {
  debug(message: string, ...args: unknown[]): void {
    this.emit("debug", message, args);
  }

  info(message: string, ...args: unknown[]): void {
    this.emit("info", message, args);
  }

  warn(message: string, ...args: unknown[]): void {
    this.emit("warn", message, args);
  }

  error(message: string, ...args: unknown[]): void {
    this.emit("error", message, args);
  }

  /** Receives each formatted, redacted line. */
  protected abstract write(level: LogLevel, message: string): void;

  private emit(level: LogLevel, message: string, args: unknown[]): void {
    this.write(level, redactSecrets(args.length ? format(message, ...args) : String(message)));
  }
}

class SinkLogger extends FormattingTaskLogger {
  constructor(private readonly sink: LogSink) {
    super();
  }

  protected write(level: LogLevel, message: string): void {
    this.sink(level, message);
  }
}

/** Used outside a running task (operator construction, tests): writes to stderr. */
export const stderrLogger: TaskLogger = createTaskLogger((level, message) => {
  process.stderr.write(`${level.toUpperCase()} ${message}\n`);
});
