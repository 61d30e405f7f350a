import { statSync } from "node:fs";
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/** WAL size at which a store starts its checkpoint worker (small stores never need one). */
export const WAL_WORKER_START_BYTES = 4 * 1024 * 1024;
/** Commits between two looks at the WAL's size (a `stat` each). */
const COMMITS_PER_LOOK = 128;
/**
 * How often the worker checkpoints. A checkpoint copies each page the WAL holds once, however often it was
 * written since the last one, so checkpointing more often copies the hot pages (indexes, the change counter)
 * more often: every 250 ms cost a 1,000-task run 45% more CPU. Every 2 s left a 20,000-task run's CPU as it
 * was (88 s against 91 s without the worker).
 */
const CHECKPOINT_EVERY_MS = 2_000;
/** The store's own connection's automatic checkpoint, in WAL pages (about 40 MiB): see {@link WalCheckpointer}. */
export const MAIN_THREAD_AUTOCHECKPOINT_PAGES = 10_000;

/**
 * The worker, as CommonJS source: its own connection to the database file, a PASSIVE checkpoint (it never
 * waits for, nor blocks, the runner's writer) on a timer, and at close the last connection's checkpoint.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma("synchronous = NORMAL");
const checkpoint = () => { try { db.pragma("wal_checkpoint(PASSIVE)"); } catch {} };
const timer = setInterval(checkpoint, workerData.everyMs);
parentPort.on("message", () => {
  clearInterval(timer);
  try { db.close(); } catch {}
  parentPort.close();
});
`;

/**
 * Takes most of SQLite's WAL checkpoint work off the event loop once a store's WAL has grown.
 *
 * A checkpoint copies the pages the WAL holds back into the database file and syncs both files. SQLite runs
 * one inside whichever commit crosses `wal_autocheckpoint`, synchronously: at 20,000 tasks such a commit
 * held the runner's event loop for 120-160 ms every 3-4 s while tasks were submitted. Here a worker thread
 * with a connection of its own runs a PASSIVE checkpoint every 2 s: it copies and syncs what the WAL holds
 * while the writer and readers go on. The store's own connection still checkpoints at
 * `wal_autocheckpoint`, and must: a checkpoint from another connection never catches up with a writer that
 * commits all the time, so the WAL is never restarted and grows (to 600 MB in 90 s, measured), while the
 * writer's own checkpoint runs between its commits, finishes, and lets the next commit restart the WAL.
 * With the worker ahead of it, that checkpoint finds little left to copy or sync: 50-90 ms instead of
 * 120-160 ms at 20,000 tasks. At close the worker's connection is the last, so the final checkpoint (and
 * the WAL's removal) is the worker's too.
 *
 * Started lazily: most stores (a CLI command, a test) never write 4 MiB, and a thread is not free.
 */
export class WalCheckpointer {
  private commits = 0;
  private worker: Worker | undefined;
  private stopped = false;

  constructor(private readonly file: string) {}

  /** Called after each commit of the store's writes: starts the worker once the WAL has grown. Never throws. */
  noteCommit(): void {
    if (this.worker || this.stopped || ++this.commits % COMMITS_PER_LOOK !== 0) return;
    let size: number;
    try {
      size = statSync(`${this.file}-wal`).size;
    } catch {
      return; // no WAL file (an in-memory database): nothing to take over
    }
    if (size < WAL_WORKER_START_BYTES) return;
    try {
      this.start();
    } catch {
      this.stopped = true; // no thread to be had: the store's connection checkpoints alone, as before
    }
  }

  /** Whether a worker checkpoints this store's WAL now. */
  get active(): boolean {
    return this.worker !== undefined && !this.stopped;
  }

  private start(): void {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        driver: createRequire(import.meta.url).resolve("better-sqlite3"),
        file: this.file,
        everyMs: CHECKPOINT_EVERY_MS,
      },
      // The runner's own flags (a CPU profile, a loader) are not the worker's business.
      execArgv: [],
    });
    // It must not keep a process alive that has nothing else to do (close refs it while it finishes).
    worker.unref();
    // Gone: the store's connection checkpoints alone, as without a worker.
    worker.on("error", () => (this.stopped = true));
    worker.on("exit", () => (this.stopped = true));
    this.worker = worker;
  }

  /**
   * Stops the worker once the store's own connection is closed: the worker's is then the last, and its
   * close runs the final checkpoint (and removes the WAL) off the event loop.
   */
  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker || this.stopped) return;
    this.stopped = true;
    const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
    // Referenced while it finishes: a process whose last work is this wait must not exit under it.
    worker.ref();
    worker.postMessage("close");
    await exited;
  }
}
