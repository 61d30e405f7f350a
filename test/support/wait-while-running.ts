/**
 * Waits for a state that a running process brings about (a row in its store,
 * a job it submitted), checking after each short pause. The process is the
 * signal both ways: the wait ends when the state is there, and fails at once,
 * with the process's output, when the process exits without producing it.
 * How long that takes on a loaded machine does not matter; `budgetMs` is only
 * a generous safety net for a process that hangs, and its failure names what
 * was awaited and shows the output.
 */
import type { TrackedChild } from "./child-processes.js";

export interface WaitWhileRunningOptions {
  /** What is awaited, for the failure message. */
  what: string;
  /** Safety net for a hung process, in real time (default 120 s). */
  budgetMs?: number;
  /** Pause between checks (default 25 ms: often enough to see a state held for a second). */
  pollMs?: number;
}

/**
 * Resolves once `condition` holds while `child` runs. A condition that throws
 * counts as not yet (the process may still be creating what it reads).
 */
export async function waitWhileRunning(
  child: TrackedChild,
  condition: () => boolean | Promise<boolean>,
  { what, budgetMs = 120_000, pollMs = 25 }: WaitWhileRunningOptions,
): Promise<void> {
  let exitCode: number | null | undefined;
  void child.exited.then((code) => (exitCode = code));
  const holds = async () => {
    try {
      return await condition();
    } catch {
      return false;
    }
  };
  const deadline = Date.now() + budgetMs;
  for (;;) {
    // Read the exit first: a state reached just before the process exited still counts.
    const exitedBefore = exitCode !== undefined;
    if (await holds()) return;
    if (exitedBefore) {
      throw new Error(
        `The process exited (code ${exitCode}, signal ${child.signalCode}) without reaching ${what}. ` +
          `Its output:\n${child.output()}`,
      );
    }
    if (Date.now() > deadline) {
      throw new Error(
        `Gave up after ${budgetMs} ms waiting for ${what}; the process is still running (it is killed ` +
          `when the test ends). Its output so far:\n${child.output()}`,
      );
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
