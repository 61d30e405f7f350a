/**
 * Start-up figure of `armada-airflow dev`: from spawning the process to its
 * "Press Ctrl+C" ready line, and the server's own "ready in N ms". A measured
 * figure for `npm run bench` on a quiet machine; the tests only check that
 * the server starts and says it is ready, however long a loaded machine takes.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { performance } from "node:perf_hooks";

const repoRoot = path.resolve(import.meta.dirname, "..");

/** One start: wall time from spawn to the ready line, and what the server reported. */
export interface DevStartup {
  spawnToReadyMs: number;
  reportedReadyMs: number;
}

/** Starts `armada-airflow dev` from source (as the tests run it), waits for its ready line, stops it. */
async function startOnce(): Promise<DevStartup> {
  const t0 = performance.now();
  const child = spawn(
    process.execPath,
    [
      "--conditions=source",
      "--import",
      "tsx",
      path.join(repoRoot, "src", "cli", "main.ts"),
      "dev",
      "--grpc-port",
      "0",
      "--http-port",
      "0",
    ],
    { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  try {
    const readyAt = await new Promise<number>((resolve, reject) => {
      const onData = (d: Buffer) => {
        out += d.toString();
        if (out.includes("Press Ctrl+C")) resolve(performance.now());
      };
      child.stdout.on("data", onData);
      child.stderr.on("data", onData);
      void exited.then(() => reject(new Error(`armada-airflow dev exited before it was ready:\n${out}`)));
    });
    const reported = /ready in (\d+) ms/.exec(out);
    if (!reported) throw new Error(`armada-airflow dev printed no "ready in N ms" line:\n${out}`);
    return { spawnToReadyMs: readyAt - t0, reportedReadyMs: Number(reported[1]) };
  } finally {
    if (child.exitCode === null) child.kill("SIGTERM");
    await exited;
  }
}

/**
 * Starts the dev server `runs` times after one warm-up start (which fills
 * tsx's transpile cache, so the figure is the server's start, not compiling
 * TypeScript: the published package runs compiled JS).
 */
export async function measureDevStartup(runs: number): Promise<DevStartup[]> {
  await startOnce();
  const results: DevStartup[] = [];
  for (let i = 0; i < runs; i++) results.push(await startOnce());
  return results;
}

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
