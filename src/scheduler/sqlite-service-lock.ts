/**
 * One scheduler, or one triggerer, per SQLite database: SQLite has a single
 * writer and no row locks to share work by, so a second such service on the
 * same file is refused with the way out (PostgreSQL). On PostgreSQL any
 * number may run, and this takes nothing.
 */
import type { Clock } from "../common/clock.js";
import type { Runner } from "../runtime/runner.js";
import { RuntimeError } from "../runtime/errors.js";
import type { Store } from "../runtime/store/store.js";

/**
 * Takes the lock named `service` for `runner` on a SQLite store; true when taken, false on PostgreSQL (no lock
 * needed). Another live holder: the runner is stopped and a `conflict` error says what to do.
 */
export async function takeSqliteServiceLock(
  store: Store,
  runner: Runner,
  clock: Clock,
  service: "scheduler" | "triggerer",
): Promise<boolean> {
  if (store.dialect !== "sqlite") return false;
  const holder = await store.acquireLock(service, runner.id, (id) => runner.isRunnerAlive(id), clock.nowMs());
  if (holder === runner.id) return true;
  await runner.stop();
  throw new RuntimeError(
    "conflict",
    `another ${service} (${holder}) is running on this SQLite database; SQLite supports one ${service} at a time. ` +
      `Stop it, or use PostgreSQL ([database] url = postgres://... or --db) to run several ${service}s`,
  );
}
