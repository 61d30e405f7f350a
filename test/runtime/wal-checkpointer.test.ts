/**
 * WalCheckpointer: a store that has written a few MiB hands its WAL checkpoints to a worker thread (so no
 * commit of the runner runs one on the event loop), and a process that ends by itself after closing the
 * store still exits cleanly, with the WAL checkpointed and removed by the worker's last connection.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, expect, it } from "vitest";
import { killProcesses, runTracked } from "../support/child-processes.js";
import { repoRoot } from "../support/source-cli.js";

const homes: string[] = [];
afterEach(async () => {
  await killProcesses();
  for (const h of homes.splice(0)) rmSync(h, { recursive: true, force: true });
});

it("a store past 4 MiB of WAL checkpoints in a worker, and its process exits 0 once the store is closed", async () => {
  const home = mkdtempSync(path.join(os.tmpdir(), "wal-worker-"));
  homes.push(home);
  const res = await runTracked(
    process.execPath,
    ["--import", "tsx", path.join(repoRoot, "test", "runtime", "fixtures", "wal-writer.ts"), home],
    { cwd: repoRoot },
  );
  // Exit 0, not 13 (a top-level await left waiting on a worker that no longer kept the process alive).
  expect(res.code, res.output).toBe(0);
  const seen = JSON.parse(res.stdout.trim().split("\n").pop()!) as {
    commits: number;
    active: boolean;
    walLeftAfterClose: boolean;
  };
  expect(seen.active).toBe(true);
  expect(seen.walLeftAfterClose).toBe(false);
}, 60_000);
