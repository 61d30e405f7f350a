/**
 * Every process a test starts goes through here, so that it is killed whatever
 * the test's outcome (pass, failed assertion, timeout). Each child is started
 * as the leader of its own process group, and a kill goes to the whole group:
 * whatever the child started itself (a shell's commands, a loader's workers)
 * dies with it instead of outliving the suite.
 *
 * Tests wait on what a process says (a readiness line, its exit), never on
 * how long it has run: on a loaded machine start-up may take many seconds.
 */
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";

/** A spawned process with its output so far and a promise of its exit. */
export interface TrackedChild extends ChildProcess {
  /** Everything it wrote to stdout and stderr so far, interleaved as it arrived. */
  output(): string;
  /** What it wrote to stdout so far. */
  stdoutText(): string;
  /** What it wrote to stderr so far. */
  stderrText(): string;
  /** Its exit code once it has exited (`null` when a signal ended it). */
  readonly exited: Promise<number | null>;
  /**
   * Resolves with the output so far once it matches `pattern` (the process's
   * readiness signal). Rejects, with the output, as soon as the process exits
   * without having printed it, so a crashed start fails at once rather than
   * at a deadline.
   */
  waitForOutput(pattern: RegExp | string): Promise<string>;
}

/**
 * Shared by every copy of this module in the worker: Vitest re-imports test
 * support per file, and the exit hook below must see every file's children
 * (and be installed once, not once per file).
 */
const registry = Symbol.for("armada-airflow.test.tracked-processes");
interface Registry {
  /** Children not yet killed by {@link killProcesses}. */
  live: Set<TrackedChild>;
  /** Children whose leader has exited and whose group was killed then. */
  reaped: WeakSet<ChildProcess>;
}
const globals = globalThis as typeof globalThis & { [registry]?: Registry };
const firstCopy = globals[registry] === undefined;
const { live, reaped } = (globals[registry] ??= { live: new Set(), reaped: new WeakSet() });

/**
 * Starts `command` with `args` as the leader of a new process group, with
 * stdout and stderr piped and captured, and tracks it until it has exited and
 * its group has been killed by {@link killProcesses}.
 */
export function spawnTracked(command: string, args: string[], options: SpawnOptions = {}): TrackedChild {
  const child = spawn(command, args, {
    stdio: ["ignore", "pipe", "pipe"],
    ...options,
    // Its own process group, so one kill(-pid) reaches everything it started.
    detached: true,
  });
  let out = "";
  let stdout = "";
  let stderr = "";
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
    stdout += d.toString();
    wake();
  });
  child.stderr?.on("data", (d: Buffer) => {
    out += d.toString();
    stderr += d.toString();
    wake();
  });
  // When the leader exits, whatever it left in its group goes too, straight away: such
  // leftovers are leaks, and a group signalled only much later could by then be a
  // stranger's reused process-group id.
  child.once("exit", () => {
    try {
      signalGroup(child, "SIGKILL");
    } catch {
      // A group we may not signal is not ours.
    }
    reaped.add(child);
  });
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => {
    // "close" comes after the last output, so a ready line printed just before exiting is seen.
    child.once("close", (code) => {
      exitCode = code;
      resolve(code);
      wake();
    });
    // A command that cannot start (ENOENT) emits "error" and never "close" on some Node versions.
    child.once("error", (err) => {
      out += `\n[spawn error] ${err.message}\n`;
      stderr += `[spawn error] ${err.message}\n`;
      exitCode = null;
      resolve(null);
      wake();
    });
  });
  const tracked = Object.assign(child, {
    output: () => out,
    stdoutText: () => stdout,
    stderrText: () => stderr,
    exited,
    waitForOutput(pattern: RegExp | string): Promise<string> {
      const matches = () => (typeof pattern === "string" ? out.includes(pattern) : pattern.test(out));
      return new Promise<string>((resolve, reject) => {
        const check = () => {
          if (matches()) {
            waiters.delete(check);
            resolve(out);
          } else if (exitCode !== undefined) {
            waiters.delete(check);
            reject(
              new Error(
                `${command} ${args.join(" ")} exited (code ${exitCode}, signal ${child.signalCode}) ` +
                  `before printing ${String(pattern)}. Its output:\n${out}`,
              ),
            );
          }
        };
        waiters.add(check);
        check();
      });
    },
  });
  live.add(tracked);
  return tracked;
}

/** Sends `signal` to the process group led by `child`; false when the group is gone already. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals | 0): boolean {
  if (child.pid === undefined) return false;
  try {
    process.kill(-child.pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw err;
  }
}

/**
 * Kills the process groups of `children` (default: every tracked child) with
 * SIGKILL and waits until each leader has exited. Safe to call for processes
 * that have exited already (their group was killed when they exited).
 */
export async function killProcesses(children: Iterable<TrackedChild> = live): Promise<void> {
  const list = [...children];
  for (const child of list) {
    // The leader directly as well, should its group be gone (it left it, or never led one).
    if (!reaped.has(child) && !signalGroup(child, "SIGKILL") && child.exitCode === null)
      child.kill("SIGKILL");
    live.delete(child);
  }
  await Promise.all(list.map((c) => c.exited));
}

/**
 * Starts `command` and resolves once it has exited, with its exit code and
 * output: for a command expected to end by itself. Unlike `spawnSync` it
 * leaves the test's own timeout in force, and the child is tracked, so a
 * command that hangs is killed with the rest.
 */
export async function runTracked(
  command: string,
  args: string[],
  options: SpawnOptions = {},
): Promise<{ code: number | null; stdout: string; stderr: string; output: string }> {
  const child = spawnTracked(command, args, options);
  const code = await child.exited;
  await killProcesses([child]);
  return { code, stdout: child.stdoutText(), stderr: child.stderrText(), output: child.output() };
}

// The last resort: a worker that exits (after an error, or with tests still
// running) takes the groups it started with it.
if (firstCopy) {
  process.once("exit", () => {
    for (const child of live) {
      if (reaped.has(child)) continue;
      try {
        signalGroup(child, "SIGKILL");
      } catch {
        // Exiting anyway; nothing else to do for a group we may not signal.
      }
    }
  });
}
