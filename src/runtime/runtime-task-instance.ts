import type { BaseOperator } from "./base-operator.js";
import type { TaskInstance, XComPullOptions } from "./context.js";
import { RuntimeError } from "./errors.js";
import { deserializeValue, serializeValue } from "./serde.js";
import type { TaskInstanceState } from "./state.js";
import type { Store } from "./store/store.js";
import type { TaskLogger } from "./task-logger.js";

/** The runner's {@link TaskInstance}: XCom and state go through the store. */
export class RuntimeTaskInstance implements TaskInstance {
  readonly dagId: string;
  readonly runId: string;
  readonly taskId: string;
  readonly mapIndex: number;
  readonly tryNumber: number;
  readonly maxTries: number;
  readonly task: BaseOperator;
  readonly log: TaskLogger;
  private readonly store: Store;
  private readonly nowMs: () => number;

  constructor(o: {
    dagId: string;
    runId: string;
    taskId: string;
    mapIndex: number;
    tryNumber: number;
    maxTries: number;
    task: BaseOperator;
    log: TaskLogger;
    store: Store;
    nowMs: () => number;
  }) {
    this.dagId = o.dagId;
    this.runId = o.runId;
    this.taskId = o.taskId;
    this.mapIndex = o.mapIndex;
    this.tryNumber = o.tryNumber;
    this.maxTries = o.maxTries;
    this.task = o.task;
    this.log = o.log;
    this.store = o.store;
    this.nowMs = o.nowMs;
  }

  async xcomPush(key: string, value: unknown): Promise<void> {
    await pushXCom(this.store, this, this.tryNumber, key, value, this.nowMs(), "xcomPush");
  }

  async xcomPull(options: XComPullOptions = {}): Promise<unknown> {
    return pullXCom(
      this.store,
      { dagId: this.dagId, runId: this.runId, taskId: this.taskId, mapIndex: this.mapIndex },
      options,
      // Its own XComs are this try's (the running try is the task instance's current one).
      this.tryNumber,
    );
  }

  async currentState(): Promise<TaskInstanceState> {
    const row = await this.store.getTaskInstance(this);
    return row?.state ?? "none";
  }
}

/**
 * Writes one XCom of `self` at `tryNumber`: the common writer of a running
 * try and of a trigger (which writes at its own try). `caller` names the
 * method in the error for an empty key.
 */
export async function pushXCom(
  store: Store,
  self: { dagId: string; runId: string; taskId: string; mapIndex: number },
  tryNumber: number,
  key: string,
  value: unknown,
  createdMs: number,
  caller: string,
): Promise<void> {
  if (typeof key !== "string" || key === "") {
    throw new RuntimeError("invalid_argument", `${caller}: key must be a non-empty string`);
  }
  await store.setXCom({
    dagId: self.dagId,
    runId: self.runId,
    taskId: self.taskId,
    mapIndex: self.mapIndex,
    tryNumber,
    key,
    value: serializeValue(value, `XCom "${key}" of task "${self.taskId}"`),
    createdMs,
  });
}

/**
 * XCom pull with Airflow 3's defaults, reading each task instance's current
 * try only (a new try starts with no XComs, as Airflow clears them).
 * `selfTryNumber` pins the try read for `self` (a trigger reads its own
 * try's XComs even when the task instance has moved on).
 */
export async function pullXCom(
  store: Store,
  self: { dagId: string; runId: string; taskId: string; mapIndex: number },
  options: XComPullOptions,
  selfTryNumber?: number,
): Promise<unknown> {
  const key = options.key ?? "return_value";
  const taskIds =
    options.taskIds === undefined
      ? [self.taskId]
      : typeof options.taskIds === "string"
        ? [options.taskIds]
        : options.taskIds;
  const singleTask = options.taskIds === undefined || typeof options.taskIds === "string";
  let mapIndexes = options.mapIndexes;
  if (options.taskIds === undefined && mapIndexes === undefined) mapIndexes = self.mapIndex;
  const mapList =
    mapIndexes === undefined ? undefined : Array.isArray(mapIndexes) ? mapIndexes : [mapIndexes];
  const rows = await store.listXComs({
    dagId: self.dagId,
    runId: self.runId,
    taskIds,
    key,
    mapIndexes: mapList,
  });
  // Only the task instances pulled from are read (never the whole run): a pull costs O(what it returns).
  // A pull of its own XCom with its try known reads no task instance at all.
  const onlySelf =
    selfTryNumber !== undefined &&
    taskIds.length === 1 &&
    taskIds[0] === self.taskId &&
    mapList?.length === 1 &&
    mapList[0] === self.mapIndex;
  const tis = onlySelf
    ? [{ taskId: self.taskId, mapIndex: self.mapIndex, tryNumber: selfTryNumber }]
    : await tryNumbersOf(store, self, taskIds, mapList);
  const currentTry = new Map(tis.map((t) => [`${t.taskId}\u0000${t.mapIndex}`, t.tryNumber]));
  if (selfTryNumber !== undefined) currentTry.set(`${self.taskId}\u0000${self.mapIndex}`, selfTryNumber);
  const current = new Map(
    rows
      .filter((r) => currentTry.get(`${r.taskId}\u0000${r.mapIndex}`) === r.tryNumber)
      .map((r) => [`${r.taskId}\u0000${r.mapIndex}`, r]),
  );
  const valueOf = (taskId: string, mapIndex: number) => {
    const r = current.get(`${taskId}\u0000${mapIndex}`);
    return r ? deserializeValue(r.value) : undefined;
  };
  if (singleTask && typeof mapIndexes === "number") return valueOf(taskIds[0]!, mapIndexes);
  if (singleTask && mapIndexes === undefined) {
    const indexes = tis.filter((t) => t.taskId === taskIds[0]).map((t) => t.mapIndex);
    const mapped = indexes.some((i) => i >= 0);
    if (!mapped) return valueOf(taskIds[0]!, -1);
    return indexes
      .filter((i) => i >= 0)
      .sort((a, b) => a - b)
      .map((i) => valueOf(taskIds[0]!, i));
  }
  const out: unknown[] = [];
  for (const id of taskIds) {
    const indexes =
      mapList ??
      tis
        .filter((t) => t.taskId === id)
        .map((t) => t.mapIndex)
        .sort((a, b) => a - b);
    for (const i of indexes) {
      const v = valueOf(id, i);
      if (v !== undefined || mapList) out.push(v);
    }
  }
  return out;
}

/** Keyed reads up to this many task instances; beyond it one range read of the tasks pulled from. */
const KEYED_READ_LIMIT = 32;

async function tryNumbersOf(
  store: Store,
  self: { dagId: string; runId: string },
  taskIds: string[],
  mapList: number[] | undefined,
): Promise<{ taskId: string; mapIndex: number; tryNumber: number }[]> {
  if (mapList && taskIds.length * mapList.length <= KEYED_READ_LIMIT) {
    const out: { taskId: string; mapIndex: number; tryNumber: number }[] = [];
    for (const taskId of taskIds) {
      for (const mapIndex of mapList) {
        const ti = await store.getTaskInstance({ dagId: self.dagId, runId: self.runId, taskId, mapIndex });
        if (ti) out.push({ taskId, mapIndex, tryNumber: ti.tryNumber });
      }
    }
    return out;
  }
  return store.listTryNumbers(self.dagId, self.runId, taskIds);
}
