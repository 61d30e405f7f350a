/**
 * WalCheckpointer: a store that has written a few MiB has a worker thread do most of its WAL checkpoints'
 * work, while its own checkpoints still restart the WAL (which a worker's alone never does for a busy
 * writer), and a process that ends by itself after closing the store still exits cleanly, with the WAL
 * checkpointed and removed by the worker's last connection.
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

it("a store past 4 MiB of WAL checkpoints in a worker, its WAL still restarts, and its process exits 0 once the store is closed", async () => {
  const home = mkdtempSync(path.join(os.tmpdir(), "wal-worker-"));
  homes.push(home);
  const res = await runTracked(
    process.execPath,
    // 200 MiB: five times what the store's own checkpoint lets the WAL hold before the next commit restarts it.
    ["--import", "tsx", path.join(repoRoot, "test", "runtime", "fixtures", "wal-writer.ts"), home, "200"],
    { cwd: repoRoot },
  );
  // Exit 0, not 13 (a top-level await left waiting on a worker that no longer kept the process alive).
  expect(res.code, res.output).toBe(0);
  const seen = JSON.parse(res.stdout.trim().split("\n").pop()!) as {
    commits: number;
    active: boolean;
    walLeftAfterClose: boolean;
    walBytesMax: number;
  };
  expect(seen.active).toBe(true);
  expect(seen.walLeftAfterClose).toBe(false);
  // A worker's checkpoint alone never catches up with a busy writer, and the WAL grew by all that was written.
  expect(seen.walBytesMax).toBeLessThan(100 * 1024 * 1024);
}, 60_000);
