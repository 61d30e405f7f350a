/**
 * Publishes a job's container logs from Kubernetes into the task log.
 * Each call fetches what is new since the last published line, so polls,
 * deferrals and resumes together show every line once: no gaps, no repeats.
 */
import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { ErrorCode } from "../common/error-code.js";
import { PassThrough } from "node:stream";
import type { KubeConfig } from "@kubernetes/client-node";
import { kubernetesClient } from "../common/kubernetes-client.js";
import type { LogSink } from "./task-log.js";
import type { UrlFromLogsExtractor } from "./links.js";
import {
  compareLogTimestamps,
  formatLogTimestamp,
  parseLogTimestamp,
  tryParseLogTimestamp,
  type LogTimestamp,
} from "./log-timestamp.js";

/** Supplies a bearer token for the Kubernetes API (e.g. a short-lived OIDC token). */
export interface K8sTokenSource {
  getToken(): string | Promise<string>;
}

/** Options of {@link KubernetesPodLogManager}. */
export interface KubernetesPodLogManagerOptions {
  /**
   * Sends its token as a bearer token on every request, on top of the
   * kubeconfig's own credentials. Optional: without one the kubeconfig's
   * credentials are used as they are.
   * @default none
   */
  tokenRetriever?: K8sTokenSource;
  /**
   * Kubeconfig whose context names are Armada cluster ids.
   * @default loaded the standard way (`KUBECONFIG`, `~/.kube/config`, in-cluster)
   */
  kubeConfig?: KubeConfig;
  /**
   * Longest a single log read may take (real time) before it is abandoned;
   * guards against a connection that stalls mid-body.
   * @default 60000
   */
  readTimeoutMs?: number;
}

/** One fetch's target. */
export interface FetchContainerLogsRequest {
  /** Kubeconfig context: the Armada cluster id the job ran on. */
  k8sContext: string;
  namespace: string;
  /** Pod name, `armada-<job id>-0` for Armada jobs. */
  pod: string;
  container: string;
  /** Timestamp of the last line already published (RFC 3339); lines at or before it are skipped. */
  sinceTime?: string;
  /** Where messages go. */
  log: LogSink;
  /** Regex extra links to look for in each message. */
  linkExtractor?: UrlFromLogsExtractor;
}

interface PendingMessage {
  timestamp: LogTimestamp | undefined;
  raw: string | undefined;
  lines: string[];
}

/** The pod name Armada gives a job's (single) pod. */
export function armadaPodName(jobId: string): string {
  return `armada-${jobId}-0`;
}

/** Reads container logs of Armada job pods across clusters (one kubeconfig context per cluster). */
export class KubernetesPodLogManager {
  private kubeConfig: KubeConfig | undefined;
  private readonly tokenRetriever: K8sTokenSource | undefined;
  private readonly readTimeoutMs: number;

  constructor(options: KubernetesPodLogManagerOptions = {}) {
    this.kubeConfig = options.kubeConfig;
    this.tokenRetriever = options.tokenRetriever;
    this.readTimeoutMs = options.readTimeoutMs ?? 60_000;
  }

  /**
   * Publishes the lines logged after `sinceTime` as `[<container>] <message>`
   * and returns the timestamp to pass next time (unchanged when nothing new
   * arrived). A deleted pod logs a warning and keeps the position.
   */
  async fetchContainerLogs(request: FetchContainerLogsRequest): Promise<string | undefined> {
    const since = request.sinceTime ? parseLogTimestamp(request.sinceTime, "sinceTime") : undefined;
    const k8s = await kubernetesClient();
    const config = await this.configFor(request.k8sContext);
    const sink = new PassThrough();
    const chunks: Buffer[] = [];
    sink.on("data", (c: Buffer) => chunks.push(c));
    const ended = new Promise<void>((resolve, reject) => {
      sink.on("end", resolve);
      sink.on("error", reject);
    });
    let controller: AbortController;
    try {
      controller = await new k8s.Log(config).log(request.namespace, request.pod, request.container, sink, {
        follow: false,
        timestamps: true,
        // Kubernetes reads sinceTime to the second; we ask from the start of
        // that second and drop what we already published below.
        ...(since ? { sinceTime: new Date(Math.floor(since.epochMs / 1000) * 1000).toISOString().replace(".000Z", "Z") } : {}),
      });
    } catch (err) {
      if (err instanceof k8s.ApiException && err.code === 404) {
        request.log.warn(`Unable to fetch logs - pod ${request.pod} has been deleted.`);
        return request.sinceTime;
      }
      throw err;
    }
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new ArmadaAirflowError(
          ErrorCode.DeadlineExceeded,
          `reading logs of pod ${request.pod} took longer than ${this.readTimeoutMs} ms; abandoned`,
        ));
      }, this.readTimeoutMs);
      timer.unref();
    });
    try {
      await Promise.race([ended, stalled]);
    } finally {
      clearTimeout(timer);
    }
    const last = await this.publish(Buffer.concat(chunks).toString("utf8"), since, request);
    return last ? formatLogTimestamp(last) : request.sinceTime;
  }

  private async publish(
    text: string,
    since: LogTimestamp | undefined,
    request: FetchContainerLogsRequest,
  ): Promise<LogTimestamp | undefined> {
    const lines = text.split("\n");
    if (lines.at(-1) === "") lines.pop();
    let current: PendingMessage | undefined;
    // True while reading lines of a message that was published by an earlier fetch.
    let skipping = since !== undefined;
    let last: LogTimestamp | undefined;
    const flush = async () => {
      if (!current) return;
      const message = current.lines.join("\n");
      request.log.info(`[${request.container}] ${message}`);
      await request.linkExtractor?.extract(message);
      if (current.timestamp) last = current.timestamp;
      current = undefined;
    };
    for (const rawLine of lines) {
      const line = rawLine.endsWith("\r") ? rawLine.slice(0, -1) : rawLine;
      const space = line.indexOf(" ");
      const head = space < 0 ? line : line.slice(0, space);
      const timestamp = tryParseLogTimestamp(head);
      if (!timestamp) {
        if (current) current.lines.push(line);
        else if (!skipping) current = { timestamp: undefined, raw: undefined, lines: [line] };
        continue;
      }
      await flush();
      if (since && compareLogTimestamps(timestamp, since) <= 0) {
        skipping = true;
        continue;
      }
      skipping = false;
      current = { timestamp, raw: head, lines: [space < 0 ? "" : line.slice(space + 1)] };
    }
    await flush();
    return last;
  }

  /** The kubeconfig: the one given, else the standard one; an error when there is none at all. */
  private async baseConfig(): Promise<KubeConfig> {
    if (!this.kubeConfig) {
      const loaded = new (await kubernetesClient()).KubeConfig();
      loaded.loadFromDefault();
      // With no KUBECONFIG, no ~/.kube/config and not in a cluster, the client
      // invents a localhost context named "loaded-context": nothing to read from.
      if (loaded.getCurrentContext() === "loaded-context" && loaded.getContexts().length === 1) {
        throw new ArmadaAirflowError(
          ErrorCode.Config,
          "no kubeconfig found (KUBECONFIG is unset, ~/.kube/config does not exist, not in a cluster), so container " +
            "logs cannot be read; set KUBECONFIG to a kubeconfig with one context per Armada cluster id, " +
            "or pass the operator's kubeConfig option",
        );
      }
      this.kubeConfig = loaded;
    }
    return this.kubeConfig;
  }

  /**
   * Whether reading logs for `context` relies on a fixed bearer token from the
   * kubeconfig, which cannot be refreshed and may expire during a long job:
   * no token retriever, a `token`/`tokenFile` user, a server that is not on
   * this machine (a local cluster's token is not expected to expire). False
   * when the context cannot be resolved.
   */
  async usesFixedRemoteToken(context: string): Promise<boolean> {
    if (this.tokenRetriever) return false;
    let base: KubeConfig;
    try {
      base = await this.baseConfig();
    } catch {
      return false;
    }
    const ctx = base.getContextObject(context);
    if (!ctx) return false;
    const user = base.getUser(ctx.user);
    // The client reads a kubeconfig's tokenFile into token; exec and auth providers refresh themselves.
    if (!user?.token) return false;
    const server = base.getCluster(ctx.cluster)?.server ?? "";
    let host: string;
    try {
      host = new URL(server).hostname;
    } catch {
      return false;
    }
    return !["localhost", "127.0.0.1", "[::1]", "::1"].includes(host);
  }

  private async configFor(context: string): Promise<KubeConfig> {
    const base = await this.baseConfig();
    const ctx = base.getContextObject(context);
    if (!ctx) {
      const known = base.getContexts().map((c) => c.name);
      throw new ArmadaAirflowError(
        ErrorCode.Config,
        `No kubeconfig context named '${context}' (the Armada cluster id) to read logs from; ` +
          `known contexts: ${known.length ? known.join(", ") : "none"}. Add one per Armada cluster.`,
      );
    }
    const token = this.tokenRetriever ? await this.tokenRetriever.getToken() : undefined;
    const user = base.getUser(ctx.user);
    const copy = new (await kubernetesClient()).KubeConfig();
    copy.loadFromOptions({
      clusters: base.getClusters(),
      users: [{ ...(user ?? { name: ctx.user }), ...(token ? { token } : {}) }],
      contexts: [{ ...ctx, user: user?.name ?? ctx.user }],
      currentContext: ctx.name,
    });
    return copy;
  }
}
