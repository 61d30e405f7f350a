/**
 * What a runner holds on behalf of the tasks and triggers it runs (the
 * operator keeps its Armada connection pool here): made on first use by
 * whoever needs it, under that user's own key, and closed when the runner
 * stops. The runtime knows nothing of what is held, so the layers above it
 * (the operator) register theirs without the runtime importing them.
 *
 * Code running for a runner finds its resources through
 * {@link currentRunnerResources}: the runner enters their scope around what
 * it runs (its DAG runs, their triggers, a shutdown), as it does for its
 * config.
 */
import { ScopedValue } from "./async-scope.js";

/** Something a runner holds: closed once, when the runner stops. */
export interface RunnerResource {
  close(): void | Promise<void>;
}

/** The resources of one runner, by key; see the module comment. */
export class RunnerResources {
  private readonly held = new Map<symbol, RunnerResource>();

  /**
   * The resource under `key`, made by `create` on first use. After
   * {@link close} the next use makes a new one (a runner may start again).
   * Use a `Symbol.for` key, so two copies of a module (src and dist, or a
   * DAG file loaded through tsx) share one resource.
   */
  get<T extends RunnerResource>(key: symbol, create: () => T): T {
    let resource = this.held.get(key);
    if (!resource) {
      resource = create();
      this.held.set(key, resource);
    }
    return resource as T;
  }

  /** Resources held now. */
  get size(): number {
    return this.held.size;
  }

  /**
   * Closes every resource held and forgets them. One that fails to close
   * does not keep the others open: all are closed, then the failures are
   * thrown together (an AggregateError).
   */
  async close(): Promise<void> {
    const all = [...this.held.values()];
    this.held.clear();
    const results = await Promise.allSettled(all.map(async (r) => r.close()));
    const failures = results.flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
    if (failures.length > 0) throw new AggregateError(failures, "runner resources failed to close");
  }
}

// Shared by every copy of this module, as the task context is: a DAG file importing the other copy must
// still find its runner's resources.
const scopes = new ScopedValue<RunnerResources>("runner-resources");

/** Runs `fn` with `resources` as the current runner's (see {@link currentRunnerResources}). */
export function withRunnerResources<T>(resources: RunnerResources, fn: () => T): T {
  return scopes.run(resources, fn);
}

/** The resources of the runner running the calling code; undefined outside a runner. */
export function currentRunnerResources(): RunnerResources | undefined {
  return scopes.get();
}
