/**
 * `@kubernetes/client-node` (about 65 MiB) is loaded only when a pod log or a
 * kubeconfig needs it: a runner whose Armada tasks read no container log
 * never loads it, and one whose task does, does. Checked in a real CLI
 * process, with a module-resolution hook that records what it resolves.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startDevServer, type DevServer } from "../../src/testing/index.js";
import { killProcesses, runTracked } from "../support/child-processes.js";
import { repoRoot, sourceCliArgs } from "../support/source-cli.js";
import { armadaFleetDag } from "../scheduler/support.js";

let server: DevServer;
let dir: string;
beforeAll(async () => {
  server = await startDevServer({ queues: ["default"] });
  dir = mkdtempSync(path.join(os.tmpdir(), "aa-lazy-k8s-"));
  // Resolution hooks run off the main thread: each resolved URL is appended to a file named by env.
  writeFileSync(
    path.join(dir, "record-hooks.mjs"),
    `import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  if (process.env.RECORD_RESOLVED) appendFileSync(process.env.RECORD_RESOLVED, r.url + "\\n");
  return r;
}
`,
  );
  writeFileSync(
    path.join(dir, "record.mjs"),
    `import { register } from "node:module";
register(${JSON.stringify(`file://${path.join(dir, "record-hooks.mjs")}`)});
`,
  );
}, 60_000);
afterEach(() => killProcesses());
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the DAG with the CLI and returns whether client-node was resolved, with the run's output. */
async function run(dagId: string, withLogs: boolean) {
  const kubeconfigFile = path.join(dir, "kubeconfig");
  writeFileSync(kubeconfigFile, server.kubeconfig());
  const dagFile = path.join(dir, `${dagId}.mts`);
  writeFileSync(
    dagFile,
    armadaFleetDag({ dagId, schedule: "", width: 1, sleepS: 0, containerLogs: withLogs }),
  );
  const record = path.join(dir, `${dagId}.resolved`);
  writeFileSync(record, "");
  const r = await runTracked(
    process.execPath,
    ["--import", path.join(dir, "record.mjs"), ...sourceCliArgs(["dags", "test", dagFile])],
    {
      cwd: repoRoot,
      env: {
        ...process.env,
        ARMADA_TARGET: server.grpcTarget,
        ARMADA_QUEUE: "default",
        ARMADA_AIRFLOW_HOME: path.join(dir, `home-${dagId}`),
        RECORD_RESOLVED: record,
        // The dev server's pod-log API, for the task that reads its container log.
        KUBECONFIG: kubeconfigFile,
      },
    },
  );
  const resolved = readFileSync(record, "utf8").split("\n");
  return { ...r, resolved, loadedClientNode: resolved.some((u) => u.includes("@kubernetes/client-node")) };
}

describe("@kubernetes/client-node is loaded lazily", () => {
  it(
    "a run of Armada tasks without container logs never loads it; one with them does",
    { timeout: 120_000 },
    async () => {
      const plain = await run("no_logs", false);
      expect(plain.code, plain.output).toBe(0);
      expect(plain.output).toMatch(/success/);
      // The hook saw the run's modules (the operator among them), so an absence means something.
      expect(plain.resolved.some((u) => u.includes("armada-operator"))).toBe(true);
      expect(plain.loadedClientNode).toBe(false);

      const logged = await run("with_logs", true);
      expect(logged.code, logged.output).toBe(0);
      expect(logged.output).toContain("[main] 0"); // the job's echo of its map index
      expect(logged.loadedClientNode).toBe(true);
    },
  );
});
