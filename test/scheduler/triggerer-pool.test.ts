/**
 * The triggerer's triggers run in its runner's scope: the hooks they make
 * use that runner's Armada connection pool (closed when the triggerer
 * stops), and they read the triggerer's config (its `rpc_deadline_s`, which
 * the Armada trigger's hook takes), not process.env's. In-process, on SQLite.
 */
import { status } from "@grpc/grpc-js";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { GrpcChannelArgs } from "../../src/client/channel-args.js";
import { ArmadaConnectionPool } from "../../src/operator/connection-pool.js";
import { ArmadaHook } from "../../src/operator/hook.js";
import { BaseOperator, type Context } from "../../src/runtime/index.js";
import { DAG } from "../../src/runtime/dag.js";
import { currentRuntimeConfig, resolveRuntimeConfig } from "../../src/runtime/runtime-config.js";
import { BaseTrigger, registerTrigger, TriggerEvent } from "../../src/runtime/trigger.js";
import { schedulerWithTriggerer } from "./support.js";

const CLASSPATH = "tests.triggerer_pool.PoolTrigger";

/** What the trigger saw where it ran. */
const seen: { pool: ArmadaConnectionPool; client: ArmadaHook["client"]; rpcDeadlineS: number }[] = [];

class PoolTrigger extends BaseTrigger {
  serialize(): [string, Record<string, unknown>] {
    return [CLASSPATH, {}];
  }
  async *run(): AsyncIterable<TriggerEvent> {
    const hook = new ArmadaHook(new GrpcChannelArgs({ target: "127.0.0.1:1" }));
    seen.push({
      pool: hook.pool,
      client: hook.client,
      rpcDeadlineS: currentRuntimeConfig().armada_operator.rpc_deadline_s,
    });
    yield new TriggerEvent({ fired: true });
  }
}
registerTrigger(CLASSPATH, () => new PoolTrigger());

class Deferring extends BaseOperator {
  async execute(): Promise<unknown> {
    this.defer({ trigger: new PoolTrigger(), methodName: "resumed" });
  }
  async resumed(_context: Context, event: unknown): Promise<unknown> {
    return event;
  }
}

let dispose: (() => Promise<void>) | undefined;
afterEach(async () => {
  await dispose?.();
  dispose = undefined;
  seen.length = 0;
});

describe("the triggerer's runner scope", () => {
  it("a trigger's hook uses the triggerer's pool, closed at release, and reads the triggerer's config", async () => {
    const config = resolveRuntimeConfig({
      env: {
        ARMADA_AIRFLOW_HOME: path.join(os.tmpdir(), "aa-no-such-home"),
        ARMADA_AIRFLOW__ARMADA_OPERATOR__RPC_DEADLINE_S: "7",
      },
    });
    const s = await schedulerWithTriggerer(config);
    dispose = s.dispose;
    const dag = new DAG({ dagId: "deferring" });
    new Deferring({ dag, taskId: "t" });
    await s.scheduler.createDagRun(dag, { runId: "r" });
    expect(await s.scheduler.runDagRun(dag, "r")).toBe("success");
    const pool = ArmadaConnectionPool.of(s.triggerer.runner);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.pool).toBe(pool);
    expect(seen[0]!.rpcDeadlineS).toBe(7);
    expect(pool.channels().map((c) => c.client)).toEqual([seen[0]!.client]);
    await s.release();
    expect(pool.closed).toBe(true);
    const closed = await seen[0]!.client.getJobStatus({ jobIds: ["x"] }).then(
      () => "answered",
      (err: unknown) => (err as { code?: number }).code,
    );
    expect(closed).toBe(status.FAILED_PRECONDITION);
  });
});
