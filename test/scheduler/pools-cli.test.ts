/**
 * Pools and task limits through the CLI and the scheduler's runner: tasks
 * hold until the test lets them go (a gate shared through globalThis with
 * the DAG file, which the scheduler imports in this process), so every
 * assertion about what runs at once is exact, with no sleeps.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import { dagFile, schedulerSandbox, srcIndex, until, type SchedulerSandbox } from "./support.js";

/** What the DAG files' tasks report, and the gates the test opens. */
class Probe {
  /** Labels (`run/task[i]`) of tries running now. */
  readonly running = new Set<string>();
  readonly started: string[] = [];
  /** Most tries running at once, in all and per run. */
  max = 0;
  readonly maxByRun = new Map<string, number>();
  private readonly gates = new Map<string, { ok: () => void; fail: (e: Error) => void }>();

  enter(runId: string, label: string): Promise<void> {
    const key = `${runId}/${label}`;
    this.running.add(key);
    this.started.push(key);
    this.max = Math.max(this.max, this.running.size);
    const inRun = [...this.running].filter((k) => k.startsWith(`${runId}/`)).length;
    this.maxByRun.set(runId, Math.max(this.maxByRun.get(runId) ?? 0, inRun));
    return new Promise<void>((ok, fail) => this.gates.set(key, { ok, fail }));
  }

  /** Lets a running try finish (or fail). */
  release(key: string, fail = false): void {
    const gate = this.gates.get(key);
    if (!gate) throw new Error(`${key} is not running; running: ${[...this.running].join(", ")}`);
    this.gates.delete(key);
    this.running.delete(key);
    if (fail) gate.fail(new Error(`${key} failed on purpose`));
    else gate.ok();
  }
}

const PROBE = Symbol.for("armada-airflow.test.pool-probe");
let probe: Probe;
let sb: SchedulerSandbox;
beforeEach(() => {
  probe = new Probe();
  (globalThis as Record<symbol, unknown>)[PROBE] = probe;
  sb = schedulerSandbox();
});
afterEach(async () => {
  await sb.dispose();
});

/** A DAG file whose `Held` tasks wait for the probe's gate; `body` builds the DAG. */
const heldDag = (body: string) =>
  dagFile(`import { DateTimeTrigger } from ${JSON.stringify(srcIndex)};
const probe = (globalThis as Record<symbol, any>)[Symbol.for("armada-airflow.test.pool-probe")];
const label = (ctx: Context) => ctx.ti.taskId + (ctx.ti.mapIndex >= 0 ? "[" + ctx.ti.mapIndex + "]" : "");
class Held extends BaseOperator {
  async execute(ctx: Context) {
    await probe.enter(ctx.runId, label(ctx));
    return label(ctx);
  }
}
class DeferThenHold extends BaseOperator {
  async execute(ctx: Context) {
    this.defer({ trigger: new DateTimeTrigger(ctx.clock.nowMs() + 3_600_000), methodName: "resumed" });
  }
  async resumed(ctx: Context) {
    await probe.enter(ctx.runId, label(ctx));
    return label(ctx);
  }
}
void Held;
void DeferThenHold;
${body}`);

interface Report {
  state: string;
  taskInstances: {
    taskId: string;
    mapIndex: number;
    state: string;
    tryNumber: number;
    waitingFor?: string;
  }[];
}
interface PoolListRow {
  name: string;
  slots: number;
  running: number;
  deferred: number;
  open: number;
  includeDeferred: boolean;
}

const show = (dagId: string, runId: string) => sb.json<Report>(["runs", "show", dagId, runId]);
const poolList = () => sb.json<PoolListRow[]>(["pools", "list"]);
const trigger = async (dagId: string, runId: string) => {
  const r = await sb.run(["dags", "trigger", `${sb.dags}/${dagId}.ts`, "--run-id", runId]);
  expect(r.code, r.stderr).toBe(0);
};
const startedCount = (n: number) => until(`${n} tries started`, async () => probe.started.length >= n);

describe("pools and task limits", () => {
  it("pools set/list/delete: default_pool has 128 slots, bad input names the field, default_pool cannot go", async () => {
    expect(await poolList()).toEqual([
      {
        name: "default_pool",
        slots: 128,
        description: "Default pool",
        includeDeferred: false,
        running: 0,
        deferred: 0,
        occupied: 0,
        open: 128,
      },
    ]);
    const created = await sb.run(["pools", "set", "gpu", "3", "--description", "the GPU boxes"]);
    expect(created.stdout).toBe("Created pool gpu: 3 slots\n");
    expect((await sb.run(["pools", "set", "gpu", "4", "--include-deferred"])).stdout).toBe(
      "Updated pool gpu: 4 slots, deferred tasks keep theirs\n",
    );
    const gpu = (await poolList()).find((p) => p.name === "gpu");
    expect(gpu).toMatchObject({ slots: 4, includeDeferred: true, open: 4, description: "the GPU boxes" });
    const text = (await sb.run(["pools", "list"])).stdout;
    expect(text).toMatch(/^pool\s+slots\s+running\s+deferred\s+open\s+include_deferred\s+description$/m);
    expect(text).toMatch(/^gpu\s+4\s+0\s+0\s+4\s+true\s+the GPU boxes$/m);

    const bad = await sb.run(["pools", "set", "gpu", "-2"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('SLOTS (pools set NAME SLOTS) must be an integer >= 0, got "-2"');
    const keep = await sb.run(["pools", "delete", "default_pool"]);
    expect(keep.code).toBe(1);
    expect(keep.stderr).toContain(
      "default_pool cannot be deleted; resize it with: armada-airflow pools set default_pool SLOTS",
    );
    expect((await sb.run(["pools", "delete", "gpu"])).stdout).toBe("Deleted pool gpu\n");
    const gone = await sb.run(["pools", "delete", "gpu"]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('no pool "gpu"; see armada-airflow pools list');
  });

  it("operator and DAG options are checked: each bad value fails the DAG file with the field named", async () => {
    const cases: [string, string][] = [
      [
        `new Held({ taskId: "t", dag, pool: "p", poolSlots: 0 });`,
        `task "t": poolSlots must be a whole number >= 1 (the slots of its pool a try takes), e.g. 2; got 0`,
      ],
      [
        `new Held({ taskId: "t", dag, pool: "" });`,
        `task "t": pool must be the name of a pool (a non-empty string of at most 256 characters; see armada-airflow pools list), got ""`,
      ],
      [
        `new DAG({ dagId: "x", maxActiveTasks: 1.5 });`,
        `DAG "x": maxActiveTasks must be a whole number >= 1 (running tasks of one run), e.g. 8; got 1.5`,
      ],
      [
        `new DAG({ dagId: "y", defaultArgs: { poolSlots: -1 } });`,
        `DAG "y": defaultArgs.poolSlots must be a whole number >= 1 (the slots of its pool a try takes), e.g. 2; got -1`,
      ],
    ];
    for (const [i, [line, message]] of cases.entries()) {
      // A new file each time: a loaded module is not read again.
      sb.write(`bad${i}.ts`, heldDag(`export const dag = new DAG({ dagId: "bad${i}" });\n${line}`));
      const r = await sb.run(["dags", "list", `${sb.dags}/bad${i}.ts`]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(message);
    }
  });

  it("a pool of 2 with 5 tasks never runs more than 2; runs show and the task log say why the others wait", async () => {
    expect((await sb.run(["pools", "set", "two", "2"])).code).toBe(0);
    sb.write(
      "pooled.ts",
      heldDag(`export const dag = new DAG({ dagId: "pooled" });
for (let i = 0; i < 5; i++) new Held({ taskId: "t" + i, dag, pool: "two" });`),
    );
    const s = await sb.startScheduler(new ManualClock(Date.parse("2024-01-01T00:00:00Z")));
    await trigger("pooled", "r");
    await startedCount(2);
    // The runner tried a third task and the pool refused it.
    await s.said(
      /\[pooled r t\d #1\] Waiting for a slot in pool two \(2\/2 used\)/,
      "a task waiting for the pool",
    );
    const report = await show("pooled", "r");
    const waiting = report.taskInstances.filter((t) => t.state === "none");
    expect(waiting).toHaveLength(3);
    for (const t of waiting) expect(t.waitingFor).toBe("waiting for a slot in pool two (2/2 used)");
    const text = (await sb.run(["runs", "show", "pooled", "r"])).stdout;
    expect(text).toMatch(/^t\d: waiting for a slot in pool two \(2\/2 used\)$/m);
    expect((await poolList()).find((p) => p.name === "two")).toMatchObject({ running: 2, open: 0 });
    // Each slot freed lets exactly one more start.
    for (let done = 0; done < 5; done++) {
      const next = probe.started.length;
      probe.release([...probe.running][0]!);
      if (next < 5) await startedCount(next + 1);
    }
    await until("the run done", async () => (await show("pooled", "r")).state === "success");
    expect(probe.started).toHaveLength(5);
    expect(probe.max).toBe(2);
    await s.stop();
  });

  it("a failed try frees its slots: the other task runs, and the retry waits in the pool's queue until that one ends", async () => {
    expect((await sb.run(["pools", "set", "one", "1"])).code).toBe(0);
    sb.write(
      "freed.ts",
      heldDag(`export const dag = new DAG({ dagId: "freed" });
new Held({ taskId: "a", dag, pool: "one", retries: 1, retryDelay: 0 });
new Held({ taskId: "b", dag, pool: "one" });`),
    );
    const s = await sb.startScheduler(new ManualClock(Date.parse("2024-01-01T00:00:00Z")));
    await trigger("freed", "r");
    await startedCount(1);
    const first = probe.started[0]!;
    const other = first === "r/a" ? "r/b" : "r/a";
    await s.said(/Waiting for a slot in pool one \(1\/1 used\)/);
    if (first === "r/a") {
      // a fails: b takes the slot; a's retry (try 2) waits for it.
      probe.release("r/a", true);
      await startedCount(2);
      expect(probe.started[1]).toBe("r/b");
      await s.said("[freed r a #2] Waiting for a slot in pool one (1/1 used)");
      expect((await show("freed", "r")).taskInstances.find((t) => t.taskId === "a")).toMatchObject({
        state: "up_for_retry",
        waitingFor: "waiting for a slot in pool one (1/1 used)",
      });
      probe.release("r/b");
      await startedCount(3);
      expect(probe.started[2]).toBe("r/a");
      probe.release("r/a");
    } else {
      // b runs first and fails (no retries): a takes the slot, fails, and its retry takes it again.
      probe.release("r/b", true);
      await startedCount(2);
      expect(probe.started[1]).toBe(other);
      probe.release("r/a", true);
      await startedCount(3);
      expect(probe.started[2]).toBe("r/a");
      probe.release("r/a");
    }
    await until("the run done", async () => (await show("freed", "r")).state !== "running");
    expect(probe.max).toBe(1);
    const tis = (await show("freed", "r")).taskInstances.map((t) => [t.taskId, t.state]);
    expect(tis).toEqual(
      first === "r/a"
        ? [
            ["a", "success"],
            ["b", "success"],
          ]
        : [
            ["a", "success"],
            ["b", "failed"],
          ],
    );
    await s.stop();
  });

  it("a task needing more slots than its pool has waits, says so, and runs once the pool is raised", async () => {
    expect((await sb.run(["pools", "set", "small", "1"])).code).toBe(0);
    sb.write(
      "big.ts",
      heldDag(
        `export const dag = new DAG({ dagId: "big" });\nnew Held({ taskId: "t", dag, pool: "small", poolSlots: 2 });`,
      ),
    );
    const s = await sb.startScheduler(new ManualClock(Date.parse("2024-01-01T00:00:00Z")));
    await trigger("big", "r");
    const why =
      "needs 2 slots of pool small, which has 1 in all; raise it with: armada-airflow pools set small 2";
    await s.said(`[big r t #1] N${why.slice(1)}`);
    expect((await show("big", "r")).taskInstances).toMatchObject([
      { taskId: "t", state: "none", waitingFor: why },
    ]);
    expect(probe.started).toEqual([]);
    // Raised by another command: the runner sees it on its next heartbeat.
    expect((await sb.run(["pools", "set", "small", "2"])).code).toBe(0);
    await startedCount(1);
    expect((await poolList()).find((p) => p.name === "small")).toMatchObject({ running: 2, open: 0 });
    probe.release("r/t");
    await until("the run done", async () => (await show("big", "r")).state === "success");
    await s.stop();
  });

  it("a task of a pool that does not exist fails at once, naming the pool and how to create it", async () => {
    sb.write(
      "nopool.ts",
      heldDag(
        `export const dag = new DAG({ dagId: "nopool" });\nnew Held({ taskId: "t", dag, pool: "missing", retries: 3 });`,
      ),
    );
    const s = await sb.startScheduler(new ManualClock(Date.parse("2024-01-01T00:00:00Z")));
    await trigger("nopool", "r");
    await until("the run done", async () => (await show("nopool", "r")).state === "failed");
    expect((await show("nopool", "r")).taskInstances).toMatchObject([{ taskId: "t", state: "failed" }]);
    await s.said(
      'Cannot start t: pool "missing" does not exist; create it with: armada-airflow pools set missing SLOTS',
    );
    expect(probe.started).toEqual([]);
    await s.stop();
  });

  it("maxActiveTasks limits each run (as Airflow 3): two runs of a DAG with maxActiveTasks 2 run 2 tasks each", async () => {
    sb.write(
      "capped.ts",
      heldDag(`export const dag = new DAG({ dagId: "capped", maxActiveTasks: 2 });
for (let i = 0; i < 3; i++) new Held({ taskId: "t" + i, dag });`),
    );
    const s = await sb.startScheduler(new ManualClock(Date.parse("2024-01-01T00:00:00Z")));
    await trigger("capped", "r1");
    await trigger("capped", "r2");
    await startedCount(4);
    await s.said(
      /\[capped r1 t\d #1\] Waiting for a task slot of the DAG run \(2\/2 running, maxActiveTasks\)/,
    );
    await s.said(
      /\[capped r2 t\d #1\] Waiting for a task slot of the DAG run \(2\/2 running, maxActiveTasks\)/,
    );
    expect(probe.started).toHaveLength(4);
    for (const runId of ["r1", "r2"]) {
      const waiting = (await show("capped", runId)).taskInstances.filter((t) => t.state === "none");
      expect(waiting.map((t) => t.waitingFor)).toEqual([
        "waiting for a task slot of the DAG run (2/2 running, maxActiveTasks)",
      ]);
    }
    probe.release(probe.started.find((k) => k.startsWith("r1/"))!);
    await startedCount(5);
    expect(probe.started[4]).toMatch(/^r1\//);
    for (const key of [...probe.running]) probe.release(key);
    await startedCount(6);
    for (const key of [...probe.running]) probe.release(key);
    await until(
      "both runs done",
      async () =>
        (await show("capped", "r1")).state === "success" && (await show("capped", "r2")).state === "success",
    );
    expect(Object.fromEntries(probe.maxByRun)).toEqual({ r1: 2, r2: 2 });
    expect(probe.max).toBe(4);
    await s.stop();
  });

  it("[core] parallelism limits the tries of one scheduler process across all its runs", async () => {
    await sb.dispose();
    sb = schedulerSandbox({ ARMADA_AIRFLOW__CORE__PARALLELISM: "3" });
    sb.write(
      "wide.ts",
      heldDag(
        `export const dag = new DAG({ dagId: "wide" });\nfor (let i = 0; i < 4; i++) new Held({ taskId: "t" + i, dag });`,
      ),
    );
    const s = await sb.startScheduler(new ManualClock(Date.parse("2024-01-01T00:00:00Z")));
    await trigger("wide", "r1");
    await trigger("wide", "r2");
    await startedCount(3);
    await s.said(/Waiting for a slot of this runner \(3\/3 running, \[core\] parallelism\)/);
    expect(probe.started).toHaveLength(3);
    const waiting = (await show("wide", "r1")).taskInstances.filter((t) => t.state === "none");
    expect(waiting.length).toBeGreaterThan(0);
    for (const t of waiting)
      expect(t.waitingFor).toMatch(
        /^waiting for a slot of its runner .* \(3\/3 running, \[core\] parallelism\)$/,
      );
    for (let n = 3; n < 8; n++) {
      probe.release([...probe.running][0]!);
      await startedCount(n + 1);
    }
    for (const key of [...probe.running]) probe.release(key);
    await until(
      "both runs done",
      async () =>
        (await show("wide", "r1")).state === "success" && (await show("wide", "r2")).state === "success",
    );
    expect(probe.max).toBe(3);
    await s.stop();
  });

  it("deferred tasks free their pool slots, unless the pool includes deferred tasks", async () => {
    expect((await sb.run(["pools", "set", "free", "1"])).code).toBe(0);
    expect((await sb.run(["pools", "set", "kept", "1", "--include-deferred"])).code).toBe(0);
    sb.write(
      "deferring.ts",
      heldDag(`export const freeing = new DAG({ dagId: "freeing" });
new DeferThenHold({ taskId: "a", dag: freeing, pool: "free" });
new DeferThenHold({ taskId: "b", dag: freeing, pool: "free" });
export const keeping = new DAG({ dagId: "keeping" });
new DeferThenHold({ taskId: "a", dag: keeping, pool: "kept" });
new DeferThenHold({ taskId: "b", dag: keeping, pool: "kept" });`),
    );
    const clock = new ManualClock(Date.parse("2024-01-01T00:00:00Z"));
    const s = await sb.startScheduler(clock);
    for (const [dagId, runId] of [
      ["freeing", "rf"],
      ["keeping", "rk"],
    ]) {
      const r = await sb.run(["dags", "trigger", `${sb.dags}/deferring.ts`, dagId!, "--run-id", runId!]);
      expect(r.code, r.stderr).toBe(0);
    }
    const tis = async (dagId: string, runId: string) =>
      Object.fromEntries((await show(dagId, runId)).taskInstances.map((t) => [t.taskId, t]));
    const states = async (dagId: string, runId: string) =>
      Object.values(await tis(dagId, runId))
        .map((t) => t.state)
        .sort()
        .join();
    // Pool "free" (1 slot): both tasks defer, one after the other.
    await until(
      "both freeing tasks deferred",
      async () => (await states("freeing", "rf")) === "deferred,deferred",
    );
    expect((await poolList()).find((p) => p.name === "free")).toMatchObject({
      running: 0,
      deferred: 2,
      open: 1,
    });
    // Pool "kept" (1 slot, deferred tasks keep theirs): the other task waits while one is deferred.
    await until("one keeping task deferred", async () => (await states("keeping", "rk")) === "deferred,none");
    await s.said(/\[keeping rk [ab] #1\] Waiting for a slot in pool kept \(1\/1 used\)/);
    const kept = Object.values(await tis("keeping", "rk"));
    const first = kept.find((t) => t.state === "deferred")!.taskId;
    const second = first === "a" ? "b" : "a";
    expect(kept.find((t) => t.state === "none")!.waitingFor).toBe(
      "waiting for a slot in pool kept (1/1 used)",
    );
    expect((await poolList()).find((p) => p.name === "kept")).toMatchObject({
      running: 0,
      deferred: 1,
      open: 0,
    });

    // The triggers fire. Pool "free": each resumed try takes the slot again, one at a time.
    // Pool "kept": the fired task gave its slot up; the waiting task takes it, defers and keeps it.
    clock.advance(3_600_000);
    await startedCount(1);
    await until("the second freeing resume waits", async () => {
      const waiting = Object.values(await tis("freeing", "rf")).find((t) => t.state === "scheduled");
      return waiting?.waitingFor === "waiting for a slot in pool free (1/1 used)";
    });
    await until("the keeping tasks swapped", async () => {
      const t = await tis("keeping", "rk");
      return t[second]!.state === "deferred" && t[first]!.state === "scheduled";
    });
    expect((await tis("keeping", "rk"))[first]!.waitingFor).toBe(
      "waiting for a slot in pool kept (1/1 used)",
    );
    expect(probe.started).toHaveLength(1);
    probe.release(probe.started[0]!);
    await startedCount(2);
    expect(probe.started.map((k) => k.split("/")[0])).toEqual(["rf", "rf"]);
    probe.release(probe.started[1]!);
    await until("freeing done", async () => (await show("freeing", "rf")).state === "success");

    // The second keeping task's trigger fires: the first resumes, then the second.
    clock.advance(3_600_000);
    await startedCount(3);
    expect(probe.started[2]).toBe(`rk/${first}`);
    probe.release(`rk/${first}`);
    await startedCount(4);
    expect(probe.started[3]).toBe(`rk/${second}`);
    probe.release(`rk/${second}`);
    await until("keeping done", async () => (await show("keeping", "rk")).state === "success");
    expect(probe.max).toBe(1);
    await s.stop();
  });
});
