/**
 * One copy of each name a store row repeats (DAG id, run id, task id,
 * state, pool, trigger class path): every row read from SQLite or
 * PostgreSQL brings its own copies, and a runner keeps several rows per
 * task instance (its mirror, its trigger's, the try it runs), so 100,000
 * mapped task instances held some 400,000 copies of one run id.
 */

/** Names kept at most; when full the table starts again (a rare cost: later rows share again). */
const MAX_NAMES = 50_000;

/** Names longer than this are not kept (ids are short; a long text is not a name). */
const MAX_NAME_LENGTH = 256;

let names = new Map<string, string>();

/** The one kept copy of `s` (`s` itself the first time). */
export function interned<T extends string | null>(s: T): T {
  if (s === null || s.length > MAX_NAME_LENGTH) return s;
  const kept = names.get(s);
  if (kept !== undefined) return kept as T;
  if (names.size >= MAX_NAMES) names = new Map();
  names.set(s, s);
  return s;
}
