/** The test-process helpers themselves: what they kill, and when their waits end. */
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { killProcesses, runTracked, spawnTracked } from "./child-processes.js";
import { sleepUntil } from "./sleep-until.js";
import { waitWhileRunning } from "./wait-while-running.js";

/**
 * Whether the process `pid` is running. A killed process whose new parent has
 * not reaped it yet is a zombie: dead, though its pid still answers signals.
 */
function alive(pid: number): boolean {
  try {
    // /proc/PID/stat: "pid (comm) state ..."; comm may hold spaces, so read after the last ")".
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** A shell that starts a long sleep in the background, prints its pid, and stays (or not). */
const withGrandchild = (then: string) => ["-c", `sleep 600 & echo "grandchild=$!"; ${then}`];
const grandchildOf = (out: string) => Number(/grandchild=(\d+)/.exec(out)![1]);

describe("child processes in tests", () => {
  afterEach(() => killProcesses());

  it("killProcesses kills the child's whole group, what it started too, and waits for the exit", async () => {
    const child = spawnTracked("sh", withGrandchild("wait"));
    const grandchild = grandchildOf(await child.waitForOutput(/grandchild=\d+/));
    expect(alive(grandchild)).toBe(true);
    await killProcesses([child]);
    expect(child.signalCode).toBe("SIGKILL");
    expect(alive(child.pid!)).toBe(false);
    // The signal went to the whole group at once; a loaded machine may take a moment to end the grandchild
    // (reparented to init, which reaps it when it gets to it).
    await sleepUntil(() => !alive(grandchild), `grandchild ${grandchild} gone`);
  });

  it("a child that exits takes what it left running in its group with it", async () => {
    const child = spawnTracked("sh", withGrandchild("exit 0"));
    expect(await child.exited).toBe(0);
    // SIGKILL is delivered at once but a loaded machine may take a moment to end the process.
    const grandchild = grandchildOf(child.output());
    await sleepUntil(() => !alive(grandchild), `grandchild ${grandchild} gone`);
  });

  it("waitForOutput ends on the line, and fails at once, with the output, when the process exits first", async () => {
    const ready = spawnTracked("sh", ["-c", "echo booting; echo ready; exec sleep 600"]);
    expect(await ready.waitForOutput("ready")).toContain("booting\nready");
    const crashed = spawnTracked("sh", ["-c", "echo booting; echo oops >&2; exit 3"]);
    await expect(crashed.waitForOutput("ready")).rejects.toThrow(/exited \(code 3.*booting\noops/s);
    expect(crashed.stderrText()).toBe("oops\n");
    expect(crashed.stdoutText()).toBe("booting\n");
  });

  it("waitWhileRunning ends when the state is there, and fails at once when the process exits without it", async () => {
    let polls = 0;
    const runner = spawnTracked("sh", ["-c", "exec sleep 600"]);
    await waitWhileRunning(runner, () => ++polls >= 3, { what: "three polls" });
    expect(polls).toBe(3);
    const quitter = spawnTracked("sh", ["-c", "echo giving up; exit 1"]);
    await expect(waitWhileRunning(quitter, () => false, { what: "a state never reached" })).rejects.toThrow(
      /exited \(code 1.*without reaching a state never reached.*giving up/s,
    );
  });

  it("runTracked resolves with the exit code and each stream", async () => {
    const r = await runTracked("sh", ["-c", "echo out; echo err >&2; exit 4"]);
    expect(r).toEqual({ code: 4, stdout: "out\n", stderr: "err\n", output: expect.stringContaining("out") });
  });
});
