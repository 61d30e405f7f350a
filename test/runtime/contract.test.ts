import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  BaseOperator,
  DAG,
  DateTimeTrigger,
  RuntimeError,
  TaskFatalError,
  TaskInstanceState,
  TriggerRule,
  chain,
  deserializeValue,
  getConfig,
  getConfigBoolean,
  getConfigNumber,
  getCurrentContext,
  isTaskDeferred,
  isTaskFatalError,
  maskSecret,
  redactSecrets,
  registerSerializable,
  serializeValue,
  templateFieldProperty,
  type Context,
} from "armada-airflow";
import { evaluateTriggerRule } from "armada-airflow/runner";
import { clearConfigCache, resolveRuntimeConfig, withRuntimeConfig } from "armada-airflow/testing";
import { FnOperator } from "./support.js";

describe("BaseOperator and DAG", () => {
  it("applies DAG defaultArgs to options that were not given, as Airflow", () => {
    const dag = new DAG({ dagId: "d", defaultArgs: { retries: 3, retryDelay: 10, executionTimeout: 60 } });
    const a = new FnOperator({ taskId: "a", dag }, () => 1);
    const b = new FnOperator({ taskId: "b", dag, retries: 0 }, () => 1);
    expect([a.retries, a.retryDelay, a.executionTimeout]).toEqual([3, 10, 60]);
    expect([b.retries, b.retryDelay]).toEqual([0, 10]);
    expect(a.triggerRule).toBe("all_success");
  });

  it("defaults come from config core.default_task_retries / default_task_retry_delay", () => {
    // As a DAG file loaded by a CLI call with this setting in its env constructs it.
    const config = resolveRuntimeConfig({ env: { AIRFLOW__CORE__DEFAULT_TASK_RETRIES: "4" } });
    const a = withRuntimeConfig(config, () => new FnOperator({ taskId: "a" }, () => 1));
    expect([a.retries, a.retryDelay]).toEqual([4, 300]);
  });

  it("rejects bad options naming the field", () => {
    expect(() => new FnOperator({ taskId: "bad id!" }, () => 1)).toThrow(/taskId must be/);
    expect(() => new FnOperator({ taskId: "t", retries: -1 }, () => 1)).toThrow(/task "t": retries must be a whole number >= 0/);
    expect(() => new DAG({ dagId: "" })).toThrow(/dagId must be/);
    const dag = new DAG({ dagId: "dup" });
    new FnOperator({ taskId: "x", dag }, () => 1);
    expect(() => new FnOperator({ taskId: "x", dag }, () => 1)).toThrow(/already has a task "x"/);
  });

  it("builds dependencies with then() and chain(), and rejects cycles", () => {
    const dag = new DAG({ dagId: "deps" });
    const [a, b, c, d] = ["a", "b", "c", "d"].map((id) => new FnOperator({ taskId: id, dag }, () => id));
    expect(a!.then(b!)).toBe(b);
    chain(b!, [c!, d!]);
    expect([...b!.downstreamTaskIds].sort()).toEqual(["c", "d"]);
    expect(dag.topologicalOrder()).toEqual(["a", "b", "c", "d"]);
    d!.then(a!);
    expect(() => dag.validate()).toThrow(/DAG "deps" has a cycle: /);
  });

  it("maps template field names snake_case -> camelCase", () => {
    expect(templateFieldProperty("job_request")).toBe("jobRequest");
    expect(templateFieldProperty("job_set_prefix")).toBe("jobSetPrefix");
    expect(templateFieldProperty("plain")).toBe("plain");
  });

  it("defer() throws a TaskDeferred; getCurrentContext() outside a task is a clear error", () => {
    class X extends BaseOperator {
      async execute(_c: Context): Promise<unknown> {
        return undefined;
      }
    }
    const x = new X({ taskId: "x" });
    expect(() => getCurrentContext()).toThrow(/outside a running task/);
    let thrown: unknown;
    try {
      x.defer({ trigger: new DateTimeTrigger(0), methodName: "resume", kwargs: { a: 1 }, timeout: 5 });
    } catch (e) {
      thrown = e;
    }
    expect(isTaskDeferred(thrown)).toBe(true);
    expect(thrown).toMatchObject({ methodName: "resume", kwargs: { a: 1 }, timeout: 5 });
  });

  it("recognises fatal errors by brand across module copies", () => {
    const foreign = new Error("from another copy");
    Object.defineProperty(foreign, Symbol.for("armada-airflow.TaskFatalError"), { value: true });
    expect(isTaskFatalError(foreign)).toBe(true);
    expect(isTaskFatalError(new TaskFatalError("x"))).toBe(true);
    expect(isTaskFatalError(new Error("x"))).toBe(false);
  });
});

describe("trigger rules (Airflow semantics)", () => {
  const s = TaskInstanceState;
  it.each([
    [TriggerRule.ALL_SUCCESS, [s.SUCCESS, s.SUCCESS], "run"],
    [TriggerRule.ALL_SUCCESS, [s.SUCCESS, s.RUNNING], "wait"],
    [TriggerRule.ALL_SUCCESS, [s.FAILED, s.RUNNING], "upstream_failed"],
    [TriggerRule.ALL_SUCCESS, [s.SKIPPED, s.SUCCESS], "skip"],
    [TriggerRule.ALL_FAILED, [s.FAILED, s.UPSTREAM_FAILED], "run"],
    [TriggerRule.ALL_FAILED, [s.FAILED, s.SUCCESS], "skip"],
    [TriggerRule.ALL_DONE, [s.FAILED, s.SKIPPED], "run"],
    [TriggerRule.ALL_DONE, [s.FAILED, s.UP_FOR_RETRY], "wait"],
    [TriggerRule.ONE_SUCCESS, [s.SUCCESS, s.RUNNING], "run"],
    [TriggerRule.ONE_SUCCESS, [s.FAILED, s.SKIPPED], "upstream_failed"],
    [TriggerRule.ONE_FAILED, [s.FAILED, s.RUNNING], "run"],
    [TriggerRule.ONE_FAILED, [s.SUCCESS, s.SUCCESS], "skip"],
    [TriggerRule.NONE_FAILED, [s.SUCCESS, s.SKIPPED], "run"],
    [TriggerRule.NONE_FAILED, [s.UPSTREAM_FAILED], "upstream_failed"],
    [TriggerRule.NONE_SKIPPED, [s.SKIPPED, s.SUCCESS], "skip"],
    [TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS, [s.SKIPPED, s.SKIPPED], "skip"],
    [TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS, [s.SKIPPED, s.SUCCESS], "run"],
    [TriggerRule.ALL_SKIPPED, [s.SKIPPED], "run"],
    [TriggerRule.ALWAYS, [s.RUNNING], "run"],
    [TriggerRule.ALL_SUCCESS, [undefined], "wait"],
  ] as const)("%s with %j -> %s", (rule, ups, expected) => {
    expect(evaluateTriggerRule(rule, [...ups])).toBe(expected);
  });
});

const POINT: unique symbol = Symbol.for("tests.Point") as never;

describe("serde (Airflow envelope)", () => {
  class Point {
    readonly [POINT] = true;
    constructor(
      readonly x: number,
      readonly y: number,
    ) {}
  }
  registerSerializable("tests.Point", 2, {
    serialize: (p: Point) => ({ x: p.x, y: p.y }),
    deserialize: (data, version) => {
      if (version > 2) throw new Error("too new");
      const d = data as { x: number; y: number };
      return new Point(d.x, d.y);
    },
    is: (o) => typeof o === "object" && o !== null && (o as Record<symbol, unknown>)[Symbol.for("tests.Point")] === true,
  });

  it("round-trips registered classes, nested, in the envelope", () => {
    const text = serializeValue({ p: new Point(1, 2), list: [new Point(3, 4)], when: new Date(0) });
    expect(JSON.parse(text)).toEqual({
      p: { __classname__: "tests.Point", __version__: 2, __data__: { x: 1, y: 2 } },
      list: [{ __classname__: "tests.Point", __version__: 2, __data__: { x: 3, y: 4 } }],
      when: { __classname__: "pendulum.datetime.DateTime", __version__: 2, __data__: { timestamp: 0, tz: "UTC" } },
    });
    const back = deserializeValue(text) as { p: Point; list: Point[]; when: Date };
    expect(back.p).toBeInstanceOf(Point);
    expect(back.list[0]!.y).toBe(4);
    expect(back.when.getTime()).toBe(0);
  });

  it("refuses unregistered classes, unknown classnames and newer versions with clear errors", () => {
    class Unknown {}
    expect(() => serializeValue({ u: new Unknown() }, "XCom")).toThrow(/XCom.u: cannot store an instance of Unknown; register it/);
    expect(() => deserializeValue('{"__classname__":"nope.X","__version__":1,"__data__":{}}')).toThrow(/not registered/);
    expect(() => deserializeValue('{"__classname__":"tests.Point","__version__":3,"__data__":{}}')).toThrow(/newer than the registered version 2/);
  });

  it("never stores a masked secret", () => {
    maskSecret("s3cr3t-token");
    expect(serializeValue({ header: "Bearer s3cr3t-token" })).toBe('{"header":"Bearer ***"}');
    expect(redactSecrets("token=s3cr3t-token")).toBe("token=***");
  });
});

describe("config", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "aa-config-"));
  afterEach(() => clearConfigCache());

  it("reads ARMADA_AIRFLOW__ before AIRFLOW__ before the config file", () => {
    writeFileSync(path.join(dir, "armada-airflow.cfg"), "[armada_operator]\n# comment\ndefault_poll_interval_s = 7\n[operators]\ndefault_deferrable = true\n");
    const env = { ARMADA_AIRFLOW_HOME: dir };
    expect(getConfig("armada_operator", "default_poll_interval_s", { env })).toBe("7");
    expect(getConfigNumber("armada_operator", "default_poll_interval_s", 30, { env })).toBe(7);
    expect(getConfigBoolean("operators", "default_deferrable", false, { env })).toBe(true);
    expect(getConfigNumber("armada_operator", "default_poll_interval_s", 30, { env: { ...env, AIRFLOW__ARMADA_OPERATOR__DEFAULT_POLL_INTERVAL_S: "5" } })).toBe(5);
    expect(
      getConfig("armada_operator", "default_poll_interval_s", {
        env: { ...env, AIRFLOW__ARMADA_OPERATOR__DEFAULT_POLL_INTERVAL_S: "5", ARMADA_AIRFLOW__ARMADA_OPERATOR__DEFAULT_POLL_INTERVAL_S: "3" },
      }),
    ).toBe("3");
    expect(getConfig("nope", "nothing", { env })).toBeUndefined();
    rmSync(dir, { recursive: true, force: true });
  });

  it("rejects malformed values naming the key", () => {
    const env = { AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE: "perhaps", AIRFLOW__X__N: "ten" };
    expect(() => getConfigBoolean("operators", "default_deferrable", false, { env })).toThrow(/operators.default_deferrable must be true or false/);
    expect(() => getConfigNumber("x", "n", 1, { env })).toThrow(RuntimeError);
    expect(() => getConfig("a", "b", { env: { ARMADA_AIRFLOW_CONFIG: "/nonexistent/x.cfg" } })).toThrow(/ARMADA_AIRFLOW_CONFIG points to/);
  });
});
