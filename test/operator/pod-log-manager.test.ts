import fc from "fast-check";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { UrlFromLogsExtractor } from "../../src/operator/links.js";
import { armadaPodName, KubernetesPodLogManager } from "../../src/operator/pod-log-manager.js";
import { startFakeKubeApi, type FakeKubeApi } from "./fake-kube-api.js";

class Recorder {
  infos: string[] = [];
  warns: string[] = [];
  errors: string[] = [];
  info = (m: string) => void this.infos.push(m);
  warn = (m: string) => void this.warns.push(m);
  error = (m: string) => void this.errors.push(m);
}

const pod = armadaPodName("job1");
const key = `ns/${pod}/main`;
let api: FakeKubeApi;

beforeAll(async () => {
  api = await startFakeKubeApi();
});
afterAll(async () => {
  await api.close();
});
beforeEach(() => {
  api.logs.clear();
  api.rawBodies.clear();
  api.requests.length = 0;
});

function manager(token?: string, kubeToken?: string) {
  return new KubernetesPodLogManager({
    kubeConfig: api.kubeConfig(["cluster-1", "cluster-2"], kubeToken),
    ...(token ? { tokenRetriever: { getToken: async () => token } } : {}),
  });
}

const req = (log: Recorder, sinceTime?: string) => ({
  k8sContext: "cluster-2",
  namespace: "ns",
  pod,
  container: "main",
  log,
  ...(sinceTime ? { sinceTime } : {}),
});

describe("KubernetesPodLogManager", () => {
  it("names pods as Armada does", () => {
    expect(armadaPodName("test_job")).toBe("armada-test_job-0");
  });

  it("publishes each message as [container] message and returns the last timestamp", async () => {
    api.logs.set(key, [
      { ts: "2024-01-01T00:00:00.100000001Z", text: "one" },
      { ts: "2024-01-01T00:00:00.100000002Z", text: "two" },
    ]);
    const log = new Recorder();
    const last = await manager().fetchContainerLogs(req(log));
    expect(log.infos).toEqual(["[main] one", "[main] two"]);
    expect(last).toBe("2024-01-01T00:00:00.100000002Z");
    expect(api.requests[0]!.query.get("timestamps")).toBe("true");
    expect(api.requests[0]!.query.get("container")).toBe("main");
    expect(api.requests[0]!.query.has("sinceTime")).toBe(false);
  });

  it("skips lines at or before the last log time, to the nanosecond", async () => {
    api.logs.set(key, [
      { ts: "2024-01-01T00:00:05.000000001Z", text: "old" },
      { ts: "2024-01-01T00:00:05.000000002Z", text: "boundary" },
      { ts: "2024-01-01T00:00:05.000000003Z", text: "new" },
    ]);
    const log = new Recorder();
    const last = await manager().fetchContainerLogs(req(log, "2024-01-01T00:00:05.000000002Z"));
    expect(log.infos).toEqual(["[main] new"]);
    expect(last).toBe("2024-01-01T00:00:05.000000003Z");
    // Asked from the start of the second: Kubernetes reads sinceTime to the second.
    expect(api.requests[0]!.query.get("sinceTime")).toBe("2024-01-01T00:00:05Z");
  });

  it("keeps the position when nothing new arrived", async () => {
    api.logs.set(key, [{ ts: "2024-01-01T00:00:05.5Z", text: "old" }]);
    const log = new Recorder();
    expect(await manager().fetchContainerLogs(req(log, "2024-01-01T00:00:05.5Z"))).toBe("2024-01-01T00:00:05.5Z");
    expect(log.infos).toEqual([]);
  });

  it("joins lines without a timestamp to the previous message, dropping those of skipped messages", async () => {
    api.rawBodies.set(
      key,
      [
        "2024-01-01T00:00:01.000000000Z old head",
        "old continuation",
        "2024-01-01T00:00:02.000000000Z Traceback:",
        "  frame 1",
        "  frame 2",
        "2024-01-01T00:00:03.000000000Z done",
        "",
      ].join("\n"),
    );
    const log = new Recorder();
    const last = await manager().fetchContainerLogs(req(log, "2024-01-01T00:00:01.000000000Z"));
    expect(log.infos).toEqual(["[main] Traceback:\n  frame 1\n  frame 2", "[main] done"]);
    expect(last).toBe("2024-01-01T00:00:03.000000000Z");
  });

  it("logs a deleted pod (404) and keeps the position", async () => {
    const log = new Recorder();
    const last = await manager().fetchContainerLogs(req(log, "2024-01-01T00:00:01Z"));
    expect(log.warns).toEqual([`Unable to fetch logs - pod ${pod} has been deleted.`]);
    expect(last).toBe("2024-01-01T00:00:01Z");
  });

  it("sends the token retriever's token as a bearer token, and works without one", async () => {
    api.logs.set(key, [{ ts: "2024-01-01T00:00:00Z", text: "x" }]);
    await manager("secret-token").fetchContainerLogs(req(new Recorder()));
    expect(api.requests[0]!.headers.authorization).toBe("Bearer secret-token");
    await manager(undefined, "kube-token").fetchContainerLogs(req(new Recorder()));
    expect(api.requests[1]!.headers.authorization).toBe("Bearer kube-token");
    const log = new Recorder();
    await manager().fetchContainerLogs(req(log));
    expect(api.requests[2]!.headers.authorization).toBeUndefined();
    expect(log.infos).toEqual(["[main] x"]);
  });

  it("names the missing kubeconfig context (cluster id) and the known ones", async () => {
    await expect(
      manager().fetchContainerLogs({ ...req(new Recorder()), k8sContext: "cluster-9" }),
    ).rejects.toThrow(/No kubeconfig context named 'cluster-9'.*cluster-1, cluster-2/);
  });

  it("runs regex extra links on each message, first match wins", async () => {
    api.logs.set(key, [
      { ts: "2024-01-01T00:00:01Z", text: "see https://dash.example/run/1 now" },
      { ts: "2024-01-01T00:00:02Z", text: "see https://dash.example/run/2 now" },
    ]);
    const found: [string, string][] = [];
    const extractor = new UrlFromLogsExtractor(
      { Dash: /https:\/\/dash\.example\/run\/\d+/g, Docs: "https://docs/{{ ti.task_id }}" },
      (n, u) => void found.push([n, u]),
    );
    await manager().fetchContainerLogs({ ...req(new Recorder()), linkExtractor: extractor });
    expect(found).toEqual([["Dash", "https://dash.example/run/1"]]);
    expect(extractor.done).toBe(true);
  });

  it("publishes every line exactly once across any sequence of polls (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 3_000_000_000 }), { minLength: 1, maxLength: 30 }),
        fc.array(fc.integer({ min: 0, max: 30 }), { maxLength: 6 }),
        async (offsetsNs, cuts) => {
          // Strictly increasing nanosecond timestamps within a few seconds.
          const sorted = [...new Set(offsetsNs)].sort((a, b) => a - b);
          const lines = sorted.map((ns, i) => {
            const ms = Math.floor(ns / 1e6);
            const sub = String(ns % 1e6).padStart(6, "0");
            const iso = new Date(Date.UTC(2024, 0, 1) + ms).toISOString().slice(0, 23);
            return { ts: `${iso}${sub}Z`, text: `line ${i}` };
          });
          const log = new Recorder();
          const m = manager();
          let since: string | undefined;
          const points = [...cuts.map((c) => Math.min(c, lines.length)).sort((a, b) => a - b), lines.length];
          for (const upto of points) {
            api.logs.set(key, lines.slice(0, upto));
            since = await m.fetchContainerLogs(req(log, since));
          }
          expect(log.infos).toEqual(lines.map((l) => `[main] ${l.text}`));
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe("KubernetesPodLogManager stalls", () => {
  it("abandons a read that stalls mid-body with a clear error", async () => {
    const { createServer } = await import("node:http");
    const server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("2024-01-01T00:00:00Z partial\n"); // and never ends
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    const { KubeConfig } = await import("@kubernetes/client-node");
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "c", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: "u" }],
      contexts: [{ name: "c", cluster: "c", user: "u" }],
      currentContext: "c",
    });
    const m = new KubernetesPodLogManager({ kubeConfig: kc, readTimeoutMs: 200 });
    await expect(
      m.fetchContainerLogs({ k8sContext: "c", namespace: "ns", pod: "p", container: "main", log: new Recorder() }),
    ).rejects.toThrow(/reading logs of pod p took longer than 200 ms/);
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
});
