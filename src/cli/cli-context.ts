/** What every command of one CLI invocation shares: where it writes, its environment, and its exit code. */
import type { Clock } from "../common/clock.js";
import type { RuntimeConfig } from "../runtime/runtime-config.js";
import type { CliStreams } from "./progress.js";

/** The state of one `runCli` call, handed to each command group. */
export interface CliContext {
  out: (s: string) => void;
  err: (s: string) => void;
  streams: CliStreams;
  cwd: string;
  env: NodeJS.ProcessEnv;
  /**
   * Every setting, resolved from `env` (and the config file it names) once,
   * when the command starts; what the command's runner, scheduler or
   * triggerer and the DAG files it loads read.
   */
  readonly config: RuntimeConfig;
  signal: AbortSignal | undefined;
  clock: Clock;
  exitProcess: ((code: number) => void) | undefined;
  /** What the process exits with when the command returns (a failed run sets 1). */
  exitCode: number;
  /** `--verbose`: stack traces of expected failures too. */
  verbose: boolean;
}
