import { statSync } from "node:fs";
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type { CommitCheckpoints } from "./write-steps.js";

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
/**
 * Commits after which the worker checkpoints, however soon: a store that commits fast (a bulk load, the
 * test's writer of 16 KiB commits) would otherwise grow its WAL by all it writes in 2 s.
 */
const CHECKPOINT_EVERY_COMMITS = 1_000;
/** The store's own connection's automatic checkpoint, in WAL pages (about 40 MiB): see {@link WalCheckpointer}. */
export const MAIN_THREAD_AUTOCHECKPOINT_PAGES = 10_000;
/**
 * The same while the worker checkpoints (about 200 MiB): only a backstop, for a WAL that the worker's
 * checkpoints cannot restart (another process's reads or writes keep it from finishing).
 */
export const BACKSTOP_AUTOCHECKPOINT_PAGES = 50_000;

/**
 * The worker, as CommonJS source: its own connection to the database file, a PASSIVE checkpoint (it never
 * waits for, nor blocks, the runner's connection) when asked, answered when done, and at close the last
 * connection's checkpoint.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma("synchronous = NORMAL");
parentPort.on("message", (message) => {
  if (message === "checkpoint") {
    try { db.pragma("wal_checkpoint(PASSIVE)"); } catch {}
    parentPort.postMessage("done");
    return;
  }
  try { db.close(); } catch {}
  parentPort.close();
});
`;

/**
 * Takes SQLite's WAL checkpoints off the event loop once a store's WAL has grown.
 *
 * A checkpoint copies the pages the WAL holds back into the database file and syncs both files. SQLite runs
 * one inside whichever commit crosses `wal_autocheckpoint`, synchronously: at 20,000 tasks such a commit
 * held the runner's event loop for 120-160 ms every 3-4 s while tasks were submitted, and at 100,000 tasks
 * for up to 600 ms. Here a worker thread with a connection of its own runs the checkpoint, every 2 s while
 * the store writes (or every 1,000 commits, if sooner), and the store's writes wait for it (its reads, timers
 * and RPCs do not): a checkpoint that runs while a writer commits never catches up with it (measured: the WAL
 * was never restarted and grew to 600 MB in 90 s), where one that the writer waits for copies everything,
 * and the next write restarts the WAL. The store's own connection then checkpoints only as a backstop, far later
 * ({@link BACKSTOP_AUTOCHECKPOINT_PAGES}), and as before if the worker is gone. At close the worker's
 * connection is the last, so the final checkpoint (and the WAL's removal) is the worker's too.
 *
 * Started lazily: most stores (a CLI command, a test) never write 4 MiB, and a thread is not free; a write
 * long enough to span turns of the event loop (a task mapped 100,000 ways) starts it before it commits.
 */
export class WalCheckpointer implements CommitCheckpoints {
  private commits = 0;
  /** Commits since the worker's last checkpoint. */
  private commitsSinceCheckpoint = 0;
  /** When the worker's last checkpoint ended (-Infinity: none yet, the first is due at once). */
  private lastCheckpointAt = -Infinity;
  /** The checkpoint the worker runs now, if any, and what settles it. */
  private inFlight: { done: Promise<void>; finish: () => void } | undefined;
  private worker: Worker | undefined;
  private stopped = false;

  /**
   * @param file the database file
   * @param setAutocheckpoint sets the store's own connection's `wal_autocheckpoint` (pages)
   */
  constructor(
    private readonly file: string,
    private readonly setAutocheckpoint: (pages: number) => void = () => {},
  ) {}

  /** Called after each commit of the store's writes: starts the worker once the WAL has grown. Never throws. */
  noteCommit(): void {
    this.commitsSinceCheckpoint++;
    if (this.worker || this.stopped || ++this.commits % COMMITS_PER_LOOK !== 0) return;
    let size: number;
    try {
      size = statSync(`${this.file}-wal`).size;
    } catch {
      return; // no WAL file (an in-memory database): nothing to take over
    }
    if (size < WAL_WORKER_START_BYTES) return;
    this.startOrGiveUp();
  }

  /** A write outlasted its turn (a bulk write): the worker takes its commit's checkpoint. Never throws. */
  noteLongWrite(): void {
    if (!this.worker && !this.stopped) this.startOrGiveUp();
  }

  /**
   * Before a commit: the worker's checkpoint, when one is due (2 s or 1,000 commits since the last, with
   * commits since), for the commit to wait for; undefined when none is.
   */
  checkpointDue(): Promise<void> | undefined {
    if (!this.active) return undefined;
    if (this.inFlight) return this.inFlight.done;
    if (
      this.commitsSinceCheckpoint === 0 ||
      (this.commitsSinceCheckpoint < CHECKPOINT_EVERY_COMMITS &&
        performance.now() - this.lastCheckpointAt < CHECKPOINT_EVERY_MS)
    )
      return undefined;
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    this.inFlight = {
      done,
      finish: () => {
        this.worker?.unref();
        this.inFlight = undefined;
        this.commitsSinceCheckpoint = 0;
        this.lastCheckpointAt = performance.now();
        finish();
      },
    };
    // Referenced while it checkpoints: a process whose only work left is a write waiting for it must not exit.
    this.worker!.ref();
    this.worker!.postMessage("checkpoint");
    return done;
  }

  /** Whether a worker checkpoints this store's WAL now. */
  get active(): boolean {
    return this.worker !== undefined && !this.stopped;
  }

  private startOrGiveUp(): void {
    try {
      this.start();
    } catch {
      this.stopped = true; // no thread to be had: the store's connection checkpoints alone, as before
    }
  }

  private start(): void {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        driver: createRequire(import.meta.url).resolve("better-sqlite3"),
        file: this.file,
      },
      // The runner's own flags (a CPU profile, a loader) are not the worker's business.
      execArgv: [],
    });
    // It must not keep a process alive that has nothing else to do (close refs it while it finishes).
    worker.unref();
    worker.on("message", () => this.inFlight?.finish());
    // Gone: the store's connection checkpoints alone, as without a worker, and no write waits for it.
    const gone = () => {
      if (!this.stopped) this.setAutocheckpoint(MAIN_THREAD_AUTOCHECKPOINT_PAGES);
      this.stopped = true;
      this.inFlight?.finish();
    };
    worker.on("error", gone);
    worker.on("exit", gone);
    this.worker = worker;
    this.setAutocheckpoint(BACKSTOP_AUTOCHECKPOINT_PAGES);
  }

  /**
   * Stops the worker once the store's own connection is closed: the worker's is then the last, and its
   * close runs the final checkpoint (and removes the WAL) off the event loop.
   */
  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker || this.stopped) return;
    this.stopped = true;
    this.inFlight?.finish();
    const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
    // Referenced while it finishes: a process whose last work is this wait must not exit under it.
    worker.ref();
    worker.postMessage("close");
    await exited;
  }
}
