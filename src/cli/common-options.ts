/**
 * What the CLI's commands share: the `--db` option and the store it opens,
 * and the parsers of option values that several commands take. One place, so
 * every command words an error alike.
 */
import { Option } from "@commander-js/extra-typings";
import { RuntimeError } from "../runtime/errors.js";
import type { RuntimeConfig } from "../runtime/runtime-config.js";
import type { KyselyStore } from "../runtime/store/kysely-store.js";
import { openStore } from "../runtime/store/open-store.js";

/** Where a command runs: its folder and environment, and the config resolved from them. */
export interface StoreCliContext {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Resolved from `env` once per CLI call (see main.ts). */
  readonly config: RuntimeConfig;
}

/** `--db <url>`: a new option each call, as commander keeps an option per command. */
export const dbOption = () =>
  new Option(
    "--db <url>",
    "store URL (postgres://... or sqlite:<file>); default config database.url or SQLite in ARMADA_AIRFLOW_HOME",
  );

/** Runs `fn` with the store `db` names (default: config, then SQLite in ARMADA_AIRFLOW_HOME), closing it after. */
export async function withStore<T>(
  ctx: StoreCliContext,
  db: string | undefined,
  fn: (store: KyselyStore) => Promise<T>,
): Promise<T> {
  const store = await openStore({ url: db, config: ctx.config, env: ctx.env, cwd: ctx.cwd });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** A number of seconds >= 0 from option `what`; `fallback` when it is not given. */
export function parseSeconds(raw: string | undefined, fallback: number, what: string): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0)
    throw new RuntimeError(
      "invalid_argument",
      `${what} must be a number of seconds >= 0, got ${JSON.stringify(raw)}`,
    );
  return n;
}

/** `--conf`: a run's conf, a JSON object (none: `{}`). */
export function parseConf(raw: string | undefined): Record<string, unknown> {
  if (raw === undefined) return {};
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (err) {
    throw new RuntimeError(
      "invalid_argument",
      `--conf must be a JSON object, e.g. '{"key": "value"}' (${(err as Error).message})`,
    );
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new RuntimeError(
      "invalid_argument",
      `--conf must be a JSON object, e.g. '{"key": "value"}', got ${raw}`,
    );
  }
  return v as Record<string, unknown>;
}

/** `--map-index`: a mapped task's index, or -1 for an unmapped task. */
export function parseMapIndex(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < -1)
    throw new RuntimeError("invalid_argument", `--map-index must be an integer >= -1, got ${raw}`);
  return n;
}
