/**
 * Each runner owns its Armada connection pool: its tasks and triggers share
 * one client per channel, the trigger asking for the same channel as its
 * task (the configured `rpc_deadline_s`), and the runner closes every client
 * and stream of the pool when it stops. Two runners in one process never
 * share a client. Against the dev server, on the harness's ManualClock.
 */
import { status } from "@grpc/grpc-js";
import path from "node:path";
import os from "node:os";
import { afterEach, describe, expect, it } from "vitest";
import { ArmadaConnectionPool } from "../../src/operator/connection-pool.js";
import { ArmadaHook, closeArmadaHookClients } from "../../src/operator/hook.js";
import { DAG } from "../../src/runtime/dag.js";
import { Runner } from "../../src/runtime/runner.js";
import { resolveRuntimeConfig } from "../../src/runtime/runtime-config.js";
import { startEnv, type Env } from "./harness.js";

let env: Env | undefined;
const runners: Runner[] = [];
afterEach(async () => {
  for (const r of runners.splice(0)) await r.stop();
  await env?.stop();
  env = undefined;
  closeArmadaHookClients();
});

/** What a call on a client answers: "ok", or the gRPC code it failed with. */
async function answer(client: {
  getJobStatus(r: { jobIds: string[] }): Promise<unknown>;
}): Promise<string | number> {
  return client.getJobStatus({ jobIds: ["none"] }).then(
    () => "ok",
    (err: unknown) => (err as { code?: number }).code ?? String(err),
  );
}

/** A config where nothing but `env` is set (no config file is read). */
function configWith(env: Record<string, string>) {
  return resolveRuntimeConfig({
    env: { ARMADA_AIRFLOW_HOME: path.join(os.tmpdir(), "aa-no-such-home"), ...env },
  });
}

describe("the runner's Armada connection pool", () => {
  it("a deferred task and its trigger share one channel, with the configured rpc_deadline_s; stop closes it", async () => {
    const e = (env = await startEnv({
      config: configWith({ ARMADA_AIRFLOW__ARMADA_OPERATOR__RPC_DEADLINE_S: "7" }),
    }));
    const dag = new DAG({ dagId: "pooled" });
    // No hookFactory: the operator makes its hook from the runner's settings, as in production.
    e.operator("t", dag, { deferrable: true, tracking: "events", hookFactory: undefined });
    expect(await e.run(dag)).toBe("success");
    expect(e.logLines("t").some((l) => l.includes("Pausing task"))).toBe(true);

    const pool = e.pool;
    // One channel: the trigger asked for the task's deadline (with the default 30 s it would have opened a second).
    expect(pool.channels().map((c) => c.deadlineMs)).toEqual([7000]);
    const [channel] = pool.channels();
    expect(await answer(channel!.client)).toBe("ok");

    await e.runner.stop();
    expect(pool.closed).toBe(true);
    expect(pool.channels()).toEqual([]);
    expect(channel!.watches.openStreams).toBe(0);
    expect(await answer(channel!.client)).toBe(status.FAILED_PRECONDITION);
    // A hook kept past its runner's stop says so instead of opening a connection nobody closes.
    expect(() => new ArmadaHook(e.channelArgs, { pool, clock: e.clock }).client).toThrow(
      /connection pool .* is closed \(its runner stopped\)/,
    );
  });

  it("two runners in one process do not share clients; an operator run by the second uses the second's", async () => {
    const e = (env = await startEnv());
    const dag = new DAG({ dagId: "two_runners" });
    e.operator("t", dag);
    expect(await e.run(dag, "first")).toBe("success");
    const first = e.pool;
    const [firstChannel] = first.channels();
    expect(first.channels()).toHaveLength(1);
    await e.runner.stop();
    expect(await answer(firstChannel!.client)).toBe(status.FAILED_PRECONDITION);

    // The same DAG object (and operator instance) in another runner: its hook is made again, in that runner's pool.
    const second = new Runner({ store: e.store, clock: e.clock, heartbeatMs: 20 });
    runners.push(second);
    expect(await e.run(dag, "second", second)).toBe("success");
    const pool = ArmadaConnectionPool.of(second);
    expect(pool).not.toBe(first);
    expect(pool.channels()).toHaveLength(1);
    expect(pool.channels()[0]!.client).not.toBe(firstChannel!.client);
    expect(await answer(pool.channels()[0]!.client)).toBe("ok");
    // Nor with hooks made outside any runner (the process default pool).
    expect(new ArmadaHook(e.channelArgs, { clock: e.clock }).pool).not.toBe(pool);
    await second.stop();
    expect(pool.closed).toBe(true);
  });
});
