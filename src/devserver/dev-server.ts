/**
 * `startDevServer`: an Armada-compatible server on 127.0.0.1 — gRPC API,
 * Lookout pages and a Kubernetes pod-log API — for local runs and tests.
 */
import { Server, type ServerWritableStream } from "@grpc/grpc-js";
import type { ServerType } from "@hono/node-server";
import { Hono } from "hono";
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import type { Clock } from "../common/clock.js";
import { ErrorCode } from "../common/error-code.js";
import { createLookoutApp } from "../web/lookout-app.js";
import { DevArmada } from "./dev-armada.js";
import { devLookoutSource } from "./dev-lookout-source.js";
import { bindGrpc, closeListeners, grpcCredentials, httpPortOf, serveHttp } from "./dev-server-listeners.js";
import type { Executor } from "./executor.js";
import { CallFaults, type FaultInjector } from "./faults.js";
import { addArmadaServices } from "./grpc-services.js";
import { jobFaultInjector } from "./job-fault-injector.js";
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
  /**
   * How many jobs the server accepted and how many of their runs have ended
   * (finished, cancelled, preempted, returned). O(1): safe to sample often
   * beside many jobs, where {@link DevServer.jobs} copies every one.
   */
  jobCounts(): { jobs: number; runsEnded: number };
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

/** What this machine cannot emulate for these options, said at start. */
function startNotes(o: ResolvedDevServerOptions): string[] {
  const notes: string[] = [];
  if (o.executor === "process") {
    const ns = mountNamespaceSupport();
    if ("problem" in ns)
      notes.push(`emptyDir volumes: ${ns.problem}; a job that mounts a volume fails, saying so`);
  }
  return notes;
}

/** The call faults the options set up front (tests add more through {@link DevServer.faults}). */
function initialFaults(o: ResolvedDevServerOptions): CallFaults {
  const faults = new CallFaults();
  for (const f of o.faults.failNext) faults.failNext(f.method, f.n, f.code, f.message);
  for (const [m, ms] of o.faults.latency) faults.latency(m, ms);
  if (o.faults.dropEventStreamAfter !== undefined) faults.dropEventStreamAfter(o.faults.dropEventStreamAfter);
  return faults;
}

/** A fresh state, reloaded from `store` when there is one, with the configured queues. */
function buildArmada(o: ResolvedDevServerOptions, store: SqliteStateStore | undefined): DevArmada {
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
}

/** The HTTP side: the pod-log API (kubeconfig token or an API bearer token) and the Lookout pages. */
function httpApp(armada: () => DevArmada, tokens: () => string[], clock: Clock): Hono {
  const http = new Hono();
  http.route("/", podLogRoutes(armada, tokens));
  http.route("/", createLookoutApp(devLookoutSource(armada, clock)));
  return http;
}

/** Starts a dev server. Resolves once both ports listen. */
export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  const o = resolveDevServerOptions(options);
  const notes = startNotes(o);
  const creds = grpcCredentials(o);
  const kubeToken = o.kubeToken ?? randomBytes(24).toString("base64url");
  const faults = initialFaults(o);
  const counts = new Map<string, number>();
  const streams = new Set<ServerWritableStream<unknown, unknown>>();
  let store = o.statePath ? SqliteStateStore.open(o.statePath) : undefined;
  let armada = buildArmada(o, store);
  const current = () => armada;

  const http = httpApp(current, () => [kubeToken, ...(o.auth?.bearerTokens ?? [])], o.clock);

  let grpcPort = o.grpcPort;
  let httpPort = o.httpPort;
  let grpc: Server;
  let httpServer: ServerType;

  const listen = async () => {
    grpc = new Server({ "grpc.max_receive_message_length": 64 * 1024 * 1024 });
    addArmadaServices(grpc, { armada: current, faults, counts, auth: o.auth, clock: o.clock, streams });
    grpcPort = await bindGrpc(grpc, o.host, grpcPort, creds);
    try {
      httpServer = await serveHttp(http, o.host, httpPort);
    } catch (err) {
      grpc.forceShutdown();
      throw err;
    }
    httpPort = httpPortOf(httpServer);
  };
  const close = () => closeListeners(grpc, httpServer, streams);

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
    faults: jobFaultInjector(faults, current, o.clock),
    jobs: () => armada.allJobs().map((j) => ({ ...j, runs: j.runs.map((r) => ({ ...r })) })),
    jobCounts: () => armada.counts(),
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
        armada = buildArmada(o, store);
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
