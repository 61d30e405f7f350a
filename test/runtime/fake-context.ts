import { dateStrings } from "../../src/runtime/context.js";
import { systemClock } from "../../src/common/clock.js";
import { currentRuntimeConfig } from "../../src/runtime/runtime-config.js";
import { DAG, type BaseOperator, type Context } from "armada-airflow";

/** A context for rendering tests that do not need a store. */
export function fakeContext(
  task: BaseOperator,
  o: { logicalDate?: Date; params?: Record<string, unknown>; conf?: Record<string, unknown> },
): Context {
  const logicalDate = o.logicalDate ?? new Date("2024-01-01T00:00:00Z");
  const dag = task.dag ?? new DAG({ dagId: "d" });
  const ti = {
    dagId: dag.dagId,
    taskId: task.taskId,
    runId: "manual__1",
    mapIndex: -1,
    tryNumber: 1,
    maxTries: task.retries,
    task,
    log: { debug() {}, info() {}, warn() {}, error() {} },
    xcomPush: async () => {},
    xcomPull: async () => undefined,
    currentState: async () => "running" as const,
  };
  return {
    dag,
    task,
    ti,
    taskInstance: ti,
    runId: "manual__1",
    logicalDate,
    dataIntervalStart: logicalDate,
    dataIntervalEnd: logicalDate,
    ...dateStrings(logicalDate),
    params: o.params ?? {},
    conf: o.conf ?? {},
    dagRun: { dagId: dag.dagId, runId: "manual__1", logicalDate, conf: o.conf ?? {}, runType: "manual", state: "running" },
    signal: new AbortController().signal,
    clock: systemClock,
    runtimeConfig: currentRuntimeConfig(),
  };
}
