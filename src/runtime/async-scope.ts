/**
 * Values scoped to an asynchronous call tree (the task context, the
 * runner's resources, the CLI's config), all kept in one AsyncLocalStorage.
 *
 * Why one: in Node 20 every AsyncLocalStorage in use is carried on every
 * promise the process makes, as one more property on each. Three storages
 * made each of the many promises a runner keeps alive (several per waiting
 * trigger) larger and slower to create; one storage holding a small frame
 * of every scoped value costs one property, whatever the number of values.
 */
import { AsyncLocalStorage } from "node:async_hooks";

/** The scoped values in effect, by slot; a frame is never changed once entered (a new one is). */
type Frame = Readonly<Record<symbol, unknown>>;

// One storage for every copy of this module (src and dist, or a DAG file loaded through tsx): a DAG file
// importing the other copy must still see the values its runner entered.
const STORAGE_KEY = Symbol.for("armada-airflow.async-scope");
const storage: AsyncLocalStorage<Frame> = ((globalThis as Record<symbol, unknown>)[STORAGE_KEY] ??=
  new AsyncLocalStorage<Frame>()) as AsyncLocalStorage<Frame>;

/**
 * One value scoped to a call tree, as an AsyncLocalStorage of its own
 * would be: {@link run} makes it current for everything `fn` starts,
 * {@link get} reads it; the other slots' values are kept as they are.
 */
export class ScopedValue<T> {
  private readonly slot: symbol;

  /** `name` is the slot's global name: two module copies naming the same slot share it. */
  constructor(name: string) {
    this.slot = Symbol.for(`armada-airflow.async-scope.${name}`);
  }

  /** Runs `fn` with `value` as this slot's current value. */
  run<R>(value: T, fn: () => R): R {
    return storage.run({ ...storage.getStore(), [this.slot]: value }, fn);
  }

  /** This slot's current value; undefined outside a {@link run}. */
  get(): T | undefined {
    return storage.getStore()?.[this.slot] as T | undefined;
  }
}
