/**
 * The narrow logging surface the operator's parts write to, so they work
 * with the runtime's task logger or a test's recorder alike.
 */

/** Where task log lines go. */
export interface LogSink {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}
