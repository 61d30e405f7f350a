import { stat, readdir } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { collectDags, DAG } from "./dag.js";
import { currentRuntimeConfig } from "./runtime-config.js";
import { RuntimeError } from "./errors.js";

/** Imports a module by absolute path. */
export type ModuleImporter = (file: string) => Promise<Record<string, unknown>>;

let tsxRegistered: Promise<void> | undefined;

/**
 * Makes this process able to import TypeScript (tsx's loader, registered
 * once for the whole process). Not tsx's `tsImport`: that loads the file's
 * whole module graph again in a namespace of its own, so a DAG file's
 * `armada-airflow` would be a second copy of the runtime (twice the start-up
 * time and memory, and classes that are not the runner's own).
 */
function importTypeScript(url: string): Promise<Record<string, unknown>> {
  tsxRegistered ??= import("tsx/esm/api").then(({ register }) => {
    register();
  });
  return tsxRegistered.then(() => import(url) as Promise<Record<string, unknown>>);
}

/** True when `file` needs a TypeScript loader this process may not have yet. */
const needsTsx = (file: string) => !import.meta.url.endsWith(".ts") && /\.[cm]?tsx?$/.test(file);

/**
 * The default importer. Running from source (vitest, `node --import tsx`) the
 * loader is already able to import TypeScript, and `armada-airflow` resolves to
 * src; running from dist, tsx's loader is registered first, and
 * `armada-airflow` resolves to the built package, the modules this process runs.
 */
export const defaultImporter: ModuleImporter = async (file) => {
  const url = pathToFileURL(file).href;
  if (needsTsx(file)) return importTypeScript(url);
  return (await import(url)) as Record<string, unknown>;
};

/**
 * An importer that evaluates a file anew each time it is given a new
 * `version` (a query on the module URL misses the module cache), so a
 * process that runs for long (the scheduler) sees a DAG file's changes.
 * Modules the file imports keep their first version.
 */
export function versionedImporter(version: string): ModuleImporter {
  return async (file) => {
    const url = `${pathToFileURL(file).href}?version=${encodeURIComponent(version)}`;
    if (needsTsx(file)) return importTypeScript(url);
    return (await import(url)) as Record<string, unknown>;
  };
}

const cache = new Map<string, DAG[]>();

/** The DAGs a file defines (exported or just constructed), each with `fileloc` set. */
/**
 * A DAG file whose top-level code never settles (an await on something that
 * never comes) is stopped after `[core] dagbag_import_timeout` seconds
 * (Airflow's name; default 30) with an error naming the file, instead of the
 * process exiting silently when nothing else is left to run.
 */
async function withLoadTimeout<T>(startLoad: () => Promise<T>, file: string): Promise<T> {
  // Read before the import starts: a bad setting must not leave an import running unwatched.
  const seconds = currentRuntimeConfig().core.dagbag_import_timeout;
  const load = startLoad();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new RuntimeError(
            "dag",
            `loading did not finish within ${seconds}s ([core] dagbag_import_timeout): does a top-level await in ${file} never settle?`,
          ),
        ),
      seconds * 1000,
    );
  });
  try {
    return await Promise.race([load, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function loadDagFile(file: string, importer: ModuleImporter = defaultImporter): Promise<DAG[]> {
  const abs = path.resolve(file);
  const cached = cache.get(abs);
  if (cached) return cached;
  const dags = await readDagFile(abs, importer);
  cache.set(abs, dags);
  return dags;
}

/** As {@link loadDagFile}, without its cache: the file is imported with `importer` every time. */
export async function readDagFile(file: string, importer: ModuleImporter): Promise<DAG[]> {
  const abs = path.resolve(file);
  try {
    await stat(abs);
  } catch {
    throw new RuntimeError("not_found", `DAG file ${abs} does not exist`);
  }
  let mod: Record<string, unknown>;
  let created: DAG[];
  try {
    const r = await collectDags(() => withLoadTimeout(() => importer(abs), abs));
    mod = r.result as Record<string, unknown>;
    created = r.created;
  } catch (err) {
    throw new RuntimeError(
      "dag",
      `cannot load DAG file ${abs}: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  const dags: DAG[] = [];
  for (const d of [...created, ...Object.values(mod ?? {}).filter((v) => DAG.isDag(v))] as DAG[]) {
    if (!dags.includes(d)) dags.push(d);
  }
  const ids = new Set<string>();
  for (const d of dags) {
    if (ids.has(d.dagId)) {
      throw new RuntimeError(
        "dag",
        `cannot load DAG file ${abs}: it defines two DAGs with dagId "${d.dagId}"; give each DAG its own dagId`,
      );
    }
    ids.add(d.dagId);
  }
  for (const d of dags) {
    d.fileloc = abs;
    try {
      d.validate();
    } catch (err) {
      // Said as an import error is, naming the file the fix goes in.
      throw new RuntimeError(
        "dag",
        `cannot load DAG file ${abs}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
  }
  return dags;
}

/** DAG files under `target` (a file, or a directory searched recursively for .ts/.js/.mjs files). */
export async function findDagFiles(target: string): Promise<string[]> {
  const abs = path.resolve(target);
  const s = await stat(abs).catch(() => undefined);
  if (!s) throw new RuntimeError("not_found", `${abs} does not exist`);
  if (s.isFile()) return [abs];
  const out: string[] = [];
  for (const entry of await readdir(abs, { withFileTypes: true, recursive: true })) {
    if (
      !entry.isFile() ||
      !/\.(ts|mts|js|mjs)$/.test(entry.name) ||
      entry.name.endsWith(".d.ts") ||
      /\.test\./.test(entry.name)
    )
      continue;
    out.push(path.join(entry.parentPath, entry.name));
  }
  return out.sort();
}

/** One DAG from a file: `dagId` when given, else the only DAG in the file. */
export async function loadDag(file: string, dagId?: string, importer?: ModuleImporter): Promise<DAG> {
  const dags = await loadDagFile(file, importer);
  if (dagId) {
    const d = dags.find((x) => x.dagId === dagId);
    if (!d)
      throw new RuntimeError(
        "not_found",
        `DAG "${dagId}" not found in ${file}; it defines: ${dags.map((x) => x.dagId).join(", ") || "no DAGs"}`,
      );
    return d;
  }
  if (dags.length === 0) {
    throw new RuntimeError(
      "dag",
      `${file} defines no DAG: construct one with new DAG({ dagId: "my_dag" }) at the top level of the file`,
    );
  }
  if (dags.length !== 1) {
    throw new RuntimeError(
      "invalid_argument",
      `${file} defines ${dags.length} DAGs (${dags.map((x) => x.dagId).join(", ")}); name the one to use`,
    );
  }
  return dags[0]!;
}
