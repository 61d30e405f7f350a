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
  const emit = (level: LogLevel) => (message: string, ...args: unknown[]) =>
    sink(level, redactSecrets(args.length ? format(message, ...args) : String(message)));
  return { debug: emit("debug"), info: emit("info"), warn: emit("warn"), error: emit("error") };
}

/** Used outside a running task (operator construction, tests): writes to stderr. */
export const stderrLogger: TaskLogger = createTaskLogger((level, message) => {
  process.stderr.write(`${level.toUpperCase()} ${message}\n`);
});
