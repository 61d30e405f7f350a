import type { BaseOperator, XComArg } from "./base-operator.js";
import { RuntimeError } from "./errors.js";
import { pullXCom } from "./runtime-task-instance.js";
import type { Store, TiKey } from "./store/store.js";

/**
 * The lists a mapped task expands over, one per mapped argument: literal
 * lists as given, XCom arguments read from the store (their upstream tasks
 * have finished by the time the task expands).
 */
export async function mappedLists(
  store: Store,
  task: BaseOperator,
  key: Omit<TiKey, "mapIndex">,
): Promise<unknown[][]> {
  const out: unknown[][] = [];
  for (const [name, source] of Object.entries(task.mappedArgs ?? {})) {
    if (Array.isArray(source)) {
      out.push(source);
      continue;
    }
    const arg = source as XComArg;
    const value = await pullXCom(store, { ...key, mapIndex: -1 }, { taskIds: arg.taskId, key: arg.key });
    if (!Array.isArray(value)) {
      throw new RuntimeError(
        "invalid_argument",
        `task "${task.taskId}" expands "${name}" over XCom "${arg.key}" of "${arg.taskId}", which is not a list (got ${JSON.stringify(value)})`,
      );
    }
    out.push(value);
  }
  return out;
}

/**
 * The operator of the task instance `mapIndex`: `task` itself when it is not
 * mapped, else one built through its constructor with that instance's
 * mapped values ({@link BaseOperator.forMappedValues}). Wrapped in an
 * object: an operator has a `then` (task chaining), so a promise of one
 * would be taken for a promise of a promise.
 */
export async function operatorForMapIndex(
  store: Store,
  task: BaseOperator,
  key: Omit<TiKey, "mapIndex">,
  mapIndex: number,
): Promise<{ task: BaseOperator }> {
  if (!task.mappedArgs || mapIndex < 0) return { task };
  const names = Object.keys(task.mappedArgs);
  const lists = await mappedLists(store, task, key);
  // Cartesian product in itertools.product order: the last argument varies fastest.
  let rest = mapIndex;
  const values: Record<string, unknown> = {};
  for (let i = names.length - 1; i >= 0; i--) {
    const list = lists[i]!;
    values[names[i]!] = list[rest % list.length];
    rest = Math.floor(rest / list.length);
  }
  return { task: task.forMappedValues(values) };
}
