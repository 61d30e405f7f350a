/**
 * The start writes of one scheduling pass. A pass starts many tries (a burst
 * of resumes as many jobs end together, the first tries of a mapped task);
 * waiting for each start's commit before deciding the next made a pass take
 * one commit's wait per start, one after another, and that wait, not the
 * resumes' own work, was most of a resumed task's latency. The driver
 * instead hands each start's write in and goes on; the writes share
 * commits, and the pass ends once every one has settled.
 *
 * What only a write can tell (the pool's slots, taken in the transaction
 * that starts the try, as any number of processes share a pool) comes
 * after the pass has gone on: a start its pool refused gives its slot back,
 * and the run waits for a slot, as a refusal seen at once would have made
 * it. A pool that refused is crowded: its starts are awaited one by one
 * again (a pass stops at the first refusal, so a full pool costs one
 * refused start per pass, not one per waiting task), until a pass starts
 * in it without a refusal.
 */
export class StartWrites {
  private readonly writes: Promise<void>[] = [];
  /** Pools that refused a start of this pass. */
  readonly refusedPools = new Set<string>();
  /** Pools this pass started tries in. */
  readonly usedPools = new Set<string>();

  /** One start's write and what follows it. */
  add(write: Promise<void>): void {
    this.writes.push(write);
  }

  /** Settles once every start handed in has; rejects with the first write that failed. */
  async settled(): Promise<void> {
    if (this.writes.length > 0) await Promise.all(this.writes);
  }
}
