/**
 * Dev server benchmark (`npm run bench`): submits 100,000 jobs over gRPC in
 * batches, then checks the server still answers queries quickly while holding
 * them all. Client and server share this one Node process, so the figures are
 * a lower bound for the server alone. Then times `armada-airflow dev` from
 * spawn to ready (a figure here, not a test bound: see dev-startup.ts).
 * Then the runtime at scale (runtime-scale.ts; BENCH_RUNTIME_TASKS, e.g.
 * "1000,10000"), the Python reference beside it (reference-python.ts;
 * BENCH_REFERENCE_TASKS, default "1000"; BENCH_REFERENCE=0 skips it), and last
 * the scheduler at scale (scheduler-scale.ts).
 * `npm run bench -- --quick` is the smaller smoke run CI makes (no reference:
 * it would install Airflow).
 */
import { credentials } from "@grpc/grpc-js";
import { performance } from "node:perf_hooks";
import v8 from "node:v8";
import vm from "node:vm";
import { startDevServer } from "../src/devserver/dev-server.js";
import { JobsClient, type JobStatusResponse } from "../src/gen/armada/job.js";
import { JobSubmitRequestItem, SubmitClient, type JobSubmitResponse } from "../src/gen/armada/submit.js";
import { Container, PodSpec } from "../src/gen/k8s.io/api/core/v1/generated.js";
import { measureDevStartup, median } from "./dev-startup.js";

/**
 * `--quick` (CI's smoke run, a few minutes): smaller sizes, every figure still printed, and no speed target
 * enforced (CI shares its machine); only wrong outcomes (a task not ending SUCCESS, a duplicate) fail it.
 */
const QUICK = process.argv.includes("--quick");
if (QUICK) {
  process.env.BENCH_JOBS ??= "10000";
  process.env.BENCH_STARTUP_RUNS ??= "1";
  process.env.BENCH_RUNTIME_TASKS ??= "1000";
  process.env.BENCH_JOB_S ??= "15";
  process.env.BENCH_SCHED_DAGS ??= "200";
  process.env.BENCH_SCHEDULERS ??= "1";
  // The default mode only: the smoke run checks outcomes and that every figure prints.
  process.env.BENCH_TRACKING ??= "events";
}
// Imported after the sizes are set: they read them when loaded.
const { BENCH_TRACKING, runtimeScaleBench } = await import("./runtime-scale.js");
const { schedulerScaleBench } = await import("./scheduler-scale.js");
const { compareWithReference, loadAverage, referenceBench } = await import("./reference-python.js");

const TOTAL = Number(process.env.BENCH_JOBS ?? 100_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 1000);
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 4);
const TARGET_RATE = 10_000;
const STARTUP_RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 5);
/** `armada-airflow dev` should be ready this soon after it is spawned (median, quiet machine). */
const TARGET_STARTUP_MS = 2000;

function item(i: number): JobSubmitRequestItem {
  return JobSubmitRequestItem.fromPartial({
    priority: ((i % 3) + 3) % 3, // (the warm-up item is -1; priorities are >= 0)
    namespace: "default",
    annotations: { "armadaproject.io/externalJobUri": `airflow://bench/task/run/${i}` },
    podSpecs: [
      PodSpec.fromPartial({
        restartPolicy: "Never",
        containers: [
          Container.fromPartial({
            name: "main",
            image: "busybox:latest",
            command: ["sh", "-c", "echo hello && sleep 30"],
            resources: {
              requests: { cpu: { string: "100m" }, memory: { string: "64Mi" } },
              limits: { cpu: { string: "100m" }, memory: { string: "64Mi" } },
            },
          }),
        ],
      }),
    ],
  });
}

function unary<Res>(fn: (cb: (err: Error | null, res: Res) => void) => void): Promise<Res> {
  return new Promise((resolve, reject) => fn((err, res) => (err ? reject(err) : resolve(res))));
}

async function main(): Promise<void> {
  const server = await startDevServer({ queues: ["bench-a", "bench-b"] });
  const submit = new SubmitClient(server.grpcTarget, credentials.createInsecure(), {
    "grpc.max_send_message_length": 64 * 1024 * 1024,
  });
  const jobs = new JobsClient(server.grpcTarget, credentials.createInsecure());
  const batchCount = Math.ceil(TOTAL / BATCH);
  // Built before the clock starts and dropped once sent, so the memory figure is the server's.
  const batches: (JobSubmitRequestItem[] | undefined)[] = Array.from({ length: batchCount }, (_, b) =>
    Array.from({ length: Math.min(BATCH, TOTAL - b * BATCH) }, (_, k) => item(b * BATCH + k)),
  );
  // Warm up the connection and the JIT outside the measurement.
  await unary<JobSubmitResponse>((cb) =>
    submit.submitJobs({ queue: "bench-a", jobSetId: "warm-up", jobRequestItems: [item(-1)] }, cb),
  );

  const ids: string[] = [];
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < batchCount) {
        const b = next++;
        const res = await unary<JobSubmitResponse>((cb) =>
          submit.submitJobs(
            {
              queue: b % 2 === 0 ? "bench-a" : "bench-b",
              jobSetId: `set-${b % 50}`,
              jobRequestItems: batches[b]!,
            },
            cb,
          ),
        );
        batches[b] = undefined;
        for (const r of res.jobResponseItems) ids.push(r.jobId);
      }
    }),
  );
  const submitMs = performance.now() - t0;
  const rate = (TOTAL / submitMs) * 1000;

  const held = server.jobs().length;
  const sample = Array.from({ length: 1000 }, (_, i) => ids[Math.floor((i * ids.length) / 1000)]);
  const q0 = performance.now();
  const st = await unary<JobStatusResponse>((cb) => jobs.getJobStatus({ jobIds: sample }, cb));
  const statusMs = performance.now() - q0;
  const l0 = performance.now();
  const page = await fetch(`${server.httpUrl}/?queue=bench-b&state=QUEUED`);
  await page.text();
  const listMs = performance.now() - l0;
  const j0 = performance.now();
  await (await fetch(server.lookoutUrlTemplate.replace("<job_id>", ids[ids.length - 1]))).text();
  const jobPageMs = performance.now() - j0;
  // Collect garbage first so the figure is what the server holds, not what it has not freed yet.
  v8.setFlagsFromString("--expose-gc");
  (vm.runInNewContext("gc") as () => void)();
  const mem = process.memoryUsage();

  const lines = [
    `Dev server benchmark (Node ${process.version}, client and server in one process)`,
    `  submitted:            ${TOTAL.toLocaleString("en-US")} jobs in batches of ${BATCH} (${IN_FLIGHT} in flight)`,
    `  submit throughput:    ${Math.round(rate).toLocaleString("en-US")} jobs/s (${(submitMs / 1000).toFixed(2)} s)`,
    `  jobs held:            ${held.toLocaleString("en-US")}`,
    `  GetJobStatus x1000:   ${statusMs.toFixed(1)} ms (${Object.keys(st.jobStates).length} states)`,
    `  Lookout list page:    ${listMs.toFixed(1)} ms`,
    `  Lookout job page:     ${jobPageMs.toFixed(1)} ms`,
    `  memory:               rss ${(mem.rss / 2 ** 20).toFixed(0)} MiB, heap ${(mem.heapUsed / 2 ** 20).toFixed(0)} MiB (${(mem.heapUsed / held / 1024).toFixed(1)} KiB per job)`,
  ];
  console.log(lines.join("\n"));
  submit.close();
  jobs.close();
  await server.stop();
  if (held < TOTAL || (!QUICK && rate < TARGET_RATE)) {
    console.error(`FAILED: expected >= ${TOTAL} jobs held and >= ${TARGET_RATE} jobs/s`);
    process.exitCode = 1;
  }

  const starts = await measureDevStartup(STARTUP_RUNS);
  const spawnToReady = starts.map((s) => s.spawnToReadyMs);
  const reported = starts.map((s) => s.reportedReadyMs);
  const startupMs = median(spawnToReady);
  console.log(
    [
      `armada-airflow dev start-up (from source with tsx, warm cache; ${STARTUP_RUNS} starts)`,
      `  spawn to ready line:  median ${startupMs.toFixed(0)} ms, max ${Math.max(...spawnToReady).toFixed(0)} ms`,
      `  server "ready in":    median ${median(reported).toFixed(0)} ms, max ${Math.max(...reported)} ms`,
    ].join("\n"),
  );
  if (!QUICK && startupMs >= TARGET_STARTUP_MS) {
    console.error(
      `FAILED: expected armada-airflow dev ready within ${TARGET_STARTUP_MS} ms of spawn (median)`,
    );
    process.exitCode = 1;
  }

  // The runtime at scale: deferrable Armada tasks in one runner process (figures, see runtime-scale.ts).
  const ours = new Map<number, Awaited<ReturnType<typeof runtimeScaleBench>>>();
  for (const n of (process.env.BENCH_RUNTIME_TASKS ?? "1000").split(",").map(Number)) {
    for (const tracking of BENCH_TRACKING) {
      const loadAtStart = loadAverage();
      const figures = await runtimeScaleBench(n, tracking);
      // The reference is compared with the first mode measured (by default `events`, the operator's default).
      if (tracking === BENCH_TRACKING[0]) ours.set(n, { ...figures, loadAtStart });
      if (figures.tasksNotSuccess !== 0 || figures.tasksWithoutExactlyOneJobPerTry !== 0)
        process.exitCode = 1;
    }
  }

  // The reference (the Python armada-airflow package's own trigger and poll code) on the same jobs,
  // beside ours with the ratio; not in --quick, which must not install Airflow.
  if (!QUICK && process.env.BENCH_REFERENCE !== "0") {
    for (const n of (process.env.BENCH_REFERENCE_TASKS ?? "1000").split(",").map(Number)) {
      const mine = ours.get(n) ?? (await runtimeScaleBench(n));
      const ref = await referenceBench(n);
      compareWithReference(mine, ref);
      if (ref.tasksNotSucceeded !== 0 || ref.errors !== 0) process.exitCode = 1;
    }
  }

  // The scheduler: 1,000 scheduled DAGs, one and three schedulers on PostgreSQL (see scheduler-scale.ts).
  for (const figures of await schedulerScaleBench()) {
    if (figures.dagsWithoutExactlyOneRun !== 0 || figures.tasksNotSuccessOnce !== 0) process.exitCode = 1;
  }
}

await main();
