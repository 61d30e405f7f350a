/**
 * The `armada-airflow` command run from source in a subprocess, with
 * `armada-airflow` imports resolving to src/ (the `source` export condition).
 * For tests that need a real process: kill -9, signals, start-up time.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";

/** The repository root; the CLI runs with it as the working directory. */
export const repoRoot = path.resolve(import.meta.dirname, "../..");

/** Node arguments that run the CLI from source with `args`. */
export function sourceCliArgs(args: string[]): string[] {
  return ["--conditions=source", "--import", "tsx", path.join(repoRoot, "src", "cli", "main.ts"), ...args];
}

/** A running CLI process with its combined stdout and stderr so far, and its exit code. */
export interface SourceCliProcess extends ChildProcess {
  output(): string;
  exited: Promise<number | null>;
}

/** Starts the CLI from source with `args` and `env` (default: this process's). */
export function spawnSourceCli(args: string[], env: NodeJS.ProcessEnv = process.env): SourceCliProcess {
  const child = spawn(process.execPath, sourceCliArgs(args), {
    cwd: repoRoot,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return Object.assign(child, { output: () => out, exited });
}
