import { statSync } from "node:fs";
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type Database from "better-sqlite3";

/** WAL size at which a store moves its checkpoints to a worker thread (small stores never need one). */
export const WAL_WORKER_START_BYTES = 4 * 1024 * 1024;
/** Commits between two looks at the WAL's size (a `stat` each). */
const COMMITS_PER_LOOK = 128;
/** How often the worker copies the WAL back into the database. */
const CHECKPOINT_EVERY_MS = 250;
/** The main connection's own automatic checkpoint, in WAL pages, while no worker does it (or if one fails). */
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
 * Takes SQLite's WAL checkpoints off the event loop once a store's WAL has grown.
 *
 * A checkpoint copies the pages the WAL holds back into the database file and syncs it. SQLite runs one
 * inside whichever commit crosses `wal_autocheckpoint`, synchronously: at 1,000 tasks such a commit held the
 * runner's event loop for over 100 ms, and so did closing the store (the last connection's checkpoint).
 * Here a worker thread with a connection of its own checkpoints instead, a few times a second, and the
 * store's connection stops checkpointing. The writer and readers go on during a PASSIVE checkpoint.
 *
 * Started lazily: most stores (a CLI command, a test) never write 4 MiB, and a thread is not free.
 */
export class WalCheckpointer {
  private commits = 0;
  private worker: Worker | undefined;
  private stopped = false;

  constructor(
    private readonly file: string,
    private readonly database: Database.Database,
  ) {}

  /** Called after each commit of the store's writes: starts the worker once the WAL has grown. Never throws. */
  noteCommit(): void {
    if (this.worker || this.stopped || ++this.commits % COMMITS_PER_LOOK !== 0) return;
    let size: number;
    try {
      size = statSync(`${this.file}-wal`).size;
    } catch {
      return; // no WAL file (an in-memory database): nothing to move
    }
    if (size < WAL_WORKER_START_BYTES) return;
    try {
      this.start();
    } catch {
      this.fallBack(); // no thread to be had: the store's connection keeps checkpointing, as before
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
    worker.on("error", () => this.fallBack());
    worker.on("exit", (code) => {
      if (code !== 0) this.fallBack();
    });
    this.worker = worker;
    this.database.pragma("wal_autocheckpoint = 0");
  }

  /** The worker is gone: the store's connection checkpoints again, so the WAL cannot grow without bound. */
  private fallBack(): void {
    if (this.stopped) return;
    this.stopped = true;
    try {
      if (this.database.open)
        this.database.pragma(`wal_autocheckpoint = ${MAIN_THREAD_AUTOCHECKPOINT_PAGES}`);
    } catch {
      // closing: nothing more will be written
    }
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
