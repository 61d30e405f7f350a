import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KyselyStore } from "armada-airflow/store";
import { startPostgres, type PostgresServer } from "../runtime/postgres-server.js";
import { cliSandbox } from "./support.js";

let pg: PostgresServer | undefined;
const sb = cliSandbox();
beforeAll(async () => {
  // No skipping: without PostgreSQL binaries this fails with the reason.
  pg = await startPostgres();
}, 120_000);
afterAll(async () => {
  await pg?.stop();
  sb.dispose();
});

describe("CLI on PostgreSQL", () => {
  it("two runners resuming at once share the queued runs; every task runs exactly once", async () => {
    const db = await pg!.createDatabase("cli_multi");
    for (let i = 0; i < 4; i++) {
      const t = await sb.run(["dags", "trigger", "examples/dags/runtime-mapped.ts", "--run-id", `run-${i}`, "--conf", `{"count": ${i + 1}}`, "--db", db]);
      expect(t.code, t.stderr).toBe(0);
    }
    const [a, b] = await Promise.all([sb.run(["resume", "--db", db, "--json"]), sb.run(["resume", "--db", db, "--json"])]);
    expect([a.code, b.code], a.stderr + b.stderr).toEqual([0, 0]);
    const driven = [...(JSON.parse(a.stdout) as { runId: string }[]), ...(JSON.parse(b.stdout) as { runId: string }[])].map((r) => r.runId);
    expect(driven.sort()).toEqual(["run-0", "run-1", "run-2", "run-3"]);
    const store = await KyselyStore.open({ url: db, home: sb.home });
    try {
      for (let i = 0; i < 4; i++) {
        expect((await store.getDagRun("runtime_mapped", `run-${i}`))!.state).toBe("success");
        const tis = await store.listTaskInstances("runtime_mapped", `run-${i}`);
        expect(tis.filter((t) => t.taskId === "square")).toHaveLength(i + 1);
        expect(tis.every((t) => t.tryNumber === 1 && t.state === "success")).toBe(true);
      }
    } finally {
      await store.close();
    }
  });
});
