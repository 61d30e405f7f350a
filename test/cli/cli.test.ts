import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cliSandbox } from "./support.js";

let sb: ReturnType<typeof cliSandbox>;
beforeEach(() => {
  sb = cliSandbox();
});
afterEach(() => sb.dispose());

describe("armada-airflow CLI (in-process)", () => {
  it("dags list finds the example DAGs", async () => {
    const r = await sb.run(["dags", "list", "examples/dags", "--json"]);
    expect(r.code).toBe(0);
    const ids = (JSON.parse(r.stdout) as { dagId: string }[]).map((d) => d.dagId);
    expect(ids).toEqual(expect.arrayContaining(["runtime_plain", "runtime_deferring", "runtime_retrying", "runtime_mapped"]));
  });

  it("dags test runs the plain example with conf, prints prefixed task logs and a JSON report", async () => {
    const r = await sb.run(["dags", "test", "examples/dags/runtime-plain.ts", "--conf", '{"name": "Ada"}', "--logical-date", "2024-05-06T00:00:00Z", "--json"]);
    expect(r.stderr).toContain("[extract #1] extracting: Hello Ada on 2024-05-06");
    expect(r.stderr).toContain("[transform #1] total is 6");
    expect(r.stderr).toMatch(/--> runtime_plain load try 1: success/);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { state: string; taskInstances: { taskId: string; state: string }[] };
    expect(report.state).toBe("success");
    expect(report.taskInstances.map((t) => [t.taskId, t.state])).toEqual([
      ["extract", "success"],
      ["load", "success"],
      ["transform", "success"],
    ]);
    const runs = await sb.run(["runs", "list", "--json"]);
    const [run] = JSON.parse(runs.stdout) as { dagId: string; runId: string; state: string }[];
    expect(run).toMatchObject({ dagId: "runtime_plain", state: "success", runId: "manual__2024-05-06T00:00:00+00:00" });
    const xcom = await sb.run(["xcom", "list", "runtime_plain", run!.runId, "--task-id", "transform", "--json"]);
    expect(JSON.parse(xcom.stdout)).toEqual([{ taskId: "transform", mapIndex: -1, tryNumber: 1, key: "return_value", value: 6 }]);
    const show = await sb.run(["runs", "show", "runtime_plain", run!.runId, "--logs"]);
    expect(show.stdout).toContain("DAG run runtime_plain manual__2024-05-06T00:00:00+00:00: success");
    expect(show.stdout).toContain("[load #1] loaded total 6");
    expect(show.stdout).toContain("link extract Source: https://example.com/data/2024-05-06");
  });

  it("dags test of the deferring example defers and resumes on the same try", async () => {
    const r = await sb.run(["dags", "test", "examples/dags/runtime-deferring.ts", "--conf", '{"wait_seconds": 0.1}']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/wait try 1: deferred/);
    expect(r.stderr).toMatch(/\[wait #1\] resumed after 0.1 seconds/);
    expect(r.stdout).toMatch(/wait\s+-1\s+success\s+1/);
  });

  it("dags test of the retrying example: succeeds on try 2, or fails with exit code 1 when retries run out", async () => {
    const ok = await sb.run(["dags", "test", "examples/dags/runtime-retrying.ts", "--conf", '{"succeed_on_try": 2}', "--run-id", "ok"]);
    expect(ok.code).toBe(0);
    expect(ok.stderr).toContain("try 1 of 3 failed on purpose");
    expect(ok.stderr).toMatch(/flaky try 1: up_for_retry/);
    expect(ok.stderr).toContain("[flaky #2] succeeded on try 2");
    const bad = await sb.run(["dags", "test", "examples/dags/runtime-retrying.ts", "--conf", '{"succeed_on_try": 9}', "--run-id", "bad"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/flaky try 3: failed/);
    expect(bad.stdout).toMatch(/flaky\s+-1\s+failed\s+3\s+2/);
  });

  it("dags test of the mapped example expands over an upstream output", async () => {
    const r = await sb.run(["dags", "test", "examples/dags/runtime-mapped.ts", "--conf", '{"count": 4}', "--json"]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { runId: string; taskInstances: { taskId: string; mapIndex: number }[] };
    expect(report.taskInstances.filter((t) => t.taskId === "square").map((t) => t.mapIndex)).toEqual([0, 1, 2, 3]);
    expect(r.stderr).toContain("[square[2] #1] map index 2 squares 3");
    const x = await sb.run(["xcom", "list", "runtime_mapped", report.runId, "--task-id", "total", "--json"]);
    expect((JSON.parse(x.stdout) as { value: number }[])[0]!.value).toBe(1 + 4 + 9 + 16);
  });

  it("dags trigger queues a run and resume runs it", async () => {
    const t = await sb.run(["dags", "trigger", "examples/dags/runtime-mapped.ts", "--run-id", "queued-1", "--json"]);
    expect(t.code).toBe(0);
    expect(JSON.parse(t.stdout)).toEqual({ dagId: "runtime_mapped", runId: "queued-1", state: "queued" });
    const r = await sb.run(["resume", "--json"]);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { state: string }[])[0]!.state).toBe("success");
    const again = await sb.run(["resume"]);
    expect(again.stderr).toContain("Nothing to resume");
  });

  it("tasks test runs one task without its upstream", async () => {
    const r = await sb.run(["tasks", "test", "examples/dags/runtime-plain.ts", "runtime_plain", "extract", "--json"]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { taskInstances: { taskId: string; state: string }[] };
    expect(report.taskInstances).toEqual([expect.objectContaining({ taskId: "extract", state: "success" })]);
  });

  it("reports bad input clearly", async () => {
    const conf = await sb.run(["dags", "test", "examples/dags/runtime-plain.ts", "--conf", "[1]"]);
    expect(conf.code).toBe(1);
    expect(conf.stderr).toContain("--conf must be a JSON object");
    const missing = await sb.run(["dags", "test", "examples/dags/nope.ts"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/DAG file .*nope.ts does not exist/);
    const wrongDag = await sb.run(["dags", "test", "examples/dags/runtime-plain.ts", "other"]);
    expect(wrongDag.stderr).toContain('DAG "other" not found');
    const usage = await sb.run(["dags", "frobnicate"]);
    expect(usage.code).toBe(2);
    const kill = await sb.run(["tasks", "kill", "d", "r", "t"]);
    expect(kill.code).toBe(1);
    expect(kill.stderr).toContain("no task instance d/r/t");
  });
});
