/**
 * `startDevServer`: an Armada-compatible server on 127.0.0.1 — gRPC API,
 * Lookout pages and a Kubernetes pod-log API — for local runs and tests.
 */
import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { ErrorCode } from "../common/error-code.js";
import { Server, ServerCredentials, type ServerWritableStream } from "@grpc/grpc-js";
import { serve, type ServerType } from "@hono/node-server";
import { Hono } from "hono";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { status } from "@grpc/grpc-js";
import { createLookoutApp } from "../web/lookout-app.js";
import type { LookoutSource } from "../web/lookout-source.js";
import {
  type EventMessage,
  JobCancelledEvent,
  JobFailedEvent,
  JobSucceededEvent,
} from "../gen/armada/event.js";
import { DevArmada } from "./dev-armada.js";
import type { Executor } from "./executor.js";
import { CallFaults, type FaultInjector } from "./faults.js";
import { addArmadaServices } from "./grpc-services.js";
import type { JobRecord } from "./job-record.js";
import { renderKubeconfig } from "./kubeconfig.js";
import { mountNamespaceSupport } from "./pod-volumes.js";
import { resolveDevServerOptions, type DevServerOptions, type ResolvedDevServerOptions } from "./options.js";
import { podLogRoutes } from "./pod-log-api.js";
import { ProcessExecutor } from "./process-executor.js";
import { SimulateExecutor } from "./simulate-executor.js";
import { SqliteStateStore } from "./sqlite-state-store.js";

/** A running dev server. */
export interface DevServer {
  /** gRPC target, `127.0.0.1:PORT`. */
  readonly grpcTarget: string;
  /** Base URL of the Lookout pages and the pod-log API, `http://127.0.0.1:PORT`. */
  readonly httpUrl: string;
  /** Lookout link template for the operator: `${httpUrl}/jobs/<job_id>`. */
  readonly lookoutUrlTemplate: string;
  /** Bearer token the pod-log API accepts (also in the kubeconfig). */
  readonly kubeToken: string;
  /** What this machine cannot emulate, said at start (e.g. no mount namespaces for emptyDir volumes). */
  readonly notes: readonly string[];
  /** Kubeconfig YAML: one context per cluster id, all pointing at this server's pod-log API. */
  kubeconfig(): string;
  /** Writes {@link DevServer.kubeconfig} to `path` (mode 0600: it holds a token). */
  writeKubeconfig(path: string): Promise<void>;
  /** Fault injection for tests. */
  readonly faults: FaultInjector;
  /** Every job the server accepted (duplicates and rejected ones included), oldest first. */
  jobs(): JobRecord[];
  /** gRPC calls received per method (short names such as `GetJobStatus`). */
  callCounts(): Record<string, number>;
  /** Stops and starts again on the same ports, keeping state (reloaded from SQLite when `statePath` is set). */
  restart(): Promise<void>;
  /** Stops the server; running processes are killed. */
  stop(): Promise<void>;
}

function makeExecutor(o: ResolvedDevServerOptions): Executor {
  return o.executor === "process"
    ? new ProcessExecutor()
    : new SimulateExecutor({ defaultRunMs: o.defaultRunMs });
}

function grpcCredentials(o: ResolvedDevServerOptions): ServerCredentials {
  if (!o.tls) return ServerCredentials.createInsecure();
  const read = (file: string, field: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new ArmadaAirflowError(
        ErrorCode.InvalidArgument,
        `Invalid dev server options: tls.${field}: cannot read "${file}": ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  };
  const ca = o.tls.caFile ? read(o.tls.caFile, "caFile") : null;
  return ServerCredentials.createSsl(
    ca,
    [{ cert_chain: read(o.tls.certFile, "certFile"), private_key: read(o.tls.keyFile, "keyFile") }],
    ca !== null,
  );
}

/** Starts a dev server. Resolves once both ports listen. */
export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  const o = resolveDevServerOptions(options);
  const notes: string[] = [];
  if (o.executor === "process") {
    const ns = mountNamespaceSupport();
    if ("problem" in ns)
      notes.push(`emptyDir volumes: ${ns.problem}; a job that mounts a volume fails, saying so`);
  }
  const creds = grpcCredentials(o);
  const kubeToken = o.kubeToken ?? randomBytes(24).toString("base64url");
  const faults = new CallFaults();
  for (const f of o.faults.failNext) faults.failNext(f.method, f.n, f.code, f.message);
  for (const [m, ms] of o.faults.latency) faults.latency(m, ms);
  if (o.faults.dropEventStreamAfter !== undefined) faults.dropEventStreamAfter(o.faults.dropEventStreamAfter);
  const counts = new Map<string, number>();
  const streams = new Set<ServerWritableStream<unknown, unknown>>();
  let store = o.statePath ? SqliteStateStore.open(o.statePath) : undefined;

  const build = (): DevArmada => {
    const armada = new DevArmada({
      clock: o.clock,
      clusters: o.clusters,
      executor: makeExecutor(o),
      ingestionDelayMs: o.ingestionDelayMs,
      timing: o.timing,
      sink: store,
      namespaces: o.namespaces,
      images: o.images,
      priorityClasses: o.priorityClasses,
      failureCategories: o.failureCategories,
      globalMaxRetries: o.globalMaxRetries,
    });
    store?.load(armada);
    for (const q of o.queues) armada.ensureQueue(q);
    return armada;
  };
  let armada = build();

  const source: LookoutSource = {
    jobs: () => armada.allJobs(),
    job: (id) => armada.job(id),
    jobEvents: (job) =>
      armada.events.after(job.queue, job.jobSetId, "").filter((e) => {
        const v = e.message?.events?.value as { jobId?: string } | undefined;
        return v?.jobId === job.id;
      }),
    logs: (job) => {
      const pod = armada.logs.ofJob(job.id, job.namespace);
      if (!pod || (pod.deletedAtMs !== undefined && pod.deletedAtMs <= o.clock.nowMs())) return undefined;
      return [...pod.containers].map(([container, lines]) => ({ container, lines }));
    },
  };
  const http = new Hono();
  const tokens = () => [kubeToken, ...(o.auth?.bearerTokens ?? [])];
  http.route(
    "/",
    podLogRoutes(() => armada, tokens),
  );
  http.route("/", createLookoutApp(source));

  let grpcPort = o.grpcPort;
  let httpPort = o.httpPort;
  let grpc: Server;
  let httpServer: ServerType;

  const listen = async () => {
    grpc = new Server({ "grpc.max_receive_message_length": 64 * 1024 * 1024 });
    addArmadaServices(grpc, { armada: () => armada, faults, counts, auth: o.auth, clock: o.clock, streams });
    try {
      grpcPort = await new Promise<number>((resolve, reject) =>
        grpc.bindAsync(`${o.host}:${grpcPort}`, creds, (err, port) => (err ? reject(err) : resolve(port))),
      );
    } catch (err) {
      grpc.forceShutdown();
      throw new ArmadaAirflowError(
        ErrorCode.Unavailable,
        `Dev server cannot listen for gRPC on ${o.host}:${grpcPort} (grpcPort): ${(err as Error).message}. ` +
          `Is another server using it? Choose another port, or 0 for any free one.`,
        { cause: err },
      );
    }
    try {
      httpServer = await new Promise<ServerType>((resolve, reject) => {
        const s = serve({ fetch: http.fetch, port: httpPort, hostname: o.host }, () => resolve(s));
        s.once("error", reject);
      });
    } catch (err) {
      grpc.forceShutdown();
      throw new ArmadaAirflowError(
        ErrorCode.Unavailable,
        `Dev server cannot listen for HTTP on ${o.host}:${httpPort} (httpPort): ${(err as Error).message}. ` +
          `Is another server using it? Choose another port, or 0 for any free one.`,
        { cause: err },
      );
    }
    httpPort = (httpServer.address() as AddressInfo).port;
  };

  const close = async () => {
    for (const call of [...streams])
      call.emit("error", { code: status.UNAVAILABLE, details: "dev server stopping" });
    streams.clear();
    // This server, not the variable: restart() puts a new server in `grpc`, which the
    // grace timer below must not shut down when it fires after the new one listens.
    const closing = grpc;
    await new Promise<void>((resolve) => {
      // Streams a client keeps open must not hold the shutdown up.
      const grace = setTimeout(() => closing.forceShutdown(), 200);
      grace.unref();
      closing.tryShutdown(() => {
        clearTimeout(grace);
        resolve();
      });
    });
    await new Promise<void>((resolve) => {
      httpServer.close(() => resolve());
      (httpServer as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
    });
  };

  try {
    await listen();
  } catch (err) {
    await armada.shutdown();
    store?.close();
    throw err;
  }
  const hostForUrl = o.host.includes(":") ? `[${o.host}]` : o.host;
  let stopped = false;

  const server: DevServer = {
    get grpcTarget() {
      return `${hostForUrl}:${grpcPort}`;
    },
    get httpUrl() {
      return `http://${hostForUrl}:${httpPort}`;
    },
    get lookoutUrlTemplate() {
      return `http://${hostForUrl}:${httpPort}/jobs/<job_id>`;
    },
    kubeToken,
    notes,
    kubeconfig: () =>
      renderKubeconfig({
        server: `http://${hostForUrl}:${httpPort}`,
        token: kubeToken,
        clusters: o.clusters.map((c) => c.id),
      }),
    async writeKubeconfig(path) {
      await writeFile(path, server.kubeconfig(), { mode: 0o600 });
    },
    faults: {
      failNext: (m, n, code, message) => faults.failNext(m, n, code, message),
      latency: (m, ms) => faults.latency(m, ms),
      dropEventStreamAfter: (k, n) => faults.dropEventStreamAfter(k, n),
      preemptJob(jobId, reason = "preempted by the dev server's fault injector") {
        if (armada.preempt([jobId], reason, "fault-injector").length === 0) {
          throw new ArmadaAirflowError(
            ErrorCode.FailedPrecondition,
            `preemptJob: job "${jobId}" is unknown or not leased, pending or running`,
          );
        }
      },
      failJob(jobId, reason) {
        if (!armada.fail(jobId, reason))
          throw new ArmadaAirflowError(
            ErrorCode.FailedPrecondition,
            `failJob: job "${jobId}" is unknown or already finished`,
          );
      },
      reportEvent(jobId, kind) {
        const job = armada.job(jobId);
        if (!job) throw new ArmadaAirflowError(ErrorCode.NotFound, `reportEvent: job "${jobId}" is unknown`);
        const base = { jobId, jobSetId: job.jobSetId, queue: job.queue, created: o.clock.now() };
        const reason = "wrongly reported by the dev server's fault injector";
        const events: EventMessage["events"] =
          kind === "succeeded"
            ? { $case: "succeeded", value: JobSucceededEvent.fromPartial(base) }
            : kind === "failed"
              ? { $case: "failed", value: JobFailedEvent.fromPartial({ ...base, reason }) }
              : { $case: "cancelled", value: JobCancelledEvent.fromPartial({ ...base, reason }) };
        armada.events.append(job.queue, job.jobSetId, { events });
      },
      loseEvents(jobId) {
        if (!armada.job(jobId)) {
          throw new ArmadaAirflowError(ErrorCode.NotFound, `loseEvents: job "${jobId}" is unknown`);
        }
        armada.events.lostJobs.add(jobId);
      },
      setIngestionDelay(ms) {
        if (!(ms >= 0))
          throw new ArmadaAirflowError(
            ErrorCode.InvalidArgument,
            `setIngestionDelay: ms must be >= 0, got ${ms}`,
          );
        armada.ingestionDelayMs = ms;
      },
      clear: () => faults.clear(),
    },
    jobs: () => armada.allJobs().map((j) => ({ ...j, runs: j.runs.map((r) => ({ ...r })) })),
    callCounts: () => Object.fromEntries(counts),
    async restart() {
      if (stopped)
        throw new ArmadaAirflowError(ErrorCode.FailedPrecondition, "restart: the dev server was stopped");
      await close();
      if (store) {
        const delay = armada.ingestionDelayMs;
        await armada.shutdown();
        store.close();
        store = SqliteStateStore.open(o.statePath!);
        armada = build();
        armada.ingestionDelayMs = delay;
      }
      await listen();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await close();
      await armada.shutdown();
      store?.close();
    },
  };
  return server;
}
