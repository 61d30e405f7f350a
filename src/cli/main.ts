#!/usr/bin/env node
import { readFileSync, realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Command, CommanderError } from "@commander-js/extra-typings";
import { RuntimeError } from "../runtime/errors.js";
import {
  resolveRuntimeConfig,
  setScopedRuntimeConfig,
  withRuntimeConfigScope,
  type RuntimeConfig,
} from "../runtime/runtime-config.js";
import { systemClock, type Clock } from "../common/clock.js";
import { registerArmadaCommands } from "./armada-commands.js";
import { limitHeapGrowth } from "./heap-growth.js";
import type { CliContext } from "./cli-context.js";
import { registerDagCommands } from "./dag-commands.js";
import { registerDevCommand } from "./dev-command.js";
import { commandErrorText } from "./failure-text.js";
import { registerPoolCommands } from "./pool-commands.js";
import type { CliStreams } from "./progress.js";
import { registerResumeCommand } from "./resume-command.js";
import { registerRunCommands } from "./run-commands.js";
import { registerSchedulerCommands } from "./scheduler-commands.js";
import { registerTaskInstanceCommands } from "./task-instance-commands.js";
import { registerXComCommands } from "./xcom-commands.js";

/** What {@link runCli} runs against; defaults are the process's own. */
export interface CliIo extends Partial<CliStreams> {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Aborting it stops running DAG runs as SIGINT/SIGTERM would (reason: the signal name). */
  signal?: AbortSignal;
  /** The clock of the scheduler and its runs (tests inject a ManualClock). @default systemClock */
  clock?: Clock;
  /**
   * Ends the process at once (the real CLI passes `process.exit`): a
   * scheduler whose runs outlast its stop timeout hands them over by exiting.
   * Without it they are stopped as on `dags test`.
   */
  exitProcess?: (code: number) => void;
}

/** This package's version, from its package.json (two folders up from src/cli and dist/cli alike). */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version?: string;
  };
  return pkg.version ?? "unknown";
}

/** The command tree: global options here, each command group from its own module. */
function build(ctx: CliContext): Command {
  const program = new Command()
    .name("armada-airflow")
    .description("Run and inspect Airflow-style DAGs written in TypeScript")
    .version(packageVersion(), "-V, --version", "print the armada-airflow version")
    .option("--verbose", "show stack traces of expected failures (a failed job, bad input) too")
    .hook("preAction", (cmd) => {
      ctx.verbose = Boolean(cmd.opts().verbose);
      // Resolved once, before the command runs or loads a DAG file, so the DAG and operator
      // constructors in DAG files see the settings of this call's env, not of process.env.
      setScopedRuntimeConfig(ctx.config);
    })
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: ctx.out, writeErr: ctx.err });

  // In the order `--help` lists them; the scheduler adds its commands to the groups made here.
  const dags = registerDagCommands(program, ctx);
  const runs = registerRunCommands(program, ctx);
  const tasks = registerTaskInstanceCommands(program, ctx);
  registerXComCommands(program, ctx);
  registerResumeCommand(program, ctx);
  registerArmadaCommands(program, ctx);
  registerSchedulerCommands({ program, dags, runs, tasks }, ctx);
  registerPoolCommands(program, ctx);
  registerDevCommand(program);
  return program;
}

/**
 * The `armada-airflow` command line, callable in-process. Returns the exit
 * code: 0 on success, 1 when a run failed or a command errored, 2 on a usage
 * error, 130/143 style codes are left to the caller (a stopped run returns 1).
 */
export async function runCli(argv: string[], io: CliIo = {}): Promise<number> {
  const streams: CliStreams = { stdout: io.stdout ?? process.stdout, stderr: io.stderr ?? process.stderr };
  const cwd = io.cwd ?? process.cwd();
  const env = io.env ?? process.env;
  let config: RuntimeConfig | undefined;
  const ctx: CliContext = {
    out: (s) => void streams.stdout.write(s),
    err: (s) => void streams.stderr.write(s),
    streams,
    cwd,
    env,
    // On first use (the preAction hook), so `--help` and `--version` work whatever the config says.
    get config() {
      return (config ??= resolveRuntimeConfig({ env, cwd }));
    },
    signal: io.signal,
    clock: io.clock ?? systemClock,
    exitProcess: io.exitProcess,
    exitCode: 0,
    verbose: argv.includes("--verbose"),
  };
  const program = build(ctx);
  try {
    // The command, and all it starts, sees ctx.config as the current config (see currentRuntimeConfig).
    await withRuntimeConfigScope(() => program.parseAsync(argv, { from: "user" }));
    return ctx.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (RuntimeError.is(err) && !ctx.verbose) ctx.err(`error: ${err.message}\n`);
    else ctx.err(`error: ${commandErrorText(err, ctx.verbose)}\n`);
    return 1;
  }
}

/** Runs the CLI as the process: SIGINT/SIGTERM stop runs gracefully; the exit code is the process's. */
export async function main(argv = process.argv.slice(2)): Promise<void> {
  const ac = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (ac.signal.aborted) process.exit(sig === "SIGINT" ? 130 : 143);
    ac.abort(sig);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  limitHeapGrowth(configuredHeapGrowth());
  const code = await runCli(argv, { signal: ac.signal, exitProcess: (c) => process.exit(c) });
  process.exitCode = ac.signal.aborted ? (ac.signal.reason === "SIGINT" ? 130 : 143) : code;
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
}

/** `[core] heap_growing_percent`; V8's own choice (0) when the config cannot be read (the command then says why). */
function configuredHeapGrowth(): number {
  try {
    return resolveRuntimeConfig({ env: process.env, cwd: process.cwd() }).core.heap_growing_percent;
  } catch {
    return 0;
  }
}

function isEntryPoint(): boolean {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) await main();
