/**
 * A min-heap of (time, item) pairs: the runner's retry times and trigger
 * timeouts. Finding what is due costs O(log n) per due item instead of a scan
 * of every waiting task on every wake. Entries are never removed in place:
 * whoever pops one checks that it still holds (lazy deletion).
 */
export class DeadlineHeap<T> {
  private readonly times: number[] = [];
  private readonly items: T[] = [];

  get size(): number {
    return this.times.length;
  }

  /** Adds `item`, due at `atMs`. */
  push(atMs: number, item: T): void {
    this.times.push(atMs);
    this.items.push(item);
    this.up(this.times.length - 1);
  }

  /** The earliest time in the heap, if any. */
  peekTime(): number | undefined {
    return this.times[0];
  }

  /** Removes and returns every item due at or before `nowMs`, earliest first. */
  popDue(nowMs: number): T[] {
    const out: T[] = [];
    while (this.times.length > 0 && this.times[0]! <= nowMs) out.push(this.pop());
    return out;
  }

  private pop(): T {
    const top = this.items[0]!;
    const lastTime = this.times.pop()!;
    const lastItem = this.items.pop()!;
    if (this.times.length > 0) {
      this.times[0] = lastTime;
      this.items[0] = lastItem;
      this.down(0);
    }
    return top;
  }

  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.times[parent]! <= this.times[i]!) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    const n = this.times.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let min = i;
      if (l < n && this.times[l]! < this.times[min]!) min = l;
      if (r < n && this.times[r]! < this.times[min]!) min = r;
      if (min === i) return;
      this.swap(i, min);
      i = min;
    }
  }

  private swap(a: number, b: number): void {
    [this.times[a], this.times[b]] = [this.times[b]!, this.times[a]!];
    [this.items[a], this.items[b]] = [this.items[b]!, this.items[a]!];
  }
}
