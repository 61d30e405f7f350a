/**
 * The DAGs of a folder, kept current for a long-running scheduler: changed
 * files are read again, a file that fails to load is recorded as an import
 * error (in the store, for `dags list-import-errors`) while its DAGs keep
 * their last good version, and a removed file's DAGs go.
 */
import { watch, type FSWatcher } from "node:fs";
import { stat } from "node:fs/promises";
import path from "node:path";
import type { DAG } from "../runtime/dag.js";
import { findDagFiles, readDagFile, versionedImporter } from "../runtime/dag-loader.js";
import { RuntimeError } from "../runtime/errors.js";
import { redactSecrets } from "../runtime/secrets-masker.js";
import type { Store } from "../runtime/store/store.js";

interface FileEntry {
  /** mtime, size and inode: a change of any means the file is read again. */
  signature: string;
  /** Its DAGs as last loaded without error. */
  dags: DAG[];
  /** The error of the last read, when it failed. */
  error: string | undefined;
}

/** What a {@link DagBag.refresh} changed. */
export interface DagBagChanges {
  /** DAG ids whose definition is new or changed. */
  updated: string[];
  /** DAG ids no longer defined by any file. */
  removed: string[];
}

/** Options of a {@link DagBag}. */
export interface DagBagOptions {
  folder: string;
  store: Store;
  /** For new DAGs that do not say (`isPausedUponCreation`). */
  pausedAtCreation: boolean;
  /** Lines for the scheduler's log. */
  log: (line: string) => void;
  nowMs: () => number;
}

const errorText = (err: unknown) => redactSecrets(err instanceof Error ? err.message : String(err));

/** The DAGs of a folder, read again as their files change. */
export class DagBag {
  private readonly files = new Map<string, FileEntry>();
  private readonly byId = new Map<string, DAG>();
  private reads = 0;
  private watcher: FSWatcher | undefined;

  constructor(private readonly options: DagBagOptions) {}

  /** The current DAGs by id (each the last good version of its file). */
  get dags(): ReadonlyMap<string, DAG> {
    return this.byId;
  }

  /**
   * Rescans the folder: new and changed files are read (and their DAGs
   * registered in the store), removed files' DAGs dropped. A folder that
   * does not exist is an error; a file that fails is not.
   */
  async refresh(): Promise<DagBagChanges> {
    const { folder, store, log } = this.options;
    let found: string[];
    try {
      found = await findDagFiles(folder);
    } catch (err) {
      throw new RuntimeError(
        "invalid_argument",
        `the DAGs folder ${folder} cannot be read (${errorText(err)}); create it or point --dags-folder / [core] dags_folder at another`,
      );
    }
    const changes: DagBagChanges = { updated: [], removed: [] };
    const before = new Map(this.byId);
    for (const file of found) {
      const s = await stat(file).catch(() => undefined);
      if (!s) continue;
      const signature = `${s.mtimeMs}:${s.size}:${s.ino}`;
      const entry = this.files.get(file);
      if (entry?.signature === signature) continue;
      const previous = entry?.dags ?? [];
      let dags: DAG[];
      try {
        dags = await readDagFile(file, versionedImporter(`${signature}:${++this.reads}`));
        for (const d of dags) {
          const owner = this.ownerOf(d.dagId);
          if (owner !== undefined && owner !== file) {
            throw new RuntimeError(
              "dag",
              `DAG "${d.dagId}" is already defined in ${owner}; DAG ids must be unique`,
            );
          }
        }
      } catch (err) {
        const error = errorText(err);
        this.files.set(file, { signature, dags: previous, error });
        await store.setImportError({ filename: file, error, timestampMs: this.options.nowMs() });
        log(
          `Import error in ${file}: ${error}` +
            (previous.length
              ? ` (keeping the last good version of ${previous.map((d) => d.dagId).join(", ")})`
              : ""),
        );
        continue;
      }
      this.files.set(file, { signature, dags, error: undefined });
      if (entry?.error) log(`${file} loads again`);
      await store.clearImportError(file);
      for (const d of previous) if (!dags.some((n) => n.dagId === d.dagId)) this.byId.delete(d.dagId);
      for (const d of dags) this.byId.set(d.dagId, d);
      await this.register(dags);
      changes.updated.push(...dags.map((d) => d.dagId));
    }
    const present = new Set(found);
    for (const [file, entry] of this.files) {
      if (present.has(file)) continue;
      this.files.delete(file);
      for (const d of entry.dags) if (this.byId.get(d.dagId) === d) this.byId.delete(d.dagId);
      if (entry.error) await store.clearImportError(file);
      log(`${file} was removed`);
    }
    changes.removed = [...before.keys()].filter((id) => !this.byId.has(id));
    if (changes.removed.length) await store.deactivateDags(changes.removed);
    return changes;
  }

  /** Calls `onChange` when something in the folder changes (the periodic rescan is the backstop). */
  watch(onChange: () => void): void {
    try {
      this.watcher = watch(this.options.folder, { recursive: true }, () => onChange());
      this.watcher.on("error", () => this.unwatch());
    } catch {
      // No watcher (platform or limits): the periodic rescan still sees changes.
    }
  }

  unwatch(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  private ownerOf(dagId: string): string | undefined {
    for (const [file, entry] of this.files) if (entry.dags.some((d) => d.dagId === dagId)) return file;
    return undefined;
  }

  private async register(dags: DAG[]): Promise<void> {
    for (const d of dags) {
      await this.options.store.upsertDag({
        dagId: d.dagId,
        fileloc: path.resolve(d.fileloc ?? ""),
        schedule: d.schedule,
        isPaused: d.isPausedUponCreation ?? this.options.pausedAtCreation,
        isActive: true,
        lastParsedMs: this.options.nowMs(),
      });
    }
  }
}
