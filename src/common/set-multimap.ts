/**
 * A map from keys to sets of values that holds a key's lone value without a
 * Set of its own. Most keys here have one value (a deferred task's one
 * trigger, a job's one waiting trigger), and a Set per key, with its hash
 * table, was some 170 bytes of each of 100,000 waiting tasks.
 *
 * Values must not be Sets themselves (a Set is how a key with several is kept).
 */
export class SetMultimap<K, V> {
  private readonly entries = new Map<K, V | Set<V>>();

  /** Adds `value` under `key` (once: values are a set). */
  add(key: K, value: V): void {
    const kept = this.entries.get(key);
    if (kept === undefined) this.entries.set(key, value);
    else if (kept instanceof Set) kept.add(value);
    else if (kept !== value) this.entries.set(key, new Set([kept, value]));
  }

  /** Removes `value` from `key`'s values; true when it was there. */
  delete(key: K, value: V): boolean {
    const kept = this.entries.get(key);
    if (kept === undefined) return false;
    if (!(kept instanceof Set)) {
      if (kept !== value) return false;
      this.entries.delete(key);
      return true;
    }
    if (!kept.delete(value)) return false;
    if (kept.size === 1) this.entries.set(key, kept.values().next().value as V);
    return true;
  }

  /** Whether `key` has any value. */
  has(key: K): boolean {
    return this.entries.has(key);
  }

  /** `key`'s values (a copy: safe to change the map while going through them). */
  get(key: K): V[] {
    const kept = this.entries.get(key);
    if (kept === undefined) return [];
    return kept instanceof Set ? [...kept] : [kept];
  }

  /** Every value of every key. */
  *values(): IterableIterator<V> {
    for (const kept of this.entries.values()) {
      if (kept instanceof Set) yield* kept;
      else yield kept;
    }
  }

  /** Number of keys with a value. */
  get size(): number {
    return this.entries.size;
  }
}
