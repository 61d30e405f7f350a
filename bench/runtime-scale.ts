/**
 * Runtime scale benchmark (`npm run bench:runtime`, and part of `npm run bench`):
 * one DAG run of N deferrable ArmadaOperator tasks (mapped), each job running
 * several poll intervals on a dev server in this process, driven by a runner
 * in its own process (the built `armada-airflow dags test`), whose own CPU time, peak
 * RSS and event-loop stalls are measured (a preload writes them at exit).
 *
 * Reports: wall time, runner CPU (whole run, and cores used while only
 * tracking), peak RSS, detection latency (job finished on the server -> task
 * SUCCESS in the store) p50/p95, gRPC calls, and checks that every task
 * succeeded with exactly one job. Figures, not assertions: a loaded machine
 * changes them, so no test depends on them.
 *
 * Environment: BENCH_TASKS (1000), BENCH_JOB_S (60), BENCH_POLL_S (5), BENCH_TRACKING (`events,poll`: `events`
 * for event-stream tracking, the default: one shared GetJobSetEvents watch, no poll rounds; a comma list runs
 * one row per mode in `npm run bench`); BENCH_CPU_PROF=<dir> writes a CPU profile of the runner there.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import Database from "better-sqlite3";
import { startDevServer } from "../src/devserver/dev-server.js";
import { DURATION_ANNOTATION } from "../src/devserver/index.js";
import { KyselyStore } from "../src/runtime/store/kysely-store.js";
import { median } from "./dev-startup.js";

const N = Number(process.env.BENCH_TASKS ?? 1000);
export const JOB_S = Number(process.env.BENCH_JOB_S ?? 60);
export const POLL_S = Number(process.env.BENCH_POLL_S ?? 5);
/** Tracking modes to measure (`poll`, `events`). */
export const BENCH_TRACKING = (process.env.BENCH_TRACKING ?? "events,poll").split(",").map((m) => m.trim());
const repoRoot = path.resolve(import.meta.dirname, "..");

interface Usage {
  userCpuS: number;
  systemCpuS: number;
  maxRssMiB: number;
  maxEventLoopStallMs: number;
  /** The longest stalls over 50 ms: [seconds since the runner started, ms]. */
  longestStalls: [number, number][];
  p99EventLoopStallMs: number;
}

/** Every task's job (the reference's benchmark submits the same one: reference-python.ts). */
export const benchJobRequest = (jobS: number) => ({
  namespace: "default",
  annotations: { [DURATION_ANNOTATION]: `${jobS}s` },
  podSpec: {
    containers: [
      {
        name: "main",
        image: "busybox:1.36",
        command: ["sh", "-c", "echo hi"],
        resources: { requests: { cpu: "1m", memory: "1Mi" }, limits: { cpu: "1m", memory: "1Mi" } },
      },
    ],
  },
});

/** Nodes large enough that no job waits for capacity: the figure is the runtime's, not the scheduler's. */
export const benchDevServerOptions = () => ({
  queues: ["bench"],
  clusters: [{ id: "cluster-1", nodes: [{ name: "big-1", cpu: "100000", memory: "1000Ti" }] }],
});

const dagSource = (n: number, jobS: number, pollS: number) => `
import { ArmadaOperator, DAG, armadaEnvironment } from "armada-airflow";
const armada = await armadaEnvironment();
export const dag = new DAG({ dagId: "runtime_scale" });
new ArmadaOperator({
  dag,
  taskId: "job",
  name: "job",
  channelArgs: armada.channelArgs,
  armadaQueue: armada.armadaQueue,
  deferrable: true,
  pollInterval: ${pollS},
  jobRequest: ${JSON.stringify(benchJobRequest(jobS))},
}).expand({ name: Array.from({ length: ${n} }, (_, i) => "job-" + i) });
`;

/** CPU seconds used so far by `pid` (Linux /proc; utime + stime). */
function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks (USER_HZ = 100)
  } catch {
    return undefined;
  }
}

export const percentile = (sorted: number[], p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN;

/** Builds dist/ once per process, so the runner measured is the code as it is now. */
let built = false;
export function buildOnce(): void {
  if (built) return;
  const res = spawnSync(
    process.execPath,
    [path.join(repoRoot, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"],
    {
      cwd: repoRoot,
      stdio: "inherit",
    },
  );
  if (res.status !== 0) throw new Error("npm run build failed");
  built = true;
}

/**
 * Counts the runner's XCom `job_context` rows (one per task once its job was checked after its submit), read
 * from its SQLite file; asked only at the end of submission, until the count is reached.
 */
function afterSubmitChecks(dbFile: string): (() => number) & { close(): void } {
  let db: Database.Database | undefined;
  const count = () => {
    try {
      db ??= new Database(dbFile, { readonly: true, fileMustExist: true });
      return (db.prepare("SELECT count(*) AS n FROM xcom WHERE key = 'job_context'").get() as { n: number }).n;
    } catch {
      return 0; // not created yet, or busy: asked again at the next sample
    }
  };
  return Object.assign(count, { close: () => db?.close() });
}

/** Runs the benchmark once; prints and returns its figures. */
export async function runtimeScaleBench(
  n = N,
  tracking = BENCH_TRACKING[0]!,
): Promise<Record<string, number | string>> {
  if (tracking !== "poll" && tracking !== "events") {
    throw new Error(`BENCH_TRACKING must be poll or events (or a comma list), got ${tracking}`);
  }
  buildOnce();
  // Inside the repository, so the DAG file's `armada-airflow` import resolves to this package.
  const dir = mkdtempSync(path.join(repoRoot, ".bench-runtime-"));
  const server = await startDevServer(benchDevServerOptions());
  try {
    const dagFile = path.join(dir, "runtime_scale.ts");
    writeFileSync(dagFile, dagSource(n, JOB_S, POLL_S));
    const usageFile = path.join(dir, "usage.json");
    const t0 = Date.now();
    const child = spawn(
      process.execPath,
      [
        "--import",
        path.join(repoRoot, "bench", "runtime-usage-preload.mjs"),
        // BENCH_CPU_PROF=<dir>: a CPU profile of the runner, to see where its time goes.
        ...(process.env.BENCH_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []),
        // The built command, as users run it (`npm run build` first: see below).
        path.join(repoRoot, "bin", "armada-airflow.js"),
        "dags",
        "test",
        dagFile,
      ],
      {
        cwd: repoRoot,
        env: {
          ...process.env,
          ARMADA_TARGET: server.grpcTarget,
          ARMADA_QUEUE: "bench",
          ARMADA_AIRFLOW_HOME: dir,
          BENCH_USAGE_FILE: usageFile,
          ARMADA_AIRFLOW__ARMADA_OPERATOR__TRACKING: tracking,
        },
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const exited = new Promise<number>((resolve) => child.on("exit", (code) => resolve(code ?? -1)));
    // Tracking window: from every job submitted and checked once after its submit (its XCom job_context written,
    // by the task or by the trigger that submitted it) to the first job finished (the runner only waits then).
    // The check right after a submit is part of submitting, not a poll round.
    const checkedAfterSubmit = afterSubmitChecks(path.join(dir, "armada-airflow.db"));
    let trackStart: { t: number; cpu: number; statusCalls: number } | undefined;
    let trackEnd: { t: number; cpu: number; statusCalls: number } | undefined;
    // Counts, not `server.jobs()`: that copies every job, and four copies a second of 100,000 jobs took
    // the dev server (this process) a whole core, so the runner's calls waited on it. Stops once the
    // window is closed.
    const sampler = setInterval(() => {
      const cpu = cpuSeconds(child.pid!);
      if (cpu === undefined) return;
      const { jobs, runsEnded } = server.jobCounts();
      const statusCalls = server.callCounts().GetJobStatus ?? 0;
      if (!trackStart && jobs >= n && runsEnded === 0 && checkedAfterSubmit() >= n)
        trackStart = { t: Date.now(), cpu, statusCalls };
      if (trackStart && !trackEnd && runsEnded > 0) trackEnd = { t: Date.now(), cpu, statusCalls };
      if (trackEnd || (!trackStart && runsEnded > 0)) clearInterval(sampler);
    }, 250);
    const code = await exited;
    clearInterval(sampler);
    checkedAfterSubmit.close();
    const wallS = (Date.now() - t0) / 1000;
    if (code !== 0) throw new Error(`the runner exited ${code}: ${stderr}`);
    const usage = JSON.parse(readFileSync(usageFile, "utf8")) as Usage;

    const store = await KyselyStore.open({ home: dir });
    const run = (await store.listDagRuns({ dagId: "runtime_scale" }))[0]!;
    const tis = await store.listTaskInstances("runtime_scale", run.runId);
    await store.close();
    const jobsByUri = new Map<string, ReturnType<typeof server.jobs>>();
    for (const j of server.jobs())
      jobsByUri.set(j.externalJobUri, [...(jobsByUri.get(j.externalJobUri) ?? []), j]);
    const latencies: number[] = [];
    // Tracked span (first job submitted -> last task ended), for status calls per poll round.
    let firstSubmitMs = Infinity;
    // Submission: from the runner's start to the last first try's job submitted (target at 10,000: < 30 s).
    let lastFirstSubmitMs = -Infinity;
    let lastEndMs = -Infinity;
    let notSuccess = 0;
    let jobMismatch = 0;
    for (const ti of tis) {
      if (ti.state !== "success") notSuccess++;
      const jobs = jobsByUri.get(`airflow://runtime_scale/job/${run.runId}/${ti.mapIndex}`) ?? [];
      if (jobs.length !== ti.tryNumber) jobMismatch++;
      for (const j of jobs) firstSubmitMs = Math.min(firstSubmitMs, j.submittedAt.getTime());
      if (jobs[0]) lastFirstSubmitMs = Math.max(lastFirstSubmitMs, jobs[0].submittedAt.getTime());
      if (ti.endMs) lastEndMs = Math.max(lastEndMs, ti.endMs);
      const finished = jobs.at(-1)?.runs.at(-1)?.finishedAt;
      if (finished && ti.endMs) latencies.push((ti.endMs - finished.getTime()) / 1000);
    }
    latencies.sort((a, b) => a - b);
    const calls = server.callCounts();
    const trackingCores =
      trackStart && trackEnd && trackEnd.t > trackStart.t
        ? (trackEnd.cpu - trackStart.cpu) / ((trackEnd.t - trackStart.t) / 1000)
        : NaN;
    const figures = {
      tasks: n,
      tracking,
      jobSeconds: JOB_S,
      pollSeconds: POLL_S,
      wallS: round(wallS),
      runnerCpuS: round(usage.userCpuS + usage.systemCpuS),
      trackingCores: round(trackingCores, 3),
      trackingWindowS: trackStart && trackEnd ? round((trackEnd.t - trackStart.t) / 1000) : "n/a",
      peakRssMiB: round(usage.maxRssMiB),
      maxEventLoopStallMs: round(usage.maxEventLoopStallMs),
      p99EventLoopStallMs: round(usage.p99EventLoopStallMs),
      // Where they came: start-up (loading the DAG file) is the first second or so.
      longestStallsAtSMs: usage.longestStalls.map(([at, ms]) => `${at}s:${ms}`).join(" ") || "none",
      detectionP50S: round(median(latencies)),
      detectionP95S: round(percentile(latencies, 95)),
      detectionP99S: round(percentile(latencies, 99)),
      trackedS: round((lastEndMs - firstSubmitMs) / 1000),
      getJobStatusCalls: calls.GetJobStatus ?? 0,
      // Calls per poll interval while only tracking (target: ceil(N / 1000); the reference makes N, plus N GetJobDetails).
      statusCallsPerRound:
        trackStart && trackEnd && trackEnd.t > trackStart.t
          ? round(
              (trackEnd.statusCalls - trackStart.statusCalls) / ((trackEnd.t - trackStart.t) / 1000 / POLL_S),
              2,
            )
          : "n/a",
      getJobDetailsCalls: calls.GetJobDetails ?? 0,
      getJobSetEventsCalls: calls.GetJobSetEvents ?? 0,
      submitJobsCalls: calls.SubmitJobs ?? 0,
      allSubmittedAfterS: round((lastFirstSubmitMs - t0) / 1000),
      tasksNotSuccess: notSuccess,
      tasksWithoutExactlyOneJobPerTry: jobMismatch,
    };
    console.log(
      `runtime scale (${n} deferrable Armada tasks, ${JOB_S} s jobs, ${POLL_S} s poll, tracking ${tracking}):`,
    );
    for (const [k, v] of Object.entries(figures)) console.log(`  ${k.padEnd(34)} ${v}`);
    if (notSuccess || jobMismatch)
      throw new Error(
        `wrong outcome: ${notSuccess} tasks not SUCCESS, ${jobMismatch} without one job per try`,
      );
    return figures;
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const round = (v: number, digits = 1) => (Number.isFinite(v) ? Number(v.toFixed(digits)) : NaN);

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const tracking of BENCH_TRACKING) await runtimeScaleBench(N, tracking);
}
