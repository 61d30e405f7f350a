import path from "node:path";
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from "vitest";
import { KyselyStore } from "armada-airflow/store";
import { ManualClock } from "../../src/common/clock.js";
import { dagFile, schedulerSandbox, srcIndex, until, type SchedulerSandbox } from "./support.js";

let sb: SchedulerSandbox;
beforeEach(() => {
  sb = schedulerSandbox();
});
afterEach(async () => {
  await sb.dispose();
});

interface RunRow {
  dagId: string;
  runId: string;
  state: string;
  runType: string;
  logicalDate: string;
}
interface Report {
  state: string;
  dataIntervalStart: string;
  dataIntervalEnd: string;
  taskInstances: { taskId: string; state: string; tryNumber: number; maxTries: number }[];
}

const runsOf = async (dagId: string) => sb.json<RunRow[]>(["runs", "list", "--dag-id", dagId]);
const done = (runs: RunRow[]) => runs.filter((r) => r.state === "success" || r.state === "failed");
const xcom = async (dagId: string, runId: string, taskId: string) =>
  (await sb.json<{ value: unknown }[]>(["xcom", "list", dagId, runId, "--task-id", taskId]))[0]?.value;

describe("armada-airflow scheduler", () => {
  it("an hourly cron with catchup runs every hour from startDate, with logical date, data interval and macros", async () => {
    sb.write(
      "hourly.ts",
      dagFile(`export const dag = new DAG({ dagId: "hourly", schedule: "0 * * * *", startDate: "2024-01-01T00:00:00Z", catchup: true });
new Report({ taskId: "report", dag });`),
    );
    const clock = new ManualClock(Date.parse("2024-01-01T02:30:00Z"));
    const s = await sb.startScheduler(clock);
    await until("3 runs done", async () => done(await runsOf("hourly")).length === 3);
    await s.said("hourly: next run 2024-01-01T03:00:00.000Z at 2024-01-01T03:00:00.000Z");
    expect((await runsOf("hourly")).map((r) => [r.runId, r.runType, r.state])).toEqual([
      ["scheduled__2024-01-01T00:00:00+00:00", "scheduled", "success"],
      ["scheduled__2024-01-01T01:00:00+00:00", "scheduled", "success"],
      ["scheduled__2024-01-01T02:00:00+00:00", "scheduled", "success"],
    ]);
    expect(await xcom("hourly", "scheduled__2024-01-01T01:00:00+00:00", "report")).toBe(
      "2024-01-01|2024-01-01T01:00:00+00:00|2024-01-01T01:00:00.000Z|2024-01-01T01:00:00.000Z|2024-01-01T01:00:00.000Z",
    );
    clock.set(Date.parse("2024-01-01T03:00:00Z"));
    await until("the 03:00 run", async () => done(await runsOf("hourly")).length === 4);
    expect((await runsOf("hourly")).at(-1)!.runId).toBe("scheduled__2024-01-01T03:00:00+00:00");
    expect(await s.stop()).toBe(0);
    expect(s.stderr.text).toContain("[scheduler] stopped");
  });

  it("without catchup only the latest missed run is made; a fixed interval's runs cover [start, start + interval]", async () => {
    sb.write(
      "latest.ts",
      dagFile(`export const dag = new DAG({ dagId: "latest", schedule: "@daily", startDate: "2024-01-01" });
new Report({ taskId: "report", dag });`),
    );
    sb.write(
      "every.ts",
      dagFile(`export const dag = new DAG({ dagId: "every", schedule: { every: "6h" }, startDate: "2024-01-10T00:00:00Z", catchup: true });
new Report({ taskId: "report", dag });`),
    );
    const clock = new ManualClock(Date.parse("2024-01-10T13:00:00Z"));
    const s = await sb.startScheduler(clock);
    await until(
      "the runs",
      async () => done(await runsOf("latest")).length === 1 && done(await runsOf("every")).length === 2,
    );
    await s.said("every: next run 2024-01-10T12:00:00.000Z at 2024-01-10T18:00:00.000Z");
    await s.said("latest: next run 2024-01-11T00:00:00.000Z at 2024-01-11T00:00:00.000Z");
    expect((await runsOf("latest")).map((r) => r.runId)).toEqual(["scheduled__2024-01-10T00:00:00+00:00"]);
    const every = await runsOf("every");
    expect(every.map((r) => r.logicalDate)).toEqual(["2024-01-10T00:00:00.000Z", "2024-01-10T06:00:00.000Z"]);
    const second = await sb.json<Report>(["runs", "show", "every", every[1]!.runId]);
    expect([second.dataIntervalStart, second.dataIntervalEnd]).toEqual([
      "2024-01-10T06:00:00.000Z",
      "2024-01-10T12:00:00.000Z",
    ]);
    expect(await xcom("every", every[1]!.runId, "report")).toBe(
      "2024-01-10|2024-01-10T06:00:00+00:00|2024-01-10T06:00:00.000Z|2024-01-10T12:00:00.000Z|2024-01-10T06:00:00.000Z",
    );
    await s.stop();
  });

  it("a DAG's time zone: a daily 02:30 run across the spring DST change, an endDate that ends the schedule, @once", async () => {
    sb.write(
      "paris.ts",
      dagFile(`export const dag = new DAG({ dagId: "paris", schedule: "30 2 * * *", timezone: "Europe/Paris", startDate: "2024-03-30", endDate: "2024-04-01T12:00", catchup: true });
new Report({ taskId: "report", dag });`),
    );
    sb.write(
      "once.ts",
      dagFile(`export const dag = new DAG({ dagId: "once", schedule: "@once", startDate: "2024-03-30T06:00:00Z" });
new Report({ taskId: "report", dag });`),
    );
    const clock = new ManualClock(Date.parse("2024-04-05T00:00:00Z"));
    const s = await sb.startScheduler(clock);
    await until(
      "the runs",
      async () => done(await runsOf("paris")).length === 3 && done(await runsOf("once")).length === 1,
    );
    await s.said("paris: no further scheduled runs");
    await s.said("once: no further scheduled runs");
    // 02:30 CET is 01:30 UTC; on 31 March 02:30 does not exist and is 03:30 CEST (01:30 UTC); then 02:30 CEST.
    expect((await runsOf("paris")).map((r) => r.logicalDate)).toEqual([
      "2024-03-30T01:30:00.000Z",
      "2024-03-31T01:30:00.000Z",
      "2024-04-01T00:30:00.000Z",
    ]);
    expect((await runsOf("once")).map((r) => r.logicalDate)).toEqual(["2024-03-30T06:00:00.000Z"]);
    await s.stop();
  });

  it("new DAGs are paused by default ([core] dags_are_paused_at_creation); unpause starts them, pause stops new runs", async () => {
    sb.env.ARMADA_AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION = "true";
    sb.write(
      "paused.ts",
      dagFile(`export const dag = new DAG({ dagId: "paused", schedule: "@hourly", startDate: "2024-01-01T00:00:00Z", catchup: true });
new Report({ taskId: "report", dag });
export const other = new DAG({ dagId: "active", schedule: "@hourly", startDate: "2024-01-01T00:00:00Z", isPausedUponCreation: false });
new Report({ taskId: "report", dag: other });`),
    );
    const clock = new ManualClock(Date.parse("2024-01-01T01:30:00Z"));
    const s = await sb.startScheduler(clock);
    await until("the active DAG's run", async () => done(await runsOf("active")).length === 1);
    await s.said("active: next run");
    expect(await runsOf("paused")).toEqual([]);
    expect(s.stderr.text).not.toContain("paused: next run");
    expect((await sb.run(["dags", "unpause", "paused"])).stdout).toBe("Unpaused DAG paused\n");
    await until("the unpaused DAG's runs", async () => done(await runsOf("paused")).length === 2);
    expect((await sb.run(["dags", "pause", "paused"])).code).toBe(0);
    expect((await sb.run(["dags", "pause", "active"])).code).toBe(0);
    const before = (await runsOf("paused")).length + (await runsOf("active")).length;
    clock.set(Date.parse("2024-01-01T05:00:00Z"));
    // The 05:00 runs would be due now; a backfill run of a paused DAG still runs (as Airflow 3), and proves a pass went by.
    const b = await sb.run([
      "dags",
      "backfill",
      "active",
      "--start-date",
      "2023-12-31T00:00:00Z",
      "--end-date",
      "2023-12-31T00:00:00Z",
    ]);
    expect(b.stdout).toContain("Created backfill__2023-12-31T00:00:00+00:00");
    await until("the backfill run", async () =>
      done(await runsOf("active")).some((r) => r.runType === "backfill"),
    );
    expect((await runsOf("paused")).length + (await runsOf("active")).length).toBe(before + 1);
    const unknown = await sb.run(["dags", "pause", "nope"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain(`DAG "nope" is not registered`);
    await s.stop();
  });

  it("maxActiveRuns: a backfill's runs start oldest first, never more than the limit at once", async () => {
    const g = globalThis as unknown as { limitedLog: string[]; limitedGate: Promise<void> };
    let open!: () => void;
    g.limitedLog = [];
    g.limitedGate = new Promise<void>((r) => (open = r));
    onTestFinished(() => open());
    sb.write(
      "limited.ts",
      dagFile(`const g = globalThis as unknown as { limitedLog: string[]; limitedGate: Promise<void> };
class Slow extends BaseOperator {
  async execute(ctx: Context) {
    g.limitedLog.push("start " + ctx.ds);
    await g.limitedGate;
    g.limitedLog.push("end " + ctx.ds);
  }
}
// Paused: its own schedule makes no run, yet its backfill runs (as Airflow 3).
export const dag = new DAG({ dagId: "limited", schedule: "@daily", maxActiveRuns: 2, isPausedUponCreation: true });
new Slow({ taskId: "slow", dag });
export const control = new DAG({ dagId: "control" });
new Report({ taskId: "report", dag: control });`),
    );
    const clock = new ManualClock(Date.parse("2024-02-01T00:00:00Z"));
    const s = await sb.startScheduler(clock);
    const b = await sb.json<{ created: { runId: string }[] }>([
      "dags",
      "backfill",
      "limited",
      "--start-date",
      "2024-01-01",
      "--end-date",
      "2024-01-06",
    ]);
    expect(b.created.map((r) => r.runId)).toEqual(
      [1, 2, 3, 4, 5, 6].map((d) => `backfill__2024-01-0${d}T00:00:00+00:00`),
    );
    await until("two runs started", async () => g.limitedLog.length === 2);
    // A manual run of another DAG goes through the scheduler's passes; when it is done, passes went by with two running.
    expect(
      (await sb.run(["dags", "trigger", `${sb.dags}/limited.ts`, "control", "--run-id", "c1"])).code,
    ).toBe(0);
    await until("the control run", async () => done(await runsOf("control")).length === 1);
    expect(g.limitedLog).toEqual(["start 2024-01-01", "start 2024-01-02"]);
    expect((await runsOf("limited")).map((r) => r.state)).toEqual([
      "running",
      "running",
      "queued",
      "queued",
      "queued",
      "queued",
    ]);
    open();
    await until("6 backfill runs done", async () => done(await runsOf("limited")).length === 6);
    let running = 0;
    let most = 0;
    for (const e of g.limitedLog) {
      running += e.startsWith("start") ? 1 : -1;
      most = Math.max(most, running);
    }
    expect(most).toBe(2);
    expect(g.limitedLog.filter((e) => e.startsWith("start"))).toEqual(
      [1, 2, 3, 4, 5, 6].map((d) => `start 2024-01-0${d}`),
    );
    // Again: the dates that have a run are skipped.
    const again = await sb.run([
      "dags",
      "backfill",
      "limited",
      "--start-date",
      "2024-01-06",
      "--end-date",
      "2024-01-07",
    ]);
    expect(again.stdout).toContain("Created backfill__2024-01-07T00:00:00+00:00");
    expect(again.stdout).toContain(
      "Skipped 2024-01-06T00:00:00.000Z: run backfill__2024-01-06T00:00:00+00:00 exists",
    );
    const reversed = await sb.run([
      "dags",
      "backfill",
      "limited",
      "--start-date",
      "2024-01-07",
      "--end-date",
      "2024-01-01",
    ]);
    expect(reversed.stderr).toContain("--end-date is before --start-date");
    const manualOnly = await sb.run([
      "dags",
      "backfill",
      "control",
      "--start-date",
      "2024-01-01",
      "--end-date",
      "2024-01-02",
    ]);
    expect(manualOnly.stderr).toContain(`DAG "control" has no schedule`);
    await s.stop();
  });

  it("import errors are listed and the last good version keeps running; a fixed file loads again", async () => {
    sb.write(
      "changing.ts",
      dagFile(`export const dag = new DAG({ dagId: "changing", schedule: "@hourly", startDate: "2024-01-01T00:00:00Z", catchup: true });
new Report({ taskId: "v1", dag });`),
    );
    sb.write("broken.ts", `export const x = ;`);
    const clock = new ManualClock(Date.parse("2024-01-01T00:10:00Z"));
    const s = await sb.startScheduler(clock);
    await until("the first run", async () => done(await runsOf("changing")).length === 1);
    const errors = await sb.json<{ filename: string; error: string }[]>(["dags", "list-import-errors"]);
    expect(errors.map((e) => e.filename)).toEqual([`${sb.dags}/broken.ts`]);
    expect(errors[0]!.error).toContain("cannot load DAG file");
    sb.write("changing.ts", `throw new Error("half-edited file");\n`);
    await s.said("Import error in " + sb.dags + "/changing.ts");
    await s.said("keeping the last good version of changing");
    clock.set(Date.parse("2024-01-01T01:00:00Z"));
    await until(
      "the 01:00 run, by the last good version",
      async () => done(await runsOf("changing")).length === 2,
    );
    expect(
      (
        await sb.json<Report>(["runs", "show", "changing", "scheduled__2024-01-01T01:00:00+00:00"])
      ).taskInstances.map((t) => t.taskId),
    ).toEqual(["v1"]);
    expect(
      (await sb.json<{ filename: string }[]>(["dags", "list-import-errors"])).map((e) => e.filename).sort(),
    ).toEqual([`${sb.dags}/broken.ts`, `${sb.dags}/changing.ts`]);
    sb.write(
      "changing.ts",
      dagFile(`export const dag = new DAG({ dagId: "changing", schedule: "@hourly", startDate: "2024-01-01T00:00:00Z", catchup: true });
new Report({ taskId: "v2", dag });`),
    );
    await s.said(`${sb.dags}/changing.ts loads again`);
    clock.set(Date.parse("2024-01-01T02:00:00Z"));
    await until("the 02:00 run, by the new version", async () => done(await runsOf("changing")).length === 3);
    expect(
      (
        await sb.json<Report>(["runs", "show", "changing", "scheduled__2024-01-01T02:00:00+00:00"])
      ).taskInstances.map((t) => t.taskId),
    ).toEqual(["v2"]);
    expect(
      (await sb.json<{ filename: string }[]>(["dags", "list-import-errors"])).map((e) => e.filename),
    ).toEqual([`${sb.dags}/broken.ts`]);
    await s.stop();
  });

  it("tasks clear --downstream runs a failed task and what follows again in a new try, with its retries afresh; runs delete", async () => {
    sb.write(
      "flaky.ts",
      dagFile(`const g = globalThis as unknown as { flakyOk?: boolean };
class Flaky extends BaseOperator {
  async execute() {
    if (!g.flakyOk) throw new Error("not yet");
    return "ok";
  }
}
export const dag = new DAG({ dagId: "flaky", schedule: "@daily", startDate: "2024-01-01" });
const a = new Flaky({ taskId: "a", dag, retries: 1, retryDelay: 0 });
const b = new Report({ taskId: "b", dag });
const c = new Report({ taskId: "c", dag });
a.then(b);
c.then(a);`),
    );
    const clock = new ManualClock(Date.parse("2024-01-01T00:00:00Z"));
    const s = await sb.startScheduler(clock);
    const runId = "scheduled__2024-01-01T00:00:00+00:00";
    await until("the failed run", async () => done(await runsOf("flaky")).length === 1);
    let report = await sb.json<Report>(["runs", "show", "flaky", runId]);
    expect(report.state).toBe("failed");
    expect(report.taskInstances.map((t) => [t.taskId, t.state, t.tryNumber, t.maxTries])).toEqual([
      ["a", "failed", 2, 1],
      ["b", "upstream_failed", 0, 0],
      ["c", "success", 1, 0],
    ]);
    (globalThis as unknown as { flakyOk: boolean }).flakyOk = true;
    const cleared = await sb.json<{ taskId: string; previousState: string }[]>([
      "tasks",
      "clear",
      "flaky",
      runId,
      "--task",
      "^a$",
      "--downstream",
    ]);
    expect(cleared.map((t) => [t.taskId, t.previousState])).toEqual([
      ["a", "failed"],
      ["b", "upstream_failed"],
    ]);
    await until(
      "the run done again",
      async () => (await sb.json<Report>(["runs", "show", "flaky", runId])).state === "success",
    );
    report = await sb.json<Report>(["runs", "show", "flaky", runId]);
    // Try 3 with max tries 2 + 1 = 3: a full retry budget, as Airflow.
    expect(report.taskInstances.map((t) => [t.taskId, t.state, t.tryNumber, t.maxTries])).toEqual([
      ["a", "success", 3, 3],
      ["b", "success", 1, 0],
      ["c", "success", 1, 0],
    ]);
    // --upstream: b and what it depends on, transitively.
    const up = await sb.json<{ taskId: string; previousState: string }[]>([
      "tasks",
      "clear",
      "flaky",
      runId,
      "--task",
      "^b$",
      "--upstream",
    ]);
    expect(up.map((t) => [t.taskId, t.previousState])).toEqual([
      ["a", "success"],
      ["b", "success"],
      ["c", "success"],
    ]);
    await until(
      "the run done a third time",
      async () => (await sb.json<Report>(["runs", "show", "flaky", runId])).state === "success",
    );
    report = await sb.json<Report>(["runs", "show", "flaky", runId]);
    expect(report.taskInstances.map((t) => [t.taskId, t.tryNumber])).toEqual([
      ["a", 4],
      ["b", 2],
      ["c", 2],
    ]);
    const none = await sb.run(["tasks", "clear", "flaky", runId, "--only-failed"]);
    expect(none.stdout).toBe("No task instance to clear\n");
    const bad = await sb.run(["tasks", "clear", "flaky", runId, "--task", "zzz"]);
    expect(bad.stderr).toContain(`--task "zzz" matches no task of DAG "flaky"; its tasks: a, b, c`);
    await s.stop();
    const del = await sb.run(["runs", "delete", "flaky", runId]);
    expect(del.stdout).toBe(`Deleted DAG run flaky ${runId}\n`);
    expect(await runsOf("flaky")).toEqual([]);
    expect((await sb.run(["xcom", "list", "flaky", runId])).code).toBe(1);
  });

  it("a second triggerer on the same SQLite file is refused and told to use PostgreSQL; once the first stops, one may start", async () => {
    const clock = new ManualClock(Date.parse("2024-01-01T00:00:00Z"));
    const t = await sb.startTriggerer(clock);
    const second = await sb.run(["triggerer"], clock);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(
      /another triggerer \(.+\) is running on this SQLite database; SQLite supports one triggerer at a time.*use PostgreSQL/,
    );
    // A scheduler beside it is another service: it starts.
    const s = await sb.startScheduler(clock, ["--no-triggerer"]);
    await s.stop();
    expect(await t.stop()).toBe(0);
    const next = await sb.startTriggerer(clock);
    await next.stop();
  });

  it("a second scheduler on the same SQLite file is refused and told to use PostgreSQL", async () => {
    const clock = new ManualClock(Date.parse("2024-01-01T00:00:00Z"));
    const s = await sb.startScheduler(clock);
    const second = await sb.run(["scheduler", "--dags-folder", sb.dags], clock);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(
      /another scheduler \(.+\) is running on this SQLite database; SQLite supports one scheduler at a time.*use PostgreSQL/,
    );
    await s.stop();
    // Once it stopped, the next one may start.
    const third = await sb.startScheduler(clock);
    await third.stop();
    const missing = await sb.run(["scheduler", "--dags-folder", `${sb.root}/nowhere`], clock);
    expect(missing.stderr).toContain(`the DAGs folder ${sb.root}/nowhere cannot be read`);
    // That failed start left no lock behind.
    const fourth = await sb.startScheduler(clock);
    await fourth.stop();
    const bad = await sb.run(["scheduler", "--dags-folder", sb.dags, "--stop-timeout", "soon"], clock);
    expect(bad.stderr).toContain(`--stop-timeout must be a number of seconds >= 0, got "soon"`);
  });

  it("the scheduled example: weekdays at 06:30 Paris time, no catch-up", async () => {
    sb.write(
      "example.ts",
      `export * from ${JSON.stringify(path.resolve("examples/dags/runtime-scheduled.ts"))};\n`,
    );
    // Saturday 30 March 2024, 12:00 UTC: the latest weekday 06:30 is Friday's (05:30 UTC, CET).
    const clock = new ManualClock(Date.parse("2024-03-30T12:00:00Z"));
    const s = await sb.startScheduler(clock);
    await until("Friday's run", async () => done(await runsOf("runtime_scheduled")).length === 1);
    // Monday 1 April is in summer time: 06:30 CEST is 04:30 UTC.
    await s.said("runtime_scheduled: next run 2024-04-01T04:30:00.000Z at 2024-04-01T04:30:00.000Z");
    const [run] = await runsOf("runtime_scheduled");
    expect(run!.runId).toBe("scheduled__2024-03-29T05:30:00+00:00");
    expect(await xcom("runtime_scheduled", run!.runId, "report")).toBe(
      "ds 2024-03-29, ts 2024-03-29T05:30:00+00:00, data interval 2024-03-29T05:30:00.000Z to 2024-03-29T05:30:00.000Z",
    );
    await s.stop();
  });

  it("a manual run of an interval DAG gets the interval that ended at its logical date", async () => {
    sb.write(
      "manual.ts",
      dagFile(`export const dag = new DAG({ dagId: "manual", schedule: { every: "1d" } });
new Report({ taskId: "report", dag });`),
    );
    const r = await sb.json<Report & { runType: string }>([
      "dags",
      "test",
      `${sb.dags}/manual.ts`,
      "--logical-date",
      "2024-05-06T12:00:00Z",
    ]);
    expect([r.state, r.runType, r.dataIntervalStart, r.dataIntervalEnd]).toEqual([
      "success",
      "manual",
      "2024-05-05T12:00:00.000Z",
      "2024-05-06T12:00:00.000Z",
    ]);
  });

  it("runs of a scheduler on another host are taken over once its heartbeat is older than the threshold", async () => {
    // 5 s, below the runtime's own 30 s default: the configured threshold decides.
    sb.env.ARMADA_AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD = "5";
    sb.write(
      "orphans.ts",
      dagFile(`export const dag = new DAG({ dagId: "orphans" });\nnew Report({ taskId: "report", dag });`),
    );
    const store = await KyselyStore.open({ home: sb.home });
    try {
      for (const [runId, heartbeatMs] of [
        ["stale", Date.now() - 10_000],
        ["fresh", Date.now() + 600_000],
      ] as const) {
        expect((await sb.run(["dags", "trigger", `${sb.dags}/orphans.ts`, "--run-id", runId])).code).toBe(0);
        const runnerId = `elsewhere:1:${runId}`;
        await store.upsertRunner({
          id: runnerId,
          pid: 1,
          hostname: "another-host.invalid",
          startedMs: 0,
          heartbeatMs,
        });
        expect(
          await store.updateDagRun("orphans", runId, { state: "running", runnerId }, { runnerId: null }),
        ).toBe(true);
      }
      const clock = new ManualClock(Date.parse("2024-01-01T00:00:00Z"));
      const s = await sb.startScheduler(clock);
      await until(
        "the stale runner's run done",
        async () => (await store.getDagRun("orphans", "stale"))?.state === "success",
      );
      expect(s.stderr.text).toContain(
        "Taking over DAG run orphans stale: its runner elsewhere:1:stale is gone",
      );
      expect(await store.getDagRun("orphans", "fresh")).toMatchObject({
        state: "running",
        runnerId: "elsewhere:1:fresh",
      });
      await s.stop();
    } finally {
      await store.close();
    }
  });

  it("tasks clear of a deferred task in a live run: its trigger goes and it defers again in a new try", async () => {
    sb.write(
      "deferring.ts",
      dagFile(`import { DateTimeTrigger } from ${JSON.stringify(srcIndex)};
class Later extends BaseOperator {
  async execute(ctx: Context) {
    this.defer({ trigger: new DateTimeTrigger(ctx.clock.nowMs() + 3_600_000), methodName: "done" });
  }
  async done(ctx: Context) {
    return ctx.ti.tryNumber;
  }
}
export const dag = new DAG({ dagId: "deferring" });
new Later({ taskId: "later", dag });`),
    );
    const clock = new ManualClock(Date.parse("2024-01-01T00:00:00Z"));
    const s = await sb.startScheduler(clock);
    expect((await sb.run(["dags", "trigger", `${sb.dags}/deferring.ts`, "--run-id", "r"])).code).toBe(0);
    const ti = async () => (await sb.json<Report>(["runs", "show", "deferring", "r"])).taskInstances[0];
    await until("deferred in try 1", async () => (await ti())?.state === "deferred");
    const cleared = await sb.json<{ previousState: string }[]>(["tasks", "clear", "deferring", "r"]);
    expect(cleared.map((c) => c.previousState)).toEqual(["deferred"]);
    await until("deferred in try 2", async () => {
      const t = await ti();
      return t?.state === "deferred" && t.tryNumber === 2;
    });
    clock.advance(3_600_000);
    await until(
      "the run done",
      async () => (await sb.json<Report>(["runs", "show", "deferring", "r"])).state === "success",
    );
    expect(await xcom("deferring", "r", "later")).toBe(2);
    await s.stop();
  });
});
