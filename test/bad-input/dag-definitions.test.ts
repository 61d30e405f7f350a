/**
 * Mistakes in a DAG file stop it from loading: `dags test` exits 1 with one
 * line naming the field and the fix (no stack trace), no DAG run is created
 * and the dev server receives nothing.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import { startDevServer, type DevServer } from "../../src/testing/index.js";
import { cliSandbox } from "../cli/support.js";
import { repoRoot } from "../support/source-cli.js";
import { DAG_DEFINITION_CASES, dagFileSource } from "./cases/dag-definitions.js";
import { each, expectNamesField } from "./table.js";

let server: DevServer;
const dir = mkdtempSync(path.join(os.tmpdir(), "aa-bad-dags-"));
const sandbox = cliSandbox();
const savedTarget = process.env.ARMADA_TARGET;
beforeAll(async () => {
  server = await startDevServer({ clock: new ManualClock(), queues: ["q"] });
  // The DAG files' ArmadaOperators read it; nothing may reach it.
  process.env.ARMADA_TARGET = server.grpcTarget;
});
afterAll(async () => {
  if (savedTarget === undefined) delete process.env.ARMADA_TARGET;
  else process.env.ARMADA_TARGET = savedTarget;
  await server.stop();
  sandbox.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe("a DAG file with a definition mistake does not load", () => {
  it.each(each(DAG_DEFINITION_CASES))("%s", async (name, c) => {
    const file = path.join(dir, `${name.replace(/[^A-Za-z0-9]+/g, "_")}.ts`);
    writeFileSync(file, dagFileSource(path.join(repoRoot, "src", "index.ts"), c.input.body));
    const jobsBefore = server.jobs().length;
    // The case's settings go in the CLI's own env: the DAG file's constructors see the config it resolved.
    const res = await sandbox.runWith(["dags", "test", file], c.input.env ?? {});
    expect(res.code, res.stderr).toBe(1);
    const line = res.stderr.trim();
    expect(line.split("\n"), "one line, no stack trace").toHaveLength(1);
    expectNamesField(line, c);
    expect(line, "the file the fix goes in").toContain(file);
    expect(server.jobs()).toHaveLength(jobsBefore);
    expect(server.callCounts().SubmitJobs ?? 0).toBe(0);
    const runs = await sandbox.run(["runs", "list", "--json"]);
    expect(JSON.parse(runs.stdout)).toEqual([]);
  });
});
