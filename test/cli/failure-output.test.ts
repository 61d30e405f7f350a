/**
 * What a user reads on the console: an expected failure (a job that FAILED,
 * a value that cannot be stored) is one line and `--verbose` adds its stack;
 * a deferrable task's polling is one line per change with a heartbeat, not
 * a cycle of lines per poll; `xcom list` cuts long values unless `--full`.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeferralCycleFilter } from "../../src/cli/deferral-cycle.js";
import { briefLogMessage, commandErrorText } from "../../src/cli/failure-text.js";
import { ProgressReporter } from "../../src/cli/progress.js";
import type { RunnerEvent } from "../../src/runtime/runner.js";
import { startDevServer, type DevServer } from "../../src/testing/index.js";
import { repoRoot } from "../support/source-cli.js";
import { Capture, cliSandbox } from "./support.js";

const FAILED_STACK = [
  "Task failed: ArmadaOperatorJobFailedError: ArmadaOperator job 'j' in queue 'q' terminated with state 'Failed'.",
  "    at ArmadaOperator.terminated (/x/src/operator/armada-operator.ts:824:11)",
  "    at async RunDriver.executeTry (/x/src/runtime/runner.ts:949:22)",
].join("\n");

describe("failure text", () => {
  it("leaves out the stack of an expected failure, keeps it with --verbose and for a bug", () => {
    expect(briefLogMessage(FAILED_STACK, false)).toBe(FAILED_STACK.split("\n")[0]);
    expect(briefLogMessage(FAILED_STACK, true)).toBe(FAILED_STACK);
    const bug = "Task failed: TypeError: x is not a function\n    at run (/dag.ts:3:1)";
    expect(briefLogMessage(bug, false)).toBe(bug);
    const err = new TypeError("boom");
    expect(commandErrorText(err, false)).toContain("    at ");
    const expected = Object.assign(new Error("job_request.priority: must be >= 0"), {
      name: "ArmadaOperatorInputError",
    });
    expect(commandErrorText(expected, false)).toBe("job_request.priority: must be >= 0");
    expect(commandErrorText(expected, true)).toContain("    at ");
  });
});

describe("deferrable polling on the console", () => {
  const key = { dagId: "d", runId: "r", taskId: "t", mapIndex: -1, tryNumber: 1 };
  const ti = (state: string): RunnerEvent => ({ type: "ti", ...key, state: state as never });
  const log = (message: string): RunnerEvent => ({ type: "log", ...key, level: "info", message, tsMs: 0 });
  const cycle = (): RunnerEvent[] => [
    log(
      "Pausing task as DEFERRED (trigger armada.triggers.ArmadaPollJobTrigger, resume in _trigger_reentry)",
    ),
    ti("deferred"),
    log("Trigger fired: resuming task"),
    ti("scheduled"),
    ti("running"),
    log("Resuming t after deferral (try 1)"),
  ];

  function play(verbose: boolean) {
    let now = 0;
    const stderr = new Capture();
    const reporter = new ProgressReporter(
      { stdout: new Capture(), stderr },
      false,
      verbose,
      new DeferralCycleFilter(() => now, 5 * 60_000),
    );
    reporter.onEvent(ti("running"));
    reporter.onEvent(log("Armada job j is in state: QUEUED."));
    // 100 polls, one a minute, the job changing state once.
    for (let poll = 0; poll < 100; poll++) {
      for (const e of cycle()) reporter.onEvent(e);
      if (poll === 50) reporter.onEvent(log("Armada job j is in state: RUNNING."));
      now += 60_000;
    }
    reporter.onEvent(log("Armada job j terminated with state: SUCCEEDED"));
    reporter.onEvent(ti("success"));
    return stderr.text.trimEnd().split("\n");
  }

  it("is one line per change and a heartbeat every five minutes", () => {
    const lines = play(false);
    expect(lines.filter((l) => l.includes("Pausing task as DEFERRED"))).toHaveLength(1);
    expect(lines.filter((l) => l.includes("Trigger fired"))).toHaveLength(0);
    expect(lines.filter((l) => /try 1: (scheduled|running)/.test(l))).toHaveLength(1);
    expect(lines.filter((l) => l.includes("is in state:"))).toHaveLength(2);
    const beats = lines.filter((l) => l.includes("still deferred"));
    expect(beats.length).toBe(19);
    expect(beats[0]).toMatch(/try 1: still deferred, waiting 5 min/);
    expect(lines.at(-1)).toMatch(/try 1: success/);
    expect(lines.length).toBeLessThan(30);
  });

  it("shows every line with --verbose", () => {
    expect(play(true).filter((l) => l.includes("Trigger fired"))).toHaveLength(100);
  });
});

describe("through the CLI", () => {
  let server: DevServer;
  const dir = mkdtempSync(path.join(os.tmpdir(), "aa-failure-output-"));
  const sandbox = cliSandbox();
  const src = JSON.stringify(path.join(repoRoot, "src", "index.ts"));
  const file = (name: string, body: string) => {
    const f = path.join(dir, name);
    writeFileSync(f, `import { ArmadaOperator, BaseOperator, DAG } from ${src};\n${body}`);
    return f;
  };
  beforeAll(async () => {
    server = await startDevServer({ queues: ["q"] });
  });
  afterAll(async () => {
    await server.stop();
    sandbox.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  const failingJob = (dagId: string) =>
    file(
      `${dagId}.mts`,
      `new ArmadaOperator({ taskId: "t", dag: new DAG({ dagId: ${JSON.stringify(dagId)} }), name: "n", armadaQueue: "q",
  channelArgs: { target: ${JSON.stringify("TARGET")} }, pollInterval: 1,
  jobRequest: { namespace: "default", podSpec: { restartPolicy: "Never", containers: [{ name: "main", image: "busybox",
    command: ["sh", "-c"], args: ["echo about to fail; exit 1  # ${"padding ".repeat(20)}"],
    resources: { requests: { cpu: "100m", memory: "64Mi" }, limits: { cpu: "100m", memory: "64Mi" } } }] } } });
`.replace('"TARGET"', JSON.stringify(server.grpcTarget)),
    );

  it("a job that FAILED is one line; --verbose adds the stack", async () => {
    const quiet = await sandbox.run(["dags", "test", failingJob("fails_quietly"), "--run-id", "r1"]);
    expect(quiet.code).toBe(1);
    const failed = quiet.stderr.split("\n").filter((l) => l.includes("Task failed"));
    expect(failed).toEqual([
      expect.stringMatching(/Task failed: ArmadaOperatorJobFailedError: .*state 'Failed'/),
    ]);
    expect(quiet.stderr).not.toMatch(/ERROR\s+at \S/);

    const verbose = await sandbox.run(["dags", "test", failingJob("fails_verbosely"), "--verbose"]);
    expect(verbose.code).toBe(1);
    expect(verbose.stderr).toMatch(/ERROR\s+at \S/);
  }, 60_000);

  it("bad input found at render time is one line naming the field, and nothing is submitted", async () => {
    const f = file(
      "render_time.mts",
      `new ArmadaOperator({ taskId: "t", dag: new DAG({ dagId: "render_time" }), name: "n", armadaQueue: "q",
  channelArgs: { target: ${JSON.stringify(server.grpcTarget)} },
  jobRequest: { namespace: "default", priority: "{{ dag_run.conf.p }}", podSpec: { containers: [{ name: "main", image: "busybox" }] } } });
`,
    );
    const jobs = server.jobs().length;
    const res = await sandbox.run(["dags", "test", f, "--conf", '{"p": -5}']);
    expect(res.code).toBe(1);
    expect(res.stderr.split("\n").filter((l) => l.includes("Task failed"))).toEqual([
      expect.stringMatching(/Task failed: ArmadaOperatorInputError: job_request\.priority: .*>= 0/),
    ]);
    expect(res.stderr).not.toMatch(/ERROR\s+at \S/);
    expect(server.jobs()).toHaveLength(jobs);
  });

  it("xcom list cuts long values, --full and --json show them", async () => {
    const cut = await sandbox.run(["xcom", "list", "fails_quietly", "r1", "--key", "job_request"]);
    expect(cut.code).toBe(0);
    expect(cut.stdout).toMatch(/\.\.\. \(\d+ characters; --full shows all\)/);
    expect(cut.stdout).not.toContain("padding padding padding padding padding padding");
    const full = await sandbox.run(["xcom", "list", "fails_quietly", "r1", "--key", "job_request", "--full"]);
    expect(full.stdout).toContain("padding ".repeat(20).trim());
    expect(full.stdout).not.toContain("--full shows all");
    const json = await sandbox.run(["xcom", "list", "fails_quietly", "r1", "--key", "job_request", "--json"]);
    expect(json.stdout).toContain("padding ".repeat(20).trim());
  });

  it("a BigInt return value fails the task in one line, naming the XCom, and stores nothing", async () => {
    const f = file(
      "bigint.mts",
      `class Big extends BaseOperator { async execute() { return { count: 10n }; } }
new Big({ taskId: "big", dag: new DAG({ dagId: "bigint" }) });
`,
    );
    const res = await sandbox.run(["dags", "test", f, "--run-id", "b1"]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      /Task failed: RuntimeError: XCom "return_value" of task "big"\.count: cannot store the BigInt 10n .*return Number\(x\)/,
    );
    expect(res.stderr).not.toMatch(/ERROR\s+at \S/);
    const xcoms = await sandbox.run(["xcom", "list", "bigint", "b1", "--json"]);
    expect(JSON.parse(xcoms.stdout)).toEqual([]);
  });
});
