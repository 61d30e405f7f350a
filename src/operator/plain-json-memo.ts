/**
 * A small memo for pure conversions of plain JSON values, keyed by the
 * value's JSON text. The mapped tasks of one operator all hand the same job
 * request through the same parse, check and re-encode; at 1,000 tasks that
 * was about a tenth of the runner's CPU while submitting, for the same
 * answer each time.
 */

/**
 * The JSON text of `value` when it is plain JSON that the text stands for
 * exactly (plain objects and arrays, strings, booleans, null, finite
 * numbers other than -0); otherwise undefined, and the caller does not
 * memoize. `undefined` members, sparse arrays, class instances (a Date, a
 * Uint8Array, a Map) and the like would read the same as something else.
 */
export function plainJsonKey(value: unknown): string | undefined {
  return isPlainJson(value, 0) ? JSON.stringify(value) : undefined;
}

/** Deeper than any job request; a deeper value is simply not memoized. */
const MAX_DEPTH = 64;

function isPlainJson(value: unknown, depth: number): boolean {
  if (value === null || typeof value === "string" || typeof value === "boolean") return true;
  if (typeof value === "number") return Number.isFinite(value) && !Object.is(value, -0);
  if (typeof value !== "object" || depth > MAX_DEPTH) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (!(i in value) || !isPlainJson(value[i], depth + 1)) return false;
    }
    return true;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return false;
  if (Object.getOwnPropertySymbols(value).length > 0) return false;
  for (const key of Object.keys(value)) {
    if (!isPlainJson((value as Record<string, unknown>)[key], depth + 1)) return false;
  }
  return true;
}

/**
 * Remembers the last `capacity` results of a pure conversion by key. Each
 * answer is a fresh deep copy (callers change what they are given: the
 * operator annotates the parsed item per task), and a conversion that
 * throws is not remembered, so a bad value fails with its own error every
 * time.
 */
export class PlainJsonMemo<V> {
  private readonly entries = new Map<string, V>();

  constructor(private readonly capacity = 64) {}

  /** The result for `key` (undefined: do not memoize), computing it with `compute` when not held. */
  get(key: string | undefined, compute: () => V): V {
    if (key === undefined) return compute();
    let value = this.entries.get(key);
    if (value === undefined) {
      value = compute();
      if (this.entries.size >= this.capacity) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(key, structuredClone(value));
      return value;
    }
    return structuredClone(value);
  }
}
