/**
 * The `armada-airflow` command run from source in a subprocess, with
 * `armada-airflow` imports resolving to src/ (the `source` export condition).
 * For tests that need a real process: kill -9, signals, start-up.
 * The process is tracked (see child-processes.ts): the test kills it with
 * `killProcesses` in `afterEach` / `onTestFinished`, whatever the outcome.
 */
import path from "node:path";
import { runTracked, spawnTracked, type TrackedChild } from "./child-processes.js";

/** The repository root; the CLI runs with it as the working directory. */
export const repoRoot = path.resolve(import.meta.dirname, "../..");

/** Node arguments that run the CLI from source with `args`. */
export function sourceCliArgs(args: string[]): string[] {
  return ["--conditions=source", "--import", "tsx", path.join(repoRoot, "src", "cli", "main.ts"), ...args];
}

/** A running CLI process with its combined stdout and stderr so far, and its exit code. */
export type SourceCliProcess = TrackedChild;

/** Starts the CLI from source with `args` and `env` (default: this process's). */
export function spawnSourceCli(args: string[], env: NodeJS.ProcessEnv = process.env): SourceCliProcess {
  return spawnTracked(process.execPath, sourceCliArgs(args), { cwd: repoRoot, env });
}

/** Runs the CLI from source with `args` to its exit; resolves with its exit code and output. */
export function runSourceCli(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): ReturnType<typeof runTracked> {
  return runTracked(process.execPath, sourceCliArgs(args), { cwd: repoRoot, env });
}
