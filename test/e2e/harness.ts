/**
 * End-to-end harness: a dev server and a task runner in this process, both
 * on one ManualClock that moves only while something waits on it, and a
 * SQLite store in a temp dir.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { GrpcChannelArgs } from "../../src/client/channel-args.js";
import { ManualClock } from "../../src/common/clock.js";
import { startDevServer, type DevServer, type DevServerOptions } from "../../src/testing/index.js";
import { ArmadaOperator, type ArmadaOperatorOptions } from "../../src/operator/armada-operator.js";
import { ArmadaConnectionPool } from "../../src/operator/connection-pool.js";
import { ArmadaHook, type ArmadaHookOptions } from "../../src/operator/hook.js";
import { DAG } from "../../src/runtime/dag.js";
import { Runner, type RunnerEvent } from "../../src/runtime/runner.js";
import type { RuntimeConfig } from "../../src/runtime/runtime-config.js";
import { KyselyStore } from "../../src/runtime/store/kysely-store.js";

export interface Env {
  clock: ManualClock;
  server: DevServer;
  store: KyselyStore;
  runner: Runner;
  /** The runner's Armada connection pool (its tasks' and triggers' clients; closed when the runner stops). */
  readonly pool: ArmadaConnectionPool;
  events: RunnerEvent[];
  kubeConfig: KubeConfig;
  channelArgs: GrpcChannelArgs;
  /** While false, the clock is not moved (to let a real-time deadline pass first). */
  flowing: boolean;
  operator(taskId: string, dag: DAG, overrides?: Partial<ArmadaOperatorOptions>): ArmadaOperator;
  /** Runs a DAG to its end while time flows (in `by`, default the env's runner); returns the run state. */
  run(dag: DAG, runId?: string, by?: Runner): Promise<string>;
  logLines(taskId?: string): string[];
  xcom(dagId: string, runId: string, taskId: string, key: string): Promise<unknown>;
  stop(): Promise<void>;
}

export async function startEnv(
  o: { server?: DevServerOptions; hook?: ArmadaHookOptions; stepMs?: number; config?: RuntimeConfig } = {},
): Promise<Env> {
  const clock = new ManualClock(Date.UTC(2024, 0, 1));
  const server = await startDevServer({ clock, queues: ["test_queue_1"], ...o.server });
  const dir = mkdtempSync(path.join(os.tmpdir(), "aa-e2e-"));
  const store = await KyselyStore.open({ home: dir });
  const events: RunnerEvent[] = [];
  const runner = new Runner({
    store,
    clock,
    heartbeatMs: 20,
    onEvent: (e) => events.push(e),
    ...(o.config ? { config: o.config } : {}),
  });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(server.kubeconfig());
  const channelArgs = new GrpcChannelArgs({ target: server.grpcTarget });
  const stepMs = o.stepMs ?? 250;
  let pumping = 0;
  const env: Env = {
    clock,
    server,
    store,
    runner,
    get pool() {
      return ArmadaConnectionPool.of(runner);
    },
    events,
    kubeConfig,
    channelArgs,
    flowing: true,
    operator(taskId, dag, overrides = {}) {
      return new ArmadaOperator({
        dag,
        taskId,
        name: taskId,
        channelArgs,
        armadaQueue: "test_queue_1",
        lookoutUrlTemplate: server.lookoutUrlTemplate,
        kubeConfig,
        pollInterval: 2,
        jobAcknowledgementTimeout: 60,
        retries: 0,
        hookFactory: (args, c) => new ArmadaHook(args, { clock: c, submitLookupIntervalMs: 500, ...o.hook }),
        jobRequest: {
          namespace: "default",
          podSpec: {
            containers: [
              {
                name: "main",
                image: "busybox:1.36",
                command: ["sh", "-c"],
                args: ["echo hello from {{ ti.task_id }} && sleep 3 && echo bye"],
                resources: {
                  requests: { cpu: "100m", memory: "64Mi" },
                  limits: { cpu: "100m", memory: "64Mi" },
                },
              },
            ],
          },
        },
        ...overrides,
      });
    },
    async run(dag, runId = "test_run_1", by = runner) {
      await by.createDagRun(dag, { runId });
      pumping++;
      const pump = (async () => {
        while (pumping > 0) {
          if (env.flowing && clock.pendingSleepers > 0) clock.advance(stepMs);
          await new Promise((r) => setImmediate(r));
        }
      })();
      // No real-time bound of its own: a loaded machine may need long. A
      // broken test is stopped by its test timeout, after which `stop()` (in
      // the tests' afterEach) shuts the runner down and this run returns.
      try {
        return await by.runDagRun(dag, runId);
      } finally {
        pumping--;
        await pump;
      }
    },
    logLines(taskId) {
      return events
        .filter(
          (e): e is Extract<RunnerEvent, { type: "log" }> =>
            e.type === "log" && (!taskId || e.taskId === taskId),
        )
        .map((e) => e.message);
    },
    async xcom(dagId, runId, taskId, key) {
      const rows = await store.listXComs({ dagId, runId, taskIds: [taskId], key });
      const last = rows.sort((a, b) => a.tryNumber - b.tryNumber).at(-1);
      return last ? JSON.parse(last.value) : undefined;
    },
    async stop() {
      await runner.shutdown("test over").catch(() => {});
      await runner.stop();
      await store.close();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return env;
}
