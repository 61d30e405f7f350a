import { readFileSync } from "node:fs";
import path from "node:path";
import { RuntimeError } from "./errors.js";

/**
 * Airflow-style configuration.
 *
 * A value for `(section, key)` is looked up, first match wins, in:
 * 1. env `ARMADA_AIRFLOW__<SECTION>__<KEY>` (upper case),
 * 2. env `AIRFLOW__<SECTION>__<KEY>` (as Airflow reads it),
 * 3. the config file: `ARMADA_AIRFLOW_CONFIG`, else `<home>/armada-airflow.cfg`
 *    where home is {@link armadaAirflowHome}; INI format (`[section]`, `key = value`,
 *    `#`/`;` comments), as `airflow.cfg`.
 */
export interface ConfigSource {
  /** Environment to read; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Directory relative paths and the default home are resolved against; default `process.cwd()`. */
  cwd?: string;
}

/** The runtime's home directory: `ARMADA_AIRFLOW_HOME`, else `.armada-airflow/` in `cwd`. */
export function armadaAirflowHome(source: ConfigSource = {}): string {
  const env = source.env ?? process.env;
  const cwd = source.cwd ?? process.cwd();
  return path.resolve(cwd, env.ARMADA_AIRFLOW_HOME || ".armada-airflow");
}

const fileCache = new Map<string, Map<string, string>>();
/** The file each parsed map came from (named in errors about its values). */
const fileOf = new WeakMap<Map<string, string>, string>();

function parseIni(text: string, file: string): Map<string, string> {
  const values = new Map<string, string>();
  let section: string | undefined;
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) return;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      section = header[1]!.trim().toLowerCase();
      return;
    }
    const eq = line.search(/[=:]/);
    if (eq < 0 || section === undefined) {
      throw new RuntimeError(
        "config",
        `${file}:${i + 1}: expected "[section]" or "key = value" inside a section, got "${line}"`,
      );
    }
    values.set(`${section}.${line.slice(0, eq).trim().toLowerCase()}`, line.slice(eq + 1).trim());
  });
  return values;
}

/** Config files found missing, until when that answer holds. */
const missingUntil = new Map<string, number>();
const MISSING_FILE_RECHECK_MS = 2000;

function fileValues(source: ConfigSource): Map<string, string> {
  const env = source.env ?? process.env;
  const explicit = env.ARMADA_AIRFLOW_CONFIG;
  const file = explicit
    ? path.resolve(source.cwd ?? process.cwd(), explicit)
    : path.join(armadaAirflowHome(source), "armada-airflow.cfg");
  const cached = fileCache.get(file);
  if (cached) return cached;
  if ((missingUntil.get(file) ?? 0) > Date.now()) return new Map();
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if (explicit) {
      throw new RuntimeError("config", `ARMADA_AIRFLOW_CONFIG points to ${file}, which cannot be read`, {
        cause: err,
      });
    }
    // No file is the normal case. Remember that only briefly, so a file created later is seen, but a
    // busy runner asking for settings thousands of times a second does not fail a read each time.
    missingUntil.set(file, Date.now() + MISSING_FILE_RECHECK_MS);
    return new Map();
  }
  const values = parseIni(text, file);
  fileCache.set(file, values);
  fileOf.set(values, file);
  return values;
}

/** Forgets parsed config files (tests that rewrite a config file call this). */
export function clearConfigCache(): void {
  fileCache.clear();
  missingUntil.clear();
}

/** A configured value and where it was set (an env var's name, or the config file's path). */
export interface ConfigValue {
  raw: string;
  /** `env ARMADA_AIRFLOW__CORE__PARALLELISM`, `env AIRFLOW__...` or `<file> [section] key`. */
  origin: string;
}

/** The env var that sets `section.key` first: `ARMADA_AIRFLOW__<SECTION>__<KEY>`. */
export function configEnvVar(section: string, key: string): string {
  return `ARMADA_AIRFLOW__${section}__${key}`.toUpperCase();
}

/** `section.key` as configured, with where it came from; `undefined` when not configured. @internal */
export function lookupConfig(
  section: string,
  key: string,
  source: ConfigSource = {},
): ConfigValue | undefined {
  const env = source.env ?? process.env;
  const envKey = `${section}__${key}`.toUpperCase();
  for (const name of [`ARMADA_AIRFLOW__${envKey}`, `AIRFLOW__${envKey}`]) {
    const raw = env[name];
    if (raw !== undefined) return { raw, origin: `env ${name}` };
  }
  const values = fileValues(source);
  const raw = values.get(`${section.toLowerCase()}.${key.toLowerCase()}`);
  return raw === undefined ? undefined : { raw, origin: `${fileOf.get(values)} [${section}] ${key}` };
}

/** The raw string for `section.key`, or `undefined` when not configured. */
export function getConfig(section: string, key: string, source: ConfigSource = {}): string | undefined {
  return lookupConfig(section, key, source)?.raw;
}

/** `section.key` as a boolean (`true/false/1/0/yes/no/on/off`), else `fallback`. */
export function getConfigBoolean(section: string, key: string, fallback: boolean, source?: ConfigSource): boolean {
  const raw = getConfig(section, key, source);
  if (raw === undefined || raw === "") return fallback;
  const v = raw.trim().toLowerCase();
  if (["true", "1", "yes", "on", "t"].includes(v)) return true;
  if (["false", "0", "no", "off", "f"].includes(v)) return false;
  throw new RuntimeError("config", `config ${section}.${key} must be true or false, got "${raw}"`);
}

/** `section.key` as a finite number, else `fallback`. */
export function getConfigNumber(section: string, key: string, fallback: number, source?: ConfigSource): number {
  const raw = getConfig(section, key, source);
  if (raw === undefined || raw.trim() === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n)) {
    throw new RuntimeError("config", `config ${section}.${key} must be a number, got "${raw}"`);
  }
  return n;
}
