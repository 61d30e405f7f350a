/**
 * Settings reach a command through `runCli`'s own `env`, never through
 * process.env: the DAG file's constructors, the runner and the running task
 * all see the config the CLI call resolved, and the next call with another
 * env sees its own.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { repoRoot } from "../support/source-cli.js";
import { cliSandbox } from "./support.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "aa-cli-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let sb: ReturnType<typeof cliSandbox>;
beforeEach(() => {
  sb = cliSandbox();
});
afterEach(() => sb.dispose());

const SETTINGS = {
  ARMADA_AIRFLOW__CORE__PARALLELISM: "3",
  ARMADA_AIRFLOW__CORE__DEFAULT_TASK_RETRIES: "2",
  AIRFLOW__CORE__DEFAULT_TIMEZONE: "Europe/Paris",
  ARMADA_AIRFLOW__ARMADA_OPERATOR__TRACKING: "poll",
};

/**
 * A DAG file (a new one each time: a loaded file is cached) whose one task
 * returns what it saw: its defaults, taken when the file loaded, and the
 * runner's settings on its context, read when it ran.
 */
function probeDag(dagId: string): string {
  const file = path.join(dir, `${dagId}.ts`);
  writeFileSync(
    file,
    `import { BaseOperator, DAG } from ${JSON.stringify(path.join(repoRoot, "src", "index.ts"))};
class Probe extends BaseOperator {
  async execute(context) {
    return {
      retries: this.retries,
      timezone: context.dag.timezone,
      parallelism: context.runtimeConfig.core.parallelism,
      tracking: context.runtimeConfig.armada_operator.tracking,
    };
  }
}
new Probe({ taskId: "probe", dag: new DAG({ dagId: ${JSON.stringify(dagId)} }) });
`,
  );
  return file;
}

async function probed(dagId: string): Promise<unknown> {
  const runs = JSON.parse((await sb.run(["runs", "list", "--json"])).stdout) as {
    dagId: string;
    runId: string;
  }[];
  const run = runs.find((r) => r.dagId === dagId)!;
  const xcom = await sb.run(["xcom", "list", dagId, run.runId, "--task-id", "probe", "--json"]);
  return (JSON.parse(xcom.stdout) as { key: string; value: unknown }[]).find((x) => x.key === "return_value")
    ?.value;
}

describe("config given in runCli's env", () => {
  it("reaches the DAG file's constructors and the running task, with process.env untouched", async () => {
    for (const key of Object.keys(SETTINGS)) expect(process.env[key], key).toBeUndefined();
    const r = await sb.runWith(["dags", "test", probeDag("configured"), "--json"], SETTINGS);
    expect(r.code, r.stderr).toBe(0);
    expect(await probed("configured")).toEqual({
      retries: 2,
      timezone: "Europe/Paris",
      parallelism: 3,
      tracking: "poll",
    });
    for (const key of Object.keys(SETTINGS)) expect(process.env[key], key).toBeUndefined();

    // The next call, without them, sees the defaults: nothing stayed behind.
    const plain = await sb.run(["dags", "test", probeDag("plain"), "--json"]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(await probed("plain")).toEqual({ retries: 0, timezone: "UTC", parallelism: 32, tracking: "events" });
  });

  it("refuses a bad value from that env, naming the key and the variable", async () => {
    const r = await sb.runWith(["dags", "test", probeDag("bad_value")], {
      AIRFLOW__CORE__DEFAULT_TASK_RETRIES: "twice",
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/config core\.default_task_retries must be a number, got "twice"/);
    expect(r.stderr).toContain("env AIRFLOW__CORE__DEFAULT_TASK_RETRIES");
    expect(r.stderr).toContain("ARMADA_AIRFLOW__CORE__DEFAULT_TASK_RETRIES");
  });
});
