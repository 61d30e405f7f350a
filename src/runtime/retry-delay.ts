import { createHash } from "node:crypto";

/**
 * Seconds to wait before the next try, as Airflow's `next_retry_datetime`:
 * `retryDelay`, or with exponential backoff `retryDelay * 2^(tryNumber-1)`
 * plus a deterministic jitter from a hash of the task instance (so the same
 * try always waits the same), capped by `maxRetryDelay`.
 */
export function retryDelaySeconds(o: {
  retryDelay: number;
  retryExponentialBackoff: boolean;
  maxRetryDelay: number;
  tryNumber: number;
  key: string;
}): number {
  let delay = o.retryDelay;
  if (o.retryExponentialBackoff && o.retryDelay > 0) {
    const minBackoff = Math.ceil(o.retryDelay * 2 ** Math.max(0, o.tryNumber - 1));
    const hash = parseInt(createHash("sha1").update(`${o.key}#${o.tryNumber}`).digest("hex").slice(0, 8), 16);
    delay = minBackoff + (minBackoff > 0 ? hash % minBackoff : 0);
  }
  return Math.min(delay, o.maxRetryDelay);
}
