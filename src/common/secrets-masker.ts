/**
 * The one secrets masker of the library (as Airflow's): values registered with
 * {@link maskSecret} are replaced by {@link MASK} wherever text leaves the
 * process (task log lines, error messages, stored XCom, client errors).
 *
 * The set of secrets lives on `globalThis` under a registered Symbol, not in
 * this module: a DAG file loaded through the TypeScript loader, or the built
 * package next to the sources, gets its own copy of this module, and a secret
 * registered through one copy must be masked by every other.
 */

/** What a secret is replaced with. */
export const MASK = "***";

/** Secrets shorter than this are ignored: masking them would mangle ordinary words. */
const MIN_SECRET_LENGTH = 4;

const REGISTRY_KEY = Symbol.for("armada-airflow.secrets-masker");

interface MaskerRegistry {
  secrets: Set<string>;
  /** The secrets longest first, rebuilt after a change (a secret that contains another is masked whole). */
  ordered: string[] | undefined;
}

function registry(): MaskerRegistry {
  const holder = globalThis as { [REGISTRY_KEY]?: MaskerRegistry };
  return (holder[REGISTRY_KEY] ??= { secrets: new Set(), ordered: undefined });
}

/** Registers `value` as a secret for the whole process (ignored when shorter than 4 characters). */
export function maskSecret(value: string | undefined | null): void {
  if (typeof value !== "string" || value.length < MIN_SECRET_LENGTH) return;
  const r = registry();
  if (r.secrets.has(value)) return;
  r.secrets.add(value);
  r.ordered = undefined;
}

/** Options of {@link redactSecrets}. */
export interface RedactOptions {
  /** More secrets to mask in this text only (e.g. the header values a channel sent). */
  also?: readonly string[];
  /**
   * Also mask any `Bearer x` / `Basic x` credential, registered or not. Meant
   * for text that echoes request headers (transport errors); off by default so
   * that prose such as "Basic auth" in a task log is left alone.
   * @default false
   */
  authorizationValues?: boolean;
}

/** `text` with every registered secret (and `options.also`) replaced by {@link MASK}. */
export function redactSecrets(text: string, options: RedactOptions = {}): string {
  const r = registry();
  r.ordered ??= [...r.secrets].sort((a, b) => b.length - a.length);
  const extra = (options.also ?? []).filter((s) => s.length >= MIN_SECRET_LENGTH);
  const all = extra.length ? [...extra, ...r.ordered].sort((a, b) => b.length - a.length) : r.ordered;
  let out = text;
  for (const s of all) if (out.includes(s)) out = out.split(s).join(MASK);
  if (options.authorizationValues) {
    out = out.replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{4,}/g, `$1 ${MASK}`);
  }
  return out;
}

/** Forgets every registered secret (tests). */
export function clearMaskedSecrets(): void {
  const r = registry();
  r.secrets.clear();
  r.ordered = undefined;
}
