/**
 * Pools (Airflow's): named sets of slots that limit how many task instances
 * run at once, across every runner and scheduler sharing the store. A task
 * takes `poolSlots` slots of its `pool` (default {@link DEFAULT_POOL}) from
 * the start of a try to its end; a deferred task holds its slots only when
 * the pool's `includeDeferred` is set (Airflow 2.7+).
 */
import { RuntimeError } from "./errors.js";

/** The pool of tasks that name none; it always exists and cannot be deleted. */
export const DEFAULT_POOL = "default_pool";

/** The slots the default pool starts with (Airflow's `[core] default_pool_task_slot_count`). */
export const DEFAULT_POOL_SLOTS = 128;

/** Why a pool could not give a try its slots. */
export type PoolRefusal =
  | { kind: "unknown" }
  | {
      kind: "full";
      /** Slots taken by other task instances. */
      occupied: number;
      /** The pool's size. */
      total: number;
      /** What the try needs (its task's `poolSlots`). */
      needed: number;
    };

/** The command that creates or resizes a pool, for messages. */
export const poolSetCommand = (name: string, slots: number | string = "SLOTS") =>
  `armada-airflow pools set ${/^[A-Za-z0-9_.-]+$/.test(name) ? name : JSON.stringify(name)} ${slots}`;

/** Says why a task instance waits for (or cannot use) `pool`. */
export function describeRefusal(pool: string, r: PoolRefusal): string {
  if (r.kind === "unknown") return `pool "${pool}" does not exist; create it with: ${poolSetCommand(pool)}`;
  if (r.needed > r.total) {
    return `needs ${r.needed} slots of pool ${pool}, which has ${r.total} in all; raise it with: ${poolSetCommand(pool, r.needed)}`;
  }
  return `waiting for a slot in pool ${pool} (${r.occupied}/${r.total} used${r.needed > 1 ? `, needs ${r.needed}` : ""})`;
}

/**
 * Thrown by the store's guarded start (a transition with `pool`) when the
 * pool is missing or too full; nothing was written.
 */
export class PoolSlotsUnavailable extends RuntimeError {
  readonly pool: string;
  readonly refusal: PoolRefusal;
  constructor(pool: string, refusal: PoolRefusal) {
    super("pool", describeRefusal(pool, refusal));
    this.name = "PoolSlotsUnavailable";
    this.pool = pool;
    this.refusal = refusal;
  }

  /** True for this error from any module copy (it is a RuntimeError with code `pool` and a refusal). */
  static isPoolError(err: unknown): err is PoolSlotsUnavailable {
    return RuntimeError.is(err) && err.code === "pool" && "refusal" in err;
  }
}

/** Checks a pool size given by a user (`pools set`). */
export function checkPoolSlots(raw: unknown, what: string): number {
  const n = typeof raw === "string" && raw.trim() !== "" ? Number(raw) : raw;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0) {
    throw new RuntimeError("invalid_argument", `${what} must be an integer >= 0, got ${JSON.stringify(raw)}`);
  }
  return n;
}
