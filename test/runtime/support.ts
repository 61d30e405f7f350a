import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { BaseOperator, type BaseOperatorOptions, type Context } from "armada-airflow";
import { KyselyStore, type TaskTransition } from "armada-airflow/store";
import { Runner, type RunnerEvent } from "armada-airflow/runner";
import type { Clock } from "../../src/common/clock.js";
import type { DagRunRow, TaskInstanceRow } from "../../src/runtime/store/store.js";

/** A SQLite store in a fresh temp dir. */
export async function tempSqliteStore(): Promise<{ store: KyselyStore; dir: string; dispose(): Promise<void> }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "aa-runtime-"));
  const store = await KyselyStore.open({ home: dir });
  return {
    store,
    dir,
    async dispose() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A runner with a short heartbeat that records its events. */
export function testRunner(store: KyselyStore, clock?: Clock): { runner: Runner; events: RunnerEvent[] } {
  const events: RunnerEvent[] = [];
  const runner = new Runner({ store, clock, heartbeatMs: 15, onEvent: (e) => events.push(e) });
  return { runner, events };
}

/** An operator whose execute is a function (tests). */
export class FnOperator extends BaseOperator {
  constructor(
    options: BaseOperatorOptions,
    private readonly fn: (context: Context, self: FnOperator) => Promise<unknown> | unknown,
    private readonly kill?: () => void,
  ) {
    super(options);
  }
  async execute(context: Context): Promise<unknown> {
    return this.fn(context, this);
  }
  override onKill(): void {
    this.kill?.();
  }
}

/** A stored DAG run row for store-level tests (run d/r, running, unowned), with overrides. */
export const dagRunRow = (o: Partial<DagRunRow> = {}): DagRunRow => ({
  dagId: "d",
  runId: "r",
  logicalDateMs: 0,
  conf: "{}",
  dagFile: "",
  state: "running",
  runType: "manual",
  runnerId: null,
  createdMs: 0,
  endMs: null,
  ...o,
});

/** A task instance row in NONE, not yet tried, for store-level tests, with overrides. */
export const taskInstanceRow = (o: Partial<TaskInstanceRow> & { taskId: string }): TaskInstanceRow => ({
  dagId: "d",
  runId: "r",
  mapIndex: -1,
  state: "none",
  tryNumber: 0,
  maxTries: 0,
  nextMethod: null,
  nextKwargs: null,
  nextRetryMs: null,
  startMs: null,
  endMs: null,
  runnerId: null,
  killRequested: false,
  updatedMs: 0,
  ...o,
});

/**
 * The store, counting what scheduling costs: task-instance rows read, start
 * transitions (those that take pool slots) made, refused and out at once,
 * and tries running at once.
 */
export function countingStore(target: KyselyStore) {
  const c = { rows: 0, starts: 0, refused: 0, inFlight: 0, maxInFlight: 0, running: 0, maxRunning: 0 };
  const counted = new Proxy(target, {
    get(t, prop) {
      const value: unknown = Reflect.get(t, prop, t);
      if (typeof value !== "function") return value;
      const fn = (value as (...a: unknown[]) => unknown).bind(t);
      if (prop === "transition") {
        return async (tr: TaskTransition) => {
          if (!tr.pool) {
            const ok = (await fn(tr)) as boolean;
            if (ok && tr.expected.states.includes("running")) c.running--;
            return ok;
          }
          c.starts++;
          c.maxInFlight = Math.max(c.maxInFlight, ++c.inFlight);
          try {
            const ok = (await fn(tr)) as boolean;
            if (ok) c.maxRunning = Math.max(c.maxRunning, ++c.running);
            return ok;
          } catch (err) {
            c.refused++;
            throw err;
          } finally {
            c.inFlight--;
          }
        };
      }
      if (typeof prop !== "string" || !/^listTaskInstances/.test(prop)) return fn;
      return async (...a: unknown[]) => {
        const out = (await fn(...a)) as unknown[];
        c.rows += out.length;
        return out;
      };
    },
  });
  return { store: counted, c };
}
