/**
 * ArmadaConnectionPool: one channel (client and batchers) per channel
 * arguments, clock and deadline; closing it closes every client and refuses
 * new channels. Hooks find their runner's pool, else the process default
 * pool, which closeArmadaHookClients replaces. No server is needed: a
 * client connects on its first call, and a closed one refuses calls at once.
 */
import { status } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { GrpcChannelArgs } from "../../src/client/channel-args.js";
import { ManualClock, systemClock } from "../../src/common/clock.js";
import { ArmadaAirflowError } from "../../src/common/armada-airflow-error.js";
import { ArmadaOperator } from "../../src/operator/armada-operator.js";
import { ArmadaConnectionPool } from "../../src/operator/connection-pool.js";
import { ArmadaHook, closeArmadaHookClients } from "../../src/operator/hook.js";
import { DAG } from "../../src/runtime/dag.js";
import { RunnerResources, withRunnerResources } from "../../src/runtime/runner-resources.js";

afterEach(() => closeArmadaHookClients());

const args = () => new GrpcChannelArgs({ target: "127.0.0.1:1" });

/** The gRPC code a call on `client` fails with ("ok" if it answers). */
async function answer(client: ArmadaHook["client"]): Promise<string | number> {
  return client.getJobStatus({ jobIds: ["x"] }, { deadlineMs: 50 }).then(
    () => "ok",
    (err: unknown) => (err as { code?: number }).code ?? String(err),
  );
}

describe("ArmadaConnectionPool", () => {
  it("shares a channel for equal arguments, clock and deadline only", () => {
    const pool = new ArmadaConnectionPool();
    const a = pool.channelFor(args(), systemClock, 30_000);
    expect(pool.channelFor(args(), systemClock, 30_000)).toBe(a);
    expect(pool.channelFor(args(), systemClock, 500)).not.toBe(a);
    expect(pool.channelFor(args(), new ManualClock(), 30_000)).not.toBe(a);
    expect(pool.channels()).toHaveLength(3);
    pool.close();
  });

  it("close() closes every client, is idempotent, and refuses new channels", async () => {
    const pool = new ArmadaConnectionPool();
    const clients = [
      pool.channelFor(args(), systemClock, 30_000),
      pool.channelFor(args(), systemClock, 9),
    ].map((c) => c.client);
    pool.close();
    pool.close();
    expect(pool.closed).toBe(true);
    expect(pool.channels()).toEqual([]);
    for (const c of clients) expect(await answer(c)).toBe(status.FAILED_PRECONDITION);
    const refused = (() => {
      try {
        pool.channelFor(args(), systemClock, 30_000);
      } catch (err) {
        return err;
      }
    })();
    expect(refused).toBeInstanceOf(ArmadaAirflowError);
    expect(refused).toMatchObject({ errorCode: "failed_precondition" });
  });
});

describe("which pool a hook uses", () => {
  it("the runner's whose scope it is made in, else the process default; a given pool wins", () => {
    const resources = new RunnerResources();
    const runnerPool = withRunnerResources(resources, () => new ArmadaHook(args()).pool);
    expect(runnerPool).toBe(ArmadaConnectionPool.of({ resources }));
    const outside = new ArmadaHook(args()).pool;
    expect(outside).not.toBe(runnerPool);
    expect(ArmadaConnectionPool.current()).toBe(outside);
    const own = new ArmadaConnectionPool();
    expect(withRunnerResources(resources, () => new ArmadaHook(args(), { pool: own }).pool)).toBe(own);
    own.close();
  });

  it("closing the runner's resources closes its pool: the hook then says so", async () => {
    const resources = new RunnerResources();
    const hook = withRunnerResources(resources, () => new ArmadaHook(args()));
    const client = hook.client;
    await resources.close();
    expect(await answer(client)).toBe(status.FAILED_PRECONDITION);
    expect(() => hook.client).toThrow(/connection pool for 127\.0\.0\.1:1 is closed/);
  });

  it("closeArmadaHookClients closes the default pool's clients; hooks without a pool go on with fresh ones", async () => {
    const hook = new ArmadaHook(args());
    const before = hook.client;
    closeArmadaHookClients();
    expect(await answer(before)).toBe(status.FAILED_PRECONDITION);
    expect(hook.client).not.toBe(before);
    expect(await answer(hook.client)).not.toBe(status.FAILED_PRECONDITION);
  });

  it("an operator's hook follows the pool: after its pool closed, the next use makes one in the current pool", async () => {
    const dag = new DAG({ dagId: "d" });
    const op = new ArmadaOperator({
      dag,
      taskId: "t",
      name: "t",
      channelArgs: args(),
      armadaQueue: "q",
      jobRequest: { podSpec: { containers: [{ name: "main", image: "busybox" }] } },
    });
    const first = op.hook as ArmadaHook;
    expect(op.hook).toBe(first);
    closeArmadaHookClients();
    const next = op.hook as ArmadaHook;
    expect(next).not.toBe(first);
    expect(next.pool.closed).toBe(false);
    expect(await answer(next.client)).not.toBe(status.FAILED_PRECONDITION);
  });
});
