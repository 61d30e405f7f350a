/**
 * A tiny Kubernetes API stand-in for log tests: serves
 * `/api/v1/namespaces/<ns>/pods/<pod>/log` from in-memory lines, honouring
 * `sinceTime` to the second as a real API server does.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";

/** One log line as the API server would store it. */
export interface FakeLogLine {
  /** RFC 3339 timestamp (any precision). */
  ts: string;
  text: string;
}

export interface FakeKubeApi {
  url: string;
  /** Lines per `<namespace>/<pod>/<container>`. */
  logs: Map<string, FakeLogLine[]>;
  /** Raw body override per key (to serve continuation lines etc.). */
  rawBodies: Map<string, string>;
  requests: { path: string; query: URLSearchParams; headers: IncomingHttpHeaders }[];
  kubeConfig(contexts: string[], userToken?: string): KubeConfig;
  close(): Promise<void>;
}

export async function startFakeKubeApi(): Promise<FakeKubeApi> {
  const logs = new Map<string, FakeLogLine[]>();
  const rawBodies = new Map<string, string>();
  const requests: FakeKubeApi["requests"] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    requests.push({ path: url.pathname, query: url.searchParams, headers: req.headers });
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/log$/.exec(url.pathname);
    const key = m ? `${m[1]}/${m[2]}/${url.searchParams.get("container")}` : "";
    const raw = rawBodies.get(key);
    const lines = logs.get(key);
    if (!m || (raw === undefined && !lines)) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ kind: "Status", code: 404, message: "pods not found" }));
      return;
    }
    res.writeHead(200, { "content-type": "text/plain" });
    if (raw !== undefined) {
      res.end(raw);
      return;
    }
    const since = url.searchParams.get("sinceTime");
    const sinceMs = since ? Date.parse(since) : -Infinity;
    const body = lines!
      .filter((l) => Math.floor(Date.parse(l.ts) / 1000) * 1000 >= sinceMs)
      .map((l) => (url.searchParams.get("timestamps") === "true" ? `${l.ts} ${l.text}\n` : `${l.text}\n`))
      .join("");
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    logs,
    rawBodies,
    requests,
    kubeConfig(contexts, userToken) {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: contexts.map((c) => ({ name: c, server: url, skipTLSVerify: true })),
        users: [{ name: "user", ...(userToken ? { token: userToken } : {}) }],
        contexts: contexts.map((c) => ({ name: c, cluster: c, user: "user" })),
        currentContext: contexts[0],
      });
      return kc;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
