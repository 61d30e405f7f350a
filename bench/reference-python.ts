/**
 * The reference beside us (`npm run bench:reference`, and part of `npm run bench` at 1,000 tasks): the
 * Python `armada-airflow` package from PyPI, pinned, in an ignored venv under `.cache/`, tracking the same
 * deferred tasks as runtime-scale.ts does: N jobs with the same spec and duration, submitted by this
 * benchmark to a dev server started the same way, then tracked by the package's own ArmadaOperator poll
 * code and ArmadaPollJobTrigger, the triggers all in one asyncio loop as Airflow's triggerer runs them
 * (bench/reference/poll_triggers.py says exactly what runs and what of Airflow is left out).
 *
 * Measures the Python process: CPU (whole process, and cores used while only tracking, from /proc as
 * runtime-scale.ts does for our runner), peak RSS, detection latency (job finished on the server -> the
 * operator's poll code, resumed by its trigger's event, returns the task's result), and the dev server's
 * gRPC calls in its window. Then prints our figures and the reference's side by side, with the ratio and
 * whether the targets are met. Figures, not assertions: no test depends on them.
 *
 * Run alone it measures both sides at BENCH_TASKS (1000), BENCH_JOB_S (60), BENCH_POLL_S (5).
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import path from "node:path";
import { credentials } from "@grpc/grpc-js";
import { startDevServer } from "../src/devserver/dev-server.js";
import { SubmitClient, type JobSubmitResponse } from "../src/gen/armada/submit.js";
import { jobRequestFromJson, jobRequestToJson } from "../src/operator/job-request.js";
import { median } from "./dev-startup.js";
import {
  JOB_S,
  POLL_S,
  benchDevServerOptions,
  benchJobRequest,
  percentile,
  runtimeScaleBench,
} from "./runtime-scale.js";

/**
 * The reference, pinned: the newest `armada-airflow` on PyPI when this was written, and the Airflow and
 * client versions pip resolved for it then (so a new Airflow release does not silently change the figures).
 */
export const REFERENCE_PACKAGES = ["armada-airflow==1.1.3", "apache-airflow==3.2.2", "armada-client==0.5.1"];

const repoRoot = path.resolve(import.meta.dirname, "..");
const venvDir = path.join(repoRoot, ".cache", `py-armada-airflow-${REFERENCE_PACKAGES[0]!.split("==")[1]}`);
const pythonBin = path.join(venvDir, "bin", "python");
const driver = path.join(repoRoot, "bench", "reference", "poll_triggers.py");

/** Creates the venv and installs the pinned reference into it, once (a marker file says it is done). */
export function ensureReferenceVenv(): void {
  const marker = path.join(venvDir, ".installed");
  if (existsSync(marker) && readFileSync(marker, "utf8").startsWith(REFERENCE_PACKAGES.join(" "))) return;
  mkdirSync(path.dirname(venvDir), { recursive: true });
  try {
    execFileSync(process.env.PYTHON ?? "python3", ["-m", "venv", venvDir], { stdio: "pipe" });
    execFileSync(pythonBin, ["-m", "pip", "install", "--quiet", ...REFERENCE_PACKAGES], {
      stdio: "pipe",
      timeout: 900_000,
    });
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(
      `Could not install the reference (${REFERENCE_PACKAGES.join(", ")}) from PyPI into ${venvDir}: ` +
        (e.stderr?.toString() || e.message),
      { cause: err },
    );
  }
  writeFileSync(marker, `${REFERENCE_PACKAGES.join(" ")}\n${new Date().toISOString()}\n`);
}

/** What poll_triggers.py writes at its end. */
interface DriverResult {
  tasks: number;
  firings: number;
  detected: Record<string, number>;
  states: Record<string, number>;
  errors: string[];
  cpuS: number;
  maxRssMiB: number;
  python: string;
  airflow: string;
  armadaAirflow: string;
  armadaClient: string;
}

/** CPU seconds used so far by `pid` and all its threads (Linux /proc; utime + stime). */
function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks (USER_HZ = 100)
  } catch {
    return undefined;
  }
}

const round = (v: number, digits = 1) => (Number.isFinite(v) ? Number(v.toFixed(digits)) : NaN);

const unary = <Res>(fn: (cb: (err: Error | null, res: Res) => void) => void) =>
  new Promise<Res>((resolve, reject) => fn((err, res) => (err ? reject(err) : resolve(res))));

/** Runs the reference once at `n` tasks; prints and returns its figures. */
export async function referenceBench(n: number): Promise<Record<string, number | string>> {
  ensureReferenceVenv();
  const loadAtStart = loadAverage();
  const server = await startDevServer(benchDevServerOptions());
  const dir = mkdtempSync(path.join(repoRoot, ".bench-runtime-"));
  const resultFile = path.join(dir, "result.json");
  const child = spawn(pythonBin, [driver], {
    cwd: dir,
    env: {
      ...process.env,
      // Airflow writes its config and logs under AIRFLOW_HOME: a scratch directory, not ~/airflow.
      AIRFLOW_HOME: dir,
      ARMADA_TARGET: server.grpcTarget,
      BENCH_POLL_S: String(POLL_S),
      BENCH_RESULT_FILE: resultFile,
    },
    // Airflow logs to stdout; the driver's signals come on fd 3.
    stdio: ["pipe", "ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<number>((resolve) =>
    child.on("exit", (code, sig) => resolve(code ?? (sig ? -1 : 0))),
  );
  const signals = createInterface({ input: child.stdio[3] as Readable });
  const waiters = new Map<string, () => void>();
  signals.on("line", (line) => waiters.get(line.trim())?.());
  const signal = (name: string) =>
    Promise.race([
      new Promise<void>((resolve) => waiters.set(name, resolve)),
      exited.then((code) => {
        throw new Error(`the reference exited ${code} before "${name}": ${stderr}`);
      }),
    ]);
  const submit = new SubmitClient(server.grpcTarget, credentials.createInsecure(), {
    "grpc.max_send_message_length": 64 * 1024 * 1024,
  });
  let sampler: NodeJS.Timeout | undefined;
  try {
    const ready = signal("ready");
    const tracking = signal("tracking");
    tracking.catch(() => {}); // an early exit is reported by `ready` or `exited`
    const t0 = Date.now();
    await ready;
    const startupS = (Date.now() - t0) / 1000;

    // The jobs, as the Python operator would submit them: the same request as ours, with the
    // annotations ArmadaOperator._annotate_job_request adds, in the job set it names after the run.
    const dagId = "runtime_scale";
    const taskId = "job";
    const runId = `manual__${new Date().toISOString()}`;
    const template = jobRequestFromJson(jobRequestToJson(benchJobRequest(JOB_S)));
    const jobs: { jobId: string; mapIndex: number }[] = [];
    for (let from = 0; from < n; from += 1000) {
      const items = Array.from({ length: Math.min(1000, n - from) }, (_, k) => {
        const mapIndex = from + k;
        return {
          ...template,
          annotations: {
            ...template.annotations,
            "armadaproject.io/taskId": taskId,
            "armadaproject.io/taskRunId": runId,
            "armadaproject.io/dagId": dagId,
            "armadaproject.io/jobSet": runId,
            "armadaproject.io/externalJobUri": `airflow://${dagId}/${taskId}/${runId}/${mapIndex}`,
          },
        };
      });
      const res = await unary<JobSubmitResponse>((cb) =>
        submit.submitJobs({ queue: "bench", jobSetId: runId, jobRequestItems: items }, cb),
      );
      res.jobResponseItems.forEach((r, k) => {
        if (r.error) throw new Error(`submit refused: ${r.error}`);
        jobs.push({ jobId: r.jobId, mapIndex: from + k });
      });
    }
    const before = server.callCounts();

    // Tracking window: from every task waiting on its trigger to the first job finished.
    let trackStart: { t: number; cpu: number; statusCalls: number } | undefined;
    let trackEnd: { t: number; cpu: number; statusCalls: number } | undefined;
    const statusCalls = () => server.callCounts().GetJobStatus ?? 0;
    void tracking.then(
      () => {
        const cpu = cpuSeconds(child.pid!);
        if (cpu !== undefined && !server.jobs().some((j) => j.runs.some((r) => r.finishedAt)))
          trackStart = { t: Date.now(), cpu, statusCalls: statusCalls() };
      },
      () => {},
    );
    sampler = setInterval(() => {
      const cpu = cpuSeconds(child.pid!);
      if (cpu === undefined || !trackStart || trackEnd) return;
      if (server.jobs().some((j) => j.runs.some((r) => r.finishedAt)))
        trackEnd = { t: Date.now(), cpu, statusCalls: statusCalls() };
    }, 250);
    const t1 = Date.now();
    (child.stdin as Writable).end(
      JSON.stringify({ queue: "bench", jobSetId: runId, runId, dagId, taskId, jobs }) + "\n",
    );
    const code = await exited;
    clearInterval(sampler);
    const wallS = (Date.now() - t1) / 1000;
    if (code !== 0) throw new Error(`the reference exited ${code}: ${stderr}`);
    const result = JSON.parse(readFileSync(resultFile, "utf8")) as DriverResult;

    const after = server.callCounts();
    const delta = (name: string) => (after[name] ?? 0) - (before[name] ?? 0);
    const byId = new Map(server.jobs().map((j) => [j.id, j]));
    const latencies: number[] = [];
    let firstSubmitMs = Infinity;
    let lastDetectedMs = -Infinity;
    for (const { jobId } of jobs) {
      const job = byId.get(jobId)!;
      firstSubmitMs = Math.min(firstSubmitMs, job.submittedAt.getTime());
      const finished = job.runs.at(-1)?.finishedAt;
      const detected = result.detected[jobId];
      if (detected === undefined) continue;
      lastDetectedMs = Math.max(lastDetectedMs, detected * 1000);
      if (finished) latencies.push(detected - finished.getTime() / 1000);
    }
    latencies.sort((a, b) => a - b);
    const trackingCores =
      trackStart && trackEnd && trackEnd.t > trackStart.t
        ? (trackEnd.cpu - trackStart.cpu) / ((trackEnd.t - trackStart.t) / 1000)
        : NaN;
    const figures = {
      tasks: n,
      jobSeconds: JOB_S,
      pollSeconds: POLL_S,
      reference: `armada-airflow ${result.armadaAirflow}, Airflow ${result.airflow}, armada-client ${result.armadaClient}, Python ${result.python}`,
      loadAtStart,
      startupS: round(startupS),
      wallS: round(wallS),
      pythonCpuS: round(result.cpuS),
      trackingCores: round(trackingCores, 3),
      trackingWindowS: trackStart && trackEnd ? round((trackEnd.t - trackStart.t) / 1000) : "n/a",
      peakRssMiB: round(result.maxRssMiB),
      detectionP50S: round(median(latencies)),
      detectionP95S: round(percentile(latencies, 95)),
      detectionP99S: round(percentile(latencies, 99)),
      trackedS: round((lastDetectedMs - firstSubmitMs) / 1000),
      triggerFirings: result.firings,
      getJobStatusCalls: delta("GetJobStatus"),
      statusCallsPerRound:
        trackStart && trackEnd && trackEnd.t > trackStart.t
          ? round(
              (trackEnd.statusCalls - trackStart.statusCalls) / ((trackEnd.t - trackStart.t) / 1000 / POLL_S),
              2,
            )
          : "n/a",
      getJobDetailsCalls: delta("GetJobDetails"),
      tasksNotSucceeded: n - (result.states.SUCCEEDED ?? 0),
      errors: result.errors.length,
    };
    console.log(`reference (${n} deferred Python ArmadaOperator tasks, ${JOB_S} s jobs, ${POLL_S} s poll):`);
    for (const [k, v] of Object.entries(figures)) console.log(`  ${k.padEnd(34)} ${v}`);
    if (result.errors.length) console.error(`reference errors (first): ${result.errors[0]}`);
    return figures;
  } finally {
    clearInterval(sampler);
    submit.close();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

type Figures = Record<string, number | string>;

/** One row of the comparison: a figure on both sides, and the target for ours where it sets one. */
interface Row {
  figure: string;
  ours: number;
  reference: number;
  target?: { text: string; met: (ours: number, reference: number) => boolean };
}

/**
 * Our figures and the reference's side by side, with the ratio (ours / reference) and, where the issue sets a
 * target, whether ours meets it: CPU <= 0.25x the reference's, peak RSS <= 1x, `GetJobStatus` calls per poll
 * round <= ceil(N / 1,000), detection p50 <= half the interval + 1 s and p99 <= the interval + 2 s. A figure
 * missing on either side is shown as not measured and judged on neither. Prints the table and returns it.
 */
export function compareWithReference(ours: Figures, ref: Figures, pollS = POLL_S): string[][] {
  const n = Number(ours.tasks);
  const num = (f: Figures, k: string) => Number(f[k]);
  // Poll rounds: the tracked span (first job submitted -> last task done) over the interval.
  const perRound = (f: Figures, k: string) => num(f, k) / (num(f, "trackedS") / pollS);
  // Status calls per round while only tracking when measured, else over the tracked span.
  const whileTracking = (f: Figures) =>
    Number.isFinite(num(f, "statusCallsPerRound"))
      ? num(f, "statusCallsPerRound")
      : perRound(f, "getJobStatusCalls");
  const quarterCpu = { text: "<= 0.25x", met: (a: number, b: number) => a <= 0.25 * b };
  const rows: Row[] = [
    {
      figure: "CPU, whole run (s)",
      ours: num(ours, "runnerCpuS"),
      reference: num(ref, "pythonCpuS"),
      target: quarterCpu,
    },
    {
      figure: "cores used while tracking",
      ours: num(ours, "trackingCores"),
      reference: num(ref, "trackingCores"),
      target: quarterCpu,
    },
    {
      figure: "peak RSS (MiB)",
      ours: num(ours, "peakRssMiB"),
      reference: num(ref, "peakRssMiB"),
      target: { text: "<= 1x", met: (a, b) => a <= b },
    },
    {
      figure: "detection p50 (s)",
      ours: num(ours, "detectionP50S"),
      reference: num(ref, "detectionP50S"),
      target: { text: `<= ${pollS / 2 + 1} s`, met: (a) => a <= pollS / 2 + 1 },
    },
    { figure: "detection p95 (s)", ours: num(ours, "detectionP95S"), reference: num(ref, "detectionP95S") },
    {
      figure: "detection p99 (s)",
      ours: num(ours, "detectionP99S"),
      reference: num(ref, "detectionP99S"),
      target: { text: `<= ${pollS + 2} s`, met: (a) => a <= pollS + 2 },
    },
    {
      // While only tracking (all jobs submitted, none finished): the task's own checks at submission are not rounds.
      figure: "GetJobStatus calls per poll round",
      ours: whileTracking(ours),
      reference: whileTracking(ref),
      target: { text: `<= ${Math.ceil(n / 1000)}`, met: (a) => a <= Math.ceil(n / 1000) },
    },
    {
      figure: "GetJobDetails calls per poll round",
      ours: perRound(ours, "getJobDetailsCalls"),
      reference: perRound(ref, "getJobDetailsCalls"),
    },
  ];
  const show = (v: number) => (Number.isFinite(v) ? String(round(v, 2)) : "not measured");
  const table = [
    ["figure", "ours", "reference", "ratio", "target", "ours vs target"],
    ...rows.map((r) => {
      const both = Number.isFinite(r.ours) && Number.isFinite(r.reference);
      return [
        r.figure,
        show(r.ours),
        show(r.reference),
        both && r.reference !== 0 ? `${Number((r.ours / r.reference).toPrecision(2))}x` : "n/a",
        r.target?.text ?? "",
        !r.target ? "" : !both ? "not measured" : r.target.met(r.ours, r.reference) ? "met" : "MISSED",
      ];
    }),
  ];
  const widths = table[0]!.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
  const load = [
    ours.loadAtStart !== undefined ? `${ours.loadAtStart} as ours started` : undefined,
    ref.loadAtStart !== undefined ? `${ref.loadAtStart} as the reference started` : undefined,
    `${loadAverage()} at the end`,
  ].filter(Boolean);
  console.log(
    `ours beside the reference (${n} tasks, ${JOB_S} s jobs, ${pollS} s poll; ${ref.reference}; ` +
      `load average ${load.join(", ")}):`,
  );
  for (const r of table)
    console.log(
      "  " +
        r
          .map((cell, c) => cell.padEnd(widths[c]!))
          .join("  ")
          .trimEnd(),
    );
  return table;
}

/** The 1-, 5- and 15-minute load averages, so a reader knows how busy the machine was. */
export function loadAverage(): string {
  try {
    return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  } catch {
    return "n/a";
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const n = Number(process.env.BENCH_TASKS ?? 1000);
  const loadAtStart = loadAverage();
  const ours = { ...(await runtimeScaleBench(n)), loadAtStart };
  const ref = await referenceBench(n);
  compareWithReference(ours, ref);
  if (ref.tasksNotSucceeded !== 0 || ref.errors !== 0) process.exitCode = 1;
}
