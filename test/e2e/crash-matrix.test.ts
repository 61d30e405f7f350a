/**
 * The crash-recovery fault matrix: a runner (a real process) is killed with
 * SIGKILL at each step of an Armada task's life (the code under test kills
 * itself at a named crash point, see src/common/crash-point.ts), then
 * `armada-airflow resume` runs in a new process. From the dev server's own
 * records it asserts: one job per task instance (no duplicate), no live job
 * left, and each task's state is its job's outcome, reached in the same try
 * (the runner's death is not the job's failure).
 *
 * `armada.cancelling` needs a cancel to happen: the runner waits on a long
 * first-try job (held open by the job itself) while the test clears the task
 * instances (the try is killed: onKill cancels, or the next try cancels the
 * earlier job before submitting) or marks them failed (onKill, or the
 * trigger's cleanup, cancels). The runner dies right after a CancelJobs call
 * was sent. There the expectation is: every earlier job cancelled, at most
 * one job per try, a cleared task succeeds on its next try with a new job, a
 * task marked failed stays failed with its one job cancelled.
 *
 * `armada.timeout-cancelling` is the cancel of one of the operator's own
 * deadlines: `queueTimeout` (the job asks for a GPU that no node has, so it
 * stays QUEUED) or the acknowledgement timeout (a dev server whose query API
 * never learns of the job). The runner dies right after the cancel was sent,
 * before the store knew of it. There the expectation is: the task fails
 * (under its retry rules, each try meeting the same deadline), every job of
 * it cancelled, at most one job per try.
 *
 * `npm test` runs a pairwise subset covering every crash point and every
 * value of every dimension; `npm run test:faults` (ARMADA_AIRFLOW_FAULTS=all)
 * runs the whole matrix, on SQLite and PostgreSQL.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { markTaskFailed } from "../../src/runtime/task-commands.js";
import { KyselyStore } from "../../src/runtime/store/kysely-store.js";
import { startDevServer, type DevServer } from "../../src/testing/index.js";
import { startPostgres, type PostgresServer } from "../runtime/postgres-server.js";
import { spawnSourceCli, type SourceCliProcess } from "../support/source-cli.js";
import { waitWhileRunning } from "../support/wait-while-running.js";

type Point =
  | "armada.before-submit"
  | "armada.mid-submit"
  | "armada.after-submit"
  | "armada.polling"
  | "runner.deferred"
  | "runner.fired"
  | "armada.resumed"
  | "runner.ended-by-trigger"
  | "armada.cancelling"
  | "armada.timeout-cancelling";

/**
 * How the run gets to its kill point: on its own, by a clear or a mark-failed from outside (a cancel), or by
 * one of the operator's deadlines (a cancel from inside).
 */
type Flow = "run" | "clear" | "mark-failed" | "queue-timeout" | "ack-timeout";
const TIMEOUT_FLOWS: ReadonlySet<Flow> = new Set(["queue-timeout", "ack-timeout"]);

interface FaultCase {
  point: Point;
  flow: Flow;
  deferrable: boolean;
  retries: 0 | 2;
  reattach: "never" | "running_or_succeeded";
  tasks: 1 | 100;
  db: "sqlite" | "postgres";
}

const DEFERRED_ONLY: ReadonlySet<Point> = new Set([
  "runner.deferred",
  "runner.fired",
  "armada.resumed",
  "runner.ended-by-trigger",
]);
/**
 * Points on the way of a resume: a trigger that sees its job succeed ends the task itself (end_from_trigger),
 * so these cases turn that off to reach them; the resume path still serves failures and container logs.
 */
const RESUME_ONLY: ReadonlySet<Point> = new Set(["runner.fired", "armada.resumed"]);
const SCENARIOS: [Point, Flow][] = [
  ["armada.before-submit", "run"],
  ["armada.mid-submit", "run"],
  ["armada.after-submit", "run"],
  ["armada.polling", "run"],
  ["runner.deferred", "run"],
  ["runner.fired", "run"],
  ["armada.resumed", "run"],
  ["runner.ended-by-trigger", "run"],
  ["armada.cancelling", "clear"],
  ["armada.cancelling", "mark-failed"],
  ["armada.timeout-cancelling", "queue-timeout"],
  ["armada.timeout-cancelling", "ack-timeout"],
];

function fullMatrix(): FaultCase[] {
  const out: FaultCase[] = [];
  for (const [point, flow] of SCENARIOS)
    for (const deferrable of [true, false])
      for (const retries of [0, 2] as const)
        for (const reattach of ["never", "running_or_succeeded"] as const)
          for (const tasks of [1, 100] as const)
            for (const db of ["sqlite", "postgres"] as const) {
              if (!deferrable && DEFERRED_ONLY.has(point)) continue;
              out.push({ point, flow, deferrable, retries, reattach, tasks, db });
            }
  return out;
}

/**
 * Every crash point once per mode it exists in, the other dimensions
 * rotated so that each of their values appears with each mode.
 */
function pairwise(): FaultCase[] {
  const out: FaultCase[] = [];
  let i = 0;
  for (const deferrable of [true, false]) {
    for (const [point, flow] of SCENARIOS) {
      if (!deferrable && DEFERRED_ONLY.has(point)) continue;
      out.push({
        point,
        flow,
        deferrable,
        retries: i % 2 === 0 ? 0 : 2,
        reattach: Math.floor(i / 2) % 2 === 0 ? "never" : "running_or_succeeded",
        tasks: i % 3 === 1 ? 100 : 1,
        db: i % 4 === 3 ? "postgres" : "sqlite",
      });
      i++;
    }
  }
  return out;
}

const cases = process.env.ARMADA_AIRFLOW_FAULTS === "all" ? fullMatrix() : pairwise();
const dagFile = path.join(import.meta.dirname, "fixtures/fault-dag.ts");
const tmp = mkdtempSync(path.join(os.tmpdir(), "aa-faults-"));
const children = new Set<SourceCliProcess>();
let server: DevServer;
/** The acknowledgement-timeout cases' own server: its query API never learns of a job (one server, one delay). */
let unackServer: DevServer | undefined;
let pgServer: PostgresServer | undefined;
let counter = 0;

beforeAll(async () => {
  server = await startDevServer({ queues: ["default"] });
  if (cases.some((c) => c.flow === "ack-timeout"))
    unackServer = await startDevServer({ queues: ["default"], ingestionDelayMs: 24 * 3600_000 });
  if (cases.some((c) => c.db === "postgres")) pgServer = await startPostgres();
}, 120_000);
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await server?.stop();
  await unackServer?.stop();
  await pgServer?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const TERMINAL = new Set(["SUCCEEDED", "FAILED", "CANCELLED", "PREEMPTED", "REJECTED"]);
const label = (c: FaultCase) =>
  `${c.point}${c.flow === "run" ? "" : ` ${TIMEOUT_FLOWS.has(c.flow) ? "on" : "after"} ${c.flow}`} (${c.deferrable ? "deferrable" : "polling"}, retries ${c.retries}, reattach ${c.reattach}, ${c.tasks} task${c.tasks > 1 ? "s" : ""}, ${c.db})`;
/** The client id the operator gives the job of a try (see ArmadaOperator's annotate). */
const clientIdOf = (uri: string, tryNumber: number) =>
  `airflow-${createHash("sha256").update(`${uri}#${tryNumber}`).digest("hex").slice(0, 32)}`;

describe.concurrent("crash recovery fault matrix: kill -9 of the runner, then resume", () => {
  it.for(cases.map((c) => [label(c), c] as const))("%s", { timeout: 240_000 }, async ([, c], { expect }) => {
    const id = ++counter;
    const home = path.join(tmp, `case-${id}`);
    const runId = `faults_${id}`;
    const db = c.db === "postgres" ? await pgServer!.createDatabase(`faults${id}`) : undefined;
    const armada = c.flow === "ack-timeout" ? unackServer! : server;
    const timeout = TIMEOUT_FLOWS.has(c.flow);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ARMADA_TARGET: armada.grpcTarget,
      ARMADA_LOOKOUT_URL: armada.lookoutUrlTemplate,
      ARMADA_AIRFLOW_HOME: home,
      ARMADA_AIRFLOW__CORE__RUNNER_HEARTBEAT_MS: "100",
      ARMADA_AIRFLOW__ARMADA_OPERATOR__SUBMIT_LOOKUP_GRACE_S: "3",
      FAULT_TASKS: String(c.tasks),
      FAULT_RETRIES: String(c.retries),
      FAULT_DEFERRABLE: c.deferrable ? "1" : "0",
      FAULT_REATTACH: c.reattach,
      // Where a cancel is the point, try 1's job runs until cancelled, and every task holds its try meanwhile:
      // beyond the task limits (32 a process, 16 a run) the others would wait for a slot that never frees.
      ...(c.flow === "clear" || c.flow === "mark-failed" ? { FAULT_FIRST_TRY_SLEEP: "3600" } : {}),
      ...(c.flow === "queue-timeout" ? { FAULT_QUEUE_TIMEOUT_S: "2" } : {}),
      // (a job that would end before its deadline leaves nothing to cancel)
      ...(c.flow === "ack-timeout" ? { FAULT_ACK_TIMEOUT_S: "2", FAULT_SLEEP: "3600" } : {}),
      // (and where every try waits out a deadline, so that a 100-task case does not take 100 / 16 rounds of it)
      ...(c.flow === "run"
        ? {}
        : {
            ARMADA_AIRFLOW__CORE__PARALLELISM: String(c.tasks),
            ARMADA_AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG: String(c.tasks),
          }),
      ...(db ? { ARMADA_AIRFLOW__DATABASE__URL: db } : {}),
      ...(RESUME_ONLY.has(c.point) ? { ARMADA_AIRFLOW__ARMADA_OPERATOR__END_FROM_TRIGGER: "false" } : {}),
    };
    const spawnCli = (args: string[], extra: NodeJS.ProcessEnv = {}) => {
      const child = spawnSourceCli(args, { ...env, ...extra });
      children.add(child);
      return child;
    };
    const store = await KyselyStore.open({ home, url: db });
    try {
      // Mid-way through a fan-out: some tasks are past the point, others not yet there. SubmitJobs calls are
      // shared by the tasks submitting at once: mid-submit is the first call's answer, read by none of them.
      const nth = c.tasks > 1 && c.point !== "armada.mid-submit" ? 50 : 1;
      const runner = spawnCli(["dags", "test", dagFile, "--run-id", runId], {
        ARMADA_AIRFLOW_TEST_CRASH_AT: `${c.point}:${nth}`,
      });
      if (c.flow === "clear" || c.flow === "mark-failed") {
        // Every try 1 follows its live job: running its poll loop, or deferred.
        const waiting = c.deferrable ? "deferred" : "running";
        await waitWhileRunning(
          runner,
          async () => {
            const tis = await store.listTaskInstances("faults", runId);
            if (tis.length !== c.tasks || tis.some((t) => t.state !== waiting)) return false;
            const ctxs = await store.listXComs({ dagId: "faults", runId, key: "job_context" });
            return ctxs.filter((x) => x.tryNumber === 1).length === c.tasks;
          },
          { what: `every task ${waiting} with its job submitted`, budgetMs: 180_000, pollMs: 100 },
        );
        if (c.flow === "clear") {
          const clear = spawnCli(["tasks", "clear", "faults", runId]);
          expect(await clear.exited, clear.output()).toBe(0);
        } else {
          for (const ti of await store.listTaskInstances("faults", runId)) await markTaskFailed(store, ti);
        }
      }
      await runner.exited;
      expect(runner.signalCode, `the runner must die at ${c.point}\n${runner.output()}`).toBe("SIGKILL");
      const died = armada.jobs().filter((j) => j.jobSetId === runId);
      if (c.point === "armada.mid-submit" || c.point === "armada.after-submit") {
        // The kill landed where the submit had reached Armada and the store did not know the job yet.
        const known = await store.listXComs({ dagId: "faults", runId, key: "job_context" });
        expect(died.length, "jobs the store does not know").toBeGreaterThan(known.length);
      }
      if (c.point === "armada.cancelling" || c.point === "armada.timeout-cancelling") {
        expect(died.filter((j) => j.state === "CANCELLED").length, "a cancel reached Armada").toBeGreaterThan(
          0,
        );
      }

      const resume = spawnCli(["resume", "--run-id", runId, "--wait", "30"]);
      const code = await resume.exited;
      const fails = c.flow === "mark-failed" || timeout;
      expect(code, resume.output()).toBe(fails ? 1 : 0);

      const tis = await store.listTaskInstances("faults", runId);
      expect(tis).toHaveLength(c.tasks);
      const jobs = armada.jobs().filter((j) => j.jobSetId === runId);
      // Nothing left running that no task follows.
      expect(jobs.filter((j) => !TERMINAL.has(j.state)).map((j) => `${j.id} ${j.state}`)).toEqual([]);
      const byUri = new Map<string, typeof jobs>();
      for (const j of jobs) byUri.set(j.externalJobUri, [...(byUri.get(j.externalJobUri) ?? []), j]);
      // Every job belongs to a task instance of this run.
      expect(byUri.size, `jobs: ${jobs.map((j) => j.externalJobUri).join(", ")}`).toBe(c.tasks);
      if (timeout) {
        for (const ti of tis) {
          const uri = `airflow://faults/job/${runId}/${ti.mapIndex}`;
          const own = byUri.get(uri) ?? [];
          const where = `${ti.taskId}[${ti.mapIndex}] ${ti.state} try ${ti.tryNumber}; jobs ${own.map((j) => `${j.id}:${j.state}`).join(", ")}`;
          const perTry = Array.from(
            { length: ti.tryNumber },
            (_, i) => own.filter((j) => j.clientId === clientIdOf(uri, i + 1)).length,
          );
          // Each try met the deadline and cancelled its job; a try reattached to an earlier (cancelled) job
          // submits none, so there are at most as many jobs as tries.
          expect(ti.state, where).toBe("failed");
          expect(ti.tryNumber, where).toBeLessThanOrEqual(c.retries + 1);
          expect(
            own.map((j) => j.state),
            where,
          ).toEqual(own.map(() => "CANCELLED"));
          expect(Math.max(...perTry), where).toBeLessThanOrEqual(1);
          expect(own.length, where).toBe(perTry.reduce((a, b) => a + b, 0));
          // Never reattaching, every try is a new job that meets the deadline: the retries all run.
          if (c.reattach === "never")
            expect([ti.tryNumber, own.length], where).toEqual([c.retries + 1, c.retries + 1]);
        }
        expect((await store.getDagRun("faults", runId))!.state).toBe("failed");
        expect(await store.listTriggers({ dagId: "faults", runId })).toEqual([]);
        return;
      }
      // A cleared task runs again in try 2; otherwise the runner's death is not a new try.
      const lastTry = c.flow === "clear" ? 2 : 1;
      const outcome = c.flow === "mark-failed" ? ["failed", "CANCELLED"] : ["success", "SUCCEEDED"];
      for (const ti of tis) {
        const uri = `airflow://faults/job/${runId}/${ti.mapIndex}`;
        const own = byUri.get(uri) ?? [];
        const where = `${ti.taskId}[${ti.mapIndex}] ${ti.state} try ${ti.tryNumber}; jobs ${own.map((j) => `${j.id}:${j.state}`).join(", ")}`;
        // At most one job per try, none but the last try's left uncancelled; the task's state is that job's outcome.
        const perTry = Array.from({ length: lastTry }, (_, i) =>
          own.filter((j) => j.clientId === clientIdOf(uri, i + 1)),
        );
        expect(own.length, where).toBe(lastTry);
        expect(
          perTry.map((js) => js.length),
          where,
        ).toEqual(perTry.map(() => 1));
        expect(
          perTry.slice(0, -1).map((js) => js[0]!.state),
          where,
        ).toEqual(perTry.slice(0, -1).map(() => "CANCELLED"));
        expect([ti.state, perTry.at(-1)![0]!.state, ti.tryNumber], where).toEqual([...outcome, lastTry]);
        if (c.flow === "mark-failed") continue;
        // The result names the job, whether the resumed task or its trigger (end_from_trigger) wrote it.
        const result = await store.listXComs({
          dagId: "faults",
          runId,
          taskIds: [ti.taskId],
          mapIndexes: [ti.mapIndex],
          key: "return_value",
        });
        expect(
          result.map((x) => [x.tryNumber, (JSON.parse(x.value) as { job_id: string }).job_id]),
          where,
        ).toEqual([[lastTry, perTry.at(-1)![0]!.id]]);
      }
      expect((await store.getDagRun("faults", runId))!.state).toBe(
        c.flow === "mark-failed" ? "failed" : "success",
      );
      expect(await store.listTriggers({ dagId: "faults", runId })).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
