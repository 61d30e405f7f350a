/**
 * Identifiers the dev server hands out. Job ids are lowercase ULIDs (as a real
 * Armada issues them, and valid in Kubernetes pod names); run ids are UUIDs.
 */
import { randomBytes, randomUUID } from "node:crypto";

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";

/**
 * Makes monotonic lowercase ULIDs: ids made within the same millisecond
 * increase, so sorting ids sorts jobs by submission.
 */
export class JobIdFactory {
  private lastMs = -1;
  private random: number[] = [];

  /** A new id for a job submitted at `nowMs`. */
  next(nowMs: number): string {
    if (nowMs > this.lastMs) {
      this.lastMs = nowMs;
      // 16 base-32 digits of randomness, with headroom so increments never overflow in practice.
      const bytes = randomBytes(16);
      this.random = Array.from(bytes, (b, i) => (i === 0 ? b & 0x0f : b & 0x1f));
    } else {
      this.increment();
    }
    let time = "";
    let t = this.lastMs;
    for (let i = 0; i < 10; i++) {
      time = ALPHABET[t % 32] + time;
      t = Math.floor(t / 32);
    }
    let rand = "";
    for (const d of this.random) rand += ALPHABET[d];
    return time + rand;
  }

  private increment(): void {
    for (let i = this.random.length - 1; i >= 0; i--) {
      if (this.random[i] < 31) {
        this.random[i]++;
        return;
      }
      this.random[i] = 0;
    }
  }
}

/** A new run id. */
export function newRunId(): string {
  return randomUUID();
}
