import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { runCli } from "../../src/cli/main.js";
import type { ManualClock } from "../../src/common/clock.js";
import { systemClock } from "../../src/common/clock.js";
import { Runner } from "../../src/runtime/runner.js";
import { resolveRuntimeConfig, type RuntimeConfig } from "../../src/runtime/runtime-config.js";
import { TriggererService } from "../../src/scheduler/triggerer-service.js";
import { Capture } from "../cli/support.js";
import { tempSqliteStore } from "../runtime/support.js";
import { sleepUntil } from "../support/sleep-until.js";

/** The package entry, for DAG files written outside the repository. */
export const srcIndex = path.resolve(import.meta.dirname, "../../src/index.ts");

/**
 * A DAG file of `width` deferrable Armada tasks (mapped), each job echoing its map index and sleeping
 * `sleepS`, on the schedule given (a TypeScript expression, or "" for none), against the environment's Armada.
 */
export function armadaFleetDag(o: {
  dagId: string;
  schedule: string;
  width: number;
  sleepS: number;
  /** Stream the container's log into the task log (needs a kubeconfig for the server's pod-log API). */
  containerLogs?: boolean;
}): string {
  return `import { ArmadaOperator, DAG, armadaEnvironment } from ${JSON.stringify(srcIndex)};
const armada = await armadaEnvironment();
export const dag = new DAG({ dagId: ${JSON.stringify(o.dagId)}, ${o.schedule} });
new ArmadaOperator({
  dag,
  taskId: "job",
  name: "job",
  channelArgs: armada.channelArgs,
  armadaQueue: armada.armadaQueue,
  deferrable: true,
  pollInterval: 1,${o.containerLogs ? '\n  containerLogs: "main",' : ""}
  jobRequest: {
    namespace: "default",
    podSpec: {
      containers: [{
        name: "main",
        image: "busybox:1.36",
        command: ["sh", "-c"],
        args: ["echo {{ ti.map_index }} && sleep ${o.sleepS}"],
        resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "10m", memory: "16Mi" } },
      }],
    },
  },
}).expand({ name: Array.from({ length: ${o.width} }, (_, i) => "job-" + i) });
`;
}

/**
 * A DAG file body: an operator `Report` that returns what it sees of its run
 * (dates, data interval, macros), and whatever `body` adds.
 */
export function dagFile(body: string): string {
  return `import { BaseOperator, DAG, type Context } from ${JSON.stringify(srcIndex)};
class Report extends BaseOperator {
  msg: unknown = "{{ ds }}|{{ ts }}|{{ data_interval_start }}|{{ data_interval_end }}|{{ logical_date }}";
  override templateFields = ["msg"];
  async execute(ctx: Context) {
    return this.msg;
  }
}
void Report;
${body}
`;
}

/** A home, a DAGs folder, and the CLI in-process against them with short scheduler periods. */
export function schedulerSandbox(extraEnv: Record<string, string> = {}) {
  const root = mkdtempSync(path.join(os.tmpdir(), "aa-sched-"));
  const home = path.join(root, "home");
  const dags = path.join(root, "dags");
  mkdirSync(home);
  mkdirSync(dags);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ARMADA_AIRFLOW_HOME: home,
    ARMADA_AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME: "0.02",
    ARMADA_AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL: "0.1",
    ARMADA_AIRFLOW__CORE__RUNNER_HEARTBEAT_MS: "20",
    ARMADA_AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION: "false",
    ...extraEnv,
  };
  const schedulers: { ac: AbortController; done: Promise<number> }[] = [];
  async function startService(name: "scheduler" | "triggerer", argv: string[], clock: ManualClock) {
    const stdout = new Capture();
    const stderr = new Capture();
    const ac = new AbortController();
    const done = runCli(argv, {
      stdout,
      stderr,
      env,
      cwd: root,
      clock,
      signal: ac.signal,
    });
    const handle = { ac, done };
    schedulers.push(handle);
    let code: number | undefined;
    void done.then((c) => (code = c));
    await sleepUntil(
      () => code !== undefined || stderr.text.includes(`[${name}] ready`),
      `the ${name} to be ready`,
      60_000,
    );
    if (code !== undefined) throw new Error(`the ${name} exited (${code}): ${stderr.text}`);
    return {
      stderr,
      done,
      /** Waits until the service's output matches. */
      async said(pattern: RegExp | string, what = String(pattern)) {
        const ok = () =>
          typeof pattern === "string" ? stderr.text.includes(pattern) : pattern.test(stderr.text);
        await sleepUntil(() => ok() || code !== undefined, what, 60_000);
        if (!ok()) throw new Error(`the ${name} exited (${code}) before saying ${what}: ${stderr.text}`);
      },
      async stop(reason = "SIGTERM") {
        ac.abort(reason);
        return done;
      },
    };
  }

  return {
    root,
    home,
    dags,
    env,
    write(name: string, text: string) {
      writeFileSync(path.join(dags, name), text);
    },
    async run(argv: string[], clock?: ManualClock) {
      const stdout = new Capture();
      const stderr = new Capture();
      const code = await runCli(argv, { stdout, stderr, env, cwd: root, clock });
      return { code, stdout: stdout.text, stderr: stderr.text };
    },
    async json<T>(argv: string[]): Promise<T> {
      const r = await this.run([...argv, "--json"]);
      if (r.code !== 0) throw new Error(`${argv.join(" ")} failed (${r.code}): ${r.stderr}`);
      return JSON.parse(r.stdout) as T;
    },
    /** `armada-airflow scheduler` in-process on the sandbox's DAGs folder, once it says it is ready. */
    startScheduler(clock: ManualClock, args: string[] = []) {
      return startService("scheduler", ["scheduler", "--dags-folder", dags, ...args], clock);
    },
    /** `armada-airflow triggerer` in-process on the sandbox's store, once it says it is ready. */
    startTriggerer(clock: ManualClock, args: string[] = []) {
      return startService("triggerer", ["triggerer", ...args], clock);
    },
    async dispose() {
      for (const s of schedulers) s.ac.abort("SIGTERM");
      await Promise.all(schedulers.map((s) => s.done));
      rmSync(root, { recursive: true, force: true });
    },
  };
}

export type SchedulerSandbox = ReturnType<typeof schedulerSandbox>;

/** Polls (through the CLI) until `fn` holds. */
export async function until(what: string, fn: () => Promise<boolean>): Promise<void> {
  await sleepUntil(fn, what, 60_000);
}

/**
 * A scheduler (a Runner that runs no triggers) and an `armada-airflow triggerer` service in this process, on a
 * temporary SQLite store, with `config` as the triggerer's. `release()` stops the triggerer (its log lines are
 * flushed then; idempotent); `dispose()` releases, stops the scheduler and removes the store.
 */
export async function schedulerWithTriggerer(config: RuntimeConfig = resolveRuntimeConfig({ env: noHome })) {
  const t = await tempSqliteStore();
  const scheduler = new Runner({ store: t.store, heartbeatMs: 20, runTriggers: false });
  const triggerer = new TriggererService({
    store: t.store,
    clock: systemClock,
    pollIntervalMs: 20,
    heartbeatMs: 20,
    heartbeatTimeoutMs: 30_000,
    config,
    log: () => {},
  });
  await triggerer.start();
  const loop = triggerer.loop();
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    triggerer.requestStop();
    await loop;
    await triggerer.release();
  };
  const dispose = async () => {
    await release();
    await scheduler.stop();
    await t.dispose();
  };
  return { store: t.store, scheduler, triggerer, release, dispose };
}

/** An environment whose home folder does not exist: no config file is read. */
const noHome = { ARMADA_AIRFLOW_HOME: path.join(os.tmpdir(), "aa-no-such-home") };
