import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/main.js";
import { spawnSourceCli } from "../support/source-cli.js";

/** Bad command-line input: a clear error naming the flag or setting, a non-zero exit, and nothing created. */
const tmp = mkdtempSync(path.join(os.tmpdir(), "aa-cli-bad-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function cli(args: string[], env: NodeJS.ProcessEnv = { ARMADA_AIRFLOW_HOME: path.join(tmp, "home") }) {
  let out = "";
  const sink = new Writable({
    write(chunk, _enc, cb) {
      out += String(chunk);
      cb();
    },
  });
  const code = await runCli(args, { stdout: sink, stderr: sink, env, cwd: tmp });
  return { code, out };
}

describe("bad command-line input", () => {
  it.for([
    ["garbage://x", /scheme "garbage:" is not supported \(--db/],
    ["mysql://db.example/x", /scheme "mysql:" is not supported .*postgres:\/\//],
    ["sqlite:/nonexistent-aa/dir/x.db", /folder \/nonexistent-aa\/dir .*does not exist; create it/],
  ] as const)("--db %s is refused and creates nothing", async ([db, message]) => {
    const { code, out } = await cli(["runs", "list", "--db", db]);
    expect(code).not.toBe(0);
    expect(out).toMatch(message);
    expect(existsSync(path.join(tmp, "garbage:"))).toBe(false);
    expect(existsSync(path.join(tmp, "mysql:"))).toBe(false);
    expect(existsSync("/nonexistent-aa")).toBe(false);
  });

  it("ARMADA_AIRFLOW_HOME pointing at a file says so", async () => {
    const file = path.join(tmp, "not-a-folder");
    writeFileSync(file, "");
    const { code, out } = await cli(["runs", "list"], { ARMADA_AIRFLOW_HOME: file });
    expect(code).not.toBe(0);
    expect(out).toContain(`ARMADA_AIRFLOW_HOME (${file}) is a file, not a folder`);
    expect(out).not.toMatch(/EEXIST|at .*\.ts:\d+/);
  });

  it("runs list --state bogus names the allowed states", async () => {
    const { code, out } = await cli(["runs", "list", "--state", "bogus"]);
    expect(code).not.toBe(0);
    expect(out).toMatch(/--state must be one of queued, running, success, failed; got "bogus"/);
  });

  it("xcom list of a run that does not exist is an error", async () => {
    const { code, out } = await cli(["xcom", "list", "nope", "nope_run"]);
    expect(code).not.toBe(0);
    expect(out).toContain("no DAG run nope/nope_run");
  });

  it("--version prints the package version", async () => {
    const { code, out } = await cli(["--version"]);
    expect(code).toBe(0);
    expect(out.trim()).toBe("0.1.0");
  });

  it("a DAG file whose top-level await never settles fails at the load timeout, naming the file", async () => {
    const file = path.join(import.meta.dirname, "fixtures/never-loads.ts");
    const child = spawnSourceCli(["dags", "test", file], {
      ...process.env,
      ARMADA_AIRFLOW_HOME: path.join(tmp, "home-never"),
      ARMADA_AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT: "1",
    });
    try {
      const code = await child.exited;
      expect(code, child.output()).toBe(1);
      expect(child.output()).toMatch(
        /loading did not finish within 1s \(\[core\] dagbag_import_timeout\).*never-loads\.ts/,
      );
    } finally {
      child.kill("SIGKILL");
    }
  }, 60_000);
});
