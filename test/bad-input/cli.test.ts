/**
 * Bad flags, arguments and settings of the `armada-airflow` command: each
 * exits non-zero with an error naming the flag or setting (one line, no
 * stack trace), the dev server receives nothing and the store is unchanged.
 * Every case runs in-process; the `spawn` subset also as a real process.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import { startDevServer, type DevServer } from "../../src/testing/index.js";
import { cliSandbox } from "../cli/support.js";
import { repoRoot, runSourceCli } from "../support/source-cli.js";
import { CLI_CASES, type CliInput } from "./cases/cli.js";
import { each, expectNamesField, type BadInput } from "./table.js";

const src = JSON.stringify(path.join(repoRoot, "src", "index.ts"));
const FIXTURES: Record<string, string> = {
  noop: `import { BaseOperator, DAG } from ${src};
class Noop extends BaseOperator { async execute() { return null; } }
new Noop({ taskId: "t", dag: new DAG({ dagId: "noop" }) });
`,
  armada: `import { ArmadaOperator, DAG } from ${src};
new ArmadaOperator({ taskId: "t", dag: new DAG({ dagId: "armada" }), name: "n", armadaQueue: "q",
  channelArgs: { target: process.env.ARMADA_TARGET }, jobRequest: "namespace: default\\npodSpec:\\n  containers: [{ name: main, image: busybox }]\\n" });
`,
  environment: `import { ArmadaOperator, DAG, armadaEnvironment } from ${src};
const armada = await armadaEnvironment();
new ArmadaOperator({ taskId: "t", dag: new DAG({ dagId: "environment" }), name: "n", armadaQueue: armada.armadaQueue,
  channelArgs: armada.channelArgs, jobRequest: { namespace: "default", podSpec: { containers: [{ name: "main", image: "busybox" }] } } });
`,
};

let server: DevServer;
const tmp = mkdtempSync(path.join(os.tmpdir(), "aa-bad-cli-"));
const sandbox = cliSandbox();
beforeAll(async () => {
  server = await startDevServer({ clock: new ManualClock(), queues: ["q"] });
  writeFileSync(path.join(tmp, "bad.cfg"), "garbage line\n[core]\n");
});
afterAll(async () => {
  await server.stop();
  sandbox.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

let caseNo = 0;
/** The case's argv and env with its placeholders filled; DAG fixtures are fresh files (DAG loads are cached by path). */
function materialize(input: CliInput): { argv: string[]; env: Record<string, string> } {
  const dir = path.join(tmp, `case-${caseNo++}`);
  mkdirSync(dir);
  const fill = (s: string) =>
    s
      .replace(/<(noop|armada|environment)>/g, (_m, name: string) => {
        const file = path.join(dir, `${name}.mts`);
        writeFileSync(file, FIXTURES[name]!);
        return file;
      })
      .replace(/<tmp>/g, tmp);
  const env = Object.fromEntries(Object.entries(input.env ?? {}).map(([k, v]) => [k, fill(v)]));
  return { argv: input.argv.map(fill), env: { ARMADA_TARGET: server.grpcTarget, ...env } };
}

/** Sets `env` in process.env while `fn` runs: DAG files and constructors read it there. */
async function withEnv<T>(env: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.keys(env).map((k) => [k, process.env[k]] as const);
  Object.assign(process.env, env);
  try {
    return await fn();
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** What the store and the dev server hold: a refused command changes neither. */
async function state() {
  const runs = await sandbox.run(["runs", "list", "--json"]);
  return { runs: runs.stdout, jobs: server.jobs().length, submits: server.callCounts().SubmitJobs ?? 0 };
}

function expectRefused(code: number | null, output: string, c: BadInput<CliInput>): void {
  expect(code, output).not.toBe(0);
  expect(code, output).not.toBeNull();
  const error = output.split("\n").find((l) => /\berror\b|ERROR/.test(l)) ?? output;
  expectNamesField(output, c);
  expect(error.length).toBeGreaterThan(0);
  expect(output, "no stack trace").not.toMatch(/^\s+at \S+ \(/m);
}

describe("the CLI refuses bad flags and settings (in-process)", () => {
  it.each(each(CLI_CASES))("%s", async (_name, c) => {
    const { argv, env } = materialize(c.input);
    const before = await state();
    const res = await withEnv(env, () =>
      // runCli reads its own env: the sandbox's home plus the case's settings.
      sandbox.runWith(argv, env),
    );
    expectRefused(res.code, res.stdout + res.stderr, c);
    expect(await state()).toEqual(before);
  });
});

describe("the CLI refuses bad flags and settings (a spawned process, a subset)", () => {
  it.each(each({ ...CLI_CASES, cases: CLI_CASES.cases.filter((c) => c.input.spawn) }))(
    "%s",
    async (_name, c) => {
      const { argv, env } = materialize(c.input);
      const before = await state();
      const res = await runSourceCli(argv, { ...process.env, ARMADA_AIRFLOW_HOME: sandbox.home, ...env });
      expectRefused(res.code, res.output, c);
      expect(await state()).toEqual(before);
    },
    60_000,
  );
});
