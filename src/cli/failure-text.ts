/**
 * How the CLI shows a failure. An expected failure (a job that FAILED, bad
 * input, a template error, a timeout) is one line: its class and message,
 * which say what went wrong and what to change; the stack trace says nothing
 * more to a user and is shown only with `--verbose` (the stored task log
 * keeps it). An unexpected error (a TypeError in a DAG file, a bug) keeps its
 * stack, since there the stack is what tells where.
 */
import { ArmadaAirflowError } from "../common/armada-airflow-error.js";

/**
 * Error classes whose messages are complete: the library's own (the
 * ArmadaAirflowError family; their names are listed for failures read back as
 * stack text from a task log), and `TaskFatalError`, which a DAG throws on
 * purpose.
 */
const EXPECTED_ERROR_NAMES: ReadonlySet<string> = new Set([
  "ArmadaAirflowError",
  "ArmadaError",
  "ArmadaOperatorCancelError",
  "ArmadaOperatorInputError",
  "ArmadaOperatorJobFailedError",
  "ArmadaOperatorJobFailedFatalError",
  "ArmadaOperatorQueueNotFoundError",
  "ArmadaOperatorSubmitError",
  "ChannelConfigError",
  "DagDefinitionError",
  "RuntimeError",
  "TaskFatalError",
  "TaskKilledError",
  "TaskTimeoutError",
  "TemplateRenderError",
]);

const FRAME = /^\s+at \S/;
/** `Error name: message` at the start of a line, possibly after a `Task failed: `-style lead-in. */
const NAMED = /(?:^|: )([A-Z][A-Za-z]*Error): /;

/** True for an error (object or its stack text's first line) of an expected class. */
export function isExpectedFailure(err: unknown): boolean {
  if (err instanceof ArmadaAirflowError) return true;
  if (err instanceof Error) return EXPECTED_ERROR_NAMES.has(err.name);
  if (typeof err !== "string") return false;
  const m = NAMED.exec(err.split("\n", 1)[0]!);
  return m !== null && EXPECTED_ERROR_NAMES.has(m[1]!);
}

/**
 * A log message as the CLI prints it: with `verbose`, as it is; otherwise the
 * stack frames of an expected failure are left out.
 */
export function briefLogMessage(message: string, verbose: boolean): string {
  if (verbose || !isExpectedFailure(message) || !message.includes("\n")) return message;
  return message
    .split("\n")
    .filter((line) => !FRAME.test(line))
    .join("\n");
}

/** The CLI's `error: ...` text for an error that ended a command. */
export function commandErrorText(err: unknown, verbose: boolean): string {
  if (!(err instanceof Error)) return String(err);
  if (verbose) return err.stack ?? err.message;
  if (isExpectedFailure(err)) return err.message;
  return `${err.stack ?? err.message}`;
}
