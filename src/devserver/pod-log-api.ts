/**
 * The slice of the Kubernetes API the operator's log fetching uses:
 * `GET /api/v1/namespaces/{ns}/pods/{pod}/log` with `container`, `timestamps`,
 * `sinceSeconds`/`sinceTime`, `tailLines` and `follow`, answering errors with
 * Kubernetes `Status` bodies, behind a bearer-token check. Each cluster has
 * its own API under `/clusters/{id}` (the kubeconfig's per-cluster server),
 * which sees only the pods on that cluster; the unprefixed API sees the
 * latest pod of each name on any cluster.
 */
import { Hono, type Context, type MiddlewareHandler } from "hono";
import { stream } from "hono/streaming";
import { timingSafeEqual } from "node:crypto";
import type { DevArmada } from "./dev-armada.js";
import { rfc3339Nano, type LogLine, type PodLogs } from "./pod-logs.js";

/** A Kubernetes `Status` error body. */
export function k8sStatus(code: number, reason: string, message: string, details?: Record<string, unknown>) {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    details,
    code,
  };
}

function tokenOk(accepted: string[], header: string | undefined): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? "");
  if (!m) return false;
  const got = Buffer.from(m[1].trim());
  return accepted.some((t) => {
    const want = Buffer.from(t);
    return want.length === got.length && timingSafeEqual(want, got);
  });
}

/** Routes of the pod-log API. `tokens` are the bearer tokens accepted. */
export function podLogRoutes(armada: () => DevArmada, tokens: () => string[]): Hono {
  const app = new Hono();
  const auth: MiddlewareHandler = async (c, next) => {
    if (!tokenOk(tokens(), c.req.header("authorization"))) {
      return c.json(k8sStatus(401, "Unauthorized", "Unauthorized"), 401);
    }
    await next();
  };
  app.use("/api/*", auth);
  app.use("/clusters/:cluster/api/*", auth);
  const versions = (c: Context) =>
    c.json({ kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [] });
  app.get("/api", versions);
  app.get("/clusters/:cluster/api", versions);
  const podLog = (c: Context, cluster: string | undefined) => {
    const a = armada();
    const ns = c.req.param("ns")!;
    const podName = c.req.param("pod")!;
    const now = a.clock.nowMs();
    const pod = a.logs.get(ns, podName, cluster);
    if (!pod || (pod.deletedAtMs !== undefined && pod.deletedAtMs <= now)) {
      return c.json(
        k8sStatus(404, "NotFound", `pods "${podName}" not found`, { name: podName, kind: "pods" }),
        404,
      );
    }
    const names = [...pod.containers.keys()];
    let container = c.req.query("container") ?? "";
    if (!container) {
      if (names.length !== 1) {
        return c.json(
          k8sStatus(
            400,
            "BadRequest",
            `a container name must be specified for pod ${podName}, choose one of: [${names.join(" ")}]`,
          ),
          400,
        );
      }
      container = names[0];
    }
    if (!pod.containers.has(container)) {
      return c.json(
        k8sStatus(400, "BadRequest", `container ${container} is not valid for pod ${podName}`),
        400,
      );
    }
    // Only the job's latest pod can be the one still starting (an earlier run's pod has ended).
    if (a.job(pod.jobId)?.state === "PENDING" && a.logs.get(ns, podName) === pod) {
      return c.json(
        k8sStatus(
          400,
          "BadRequest",
          `container "${container}" in pod "${podName}" is waiting to start: ContainerCreating`,
        ),
        400,
      );
    }
    const timestamps = c.req.query("timestamps") === "true";
    let since = -Infinity;
    const sinceSeconds = c.req.query("sinceSeconds");
    const sinceTime = c.req.query("sinceTime");
    if (sinceSeconds !== undefined) {
      const s = Number(sinceSeconds);
      if (!Number.isFinite(s) || s <= 0) {
        return c.json(
          k8sStatus(400, "BadRequest", `sinceSeconds must be a positive integer, got "${sinceSeconds}"`),
          400,
        );
      }
      since = now - s * 1000;
    } else if (sinceTime !== undefined) {
      const t = Date.parse(sinceTime);
      if (Number.isNaN(t)) {
        return c.json(
          k8sStatus(400, "BadRequest", `sinceTime must be an RFC 3339 time, got "${sinceTime}"`),
          400,
        );
      }
      since = t;
    }
    const tail = c.req.query("tailLines");
    const format = (l: LogLine) => (timestamps ? `${rfc3339Nano(l.timeMs)} ${l.text}\n` : `${l.text}\n`);
    const lines = pod.containers.get(container)!;
    let selected = lines.filter((l) => l.timeMs >= since);
    if (tail !== undefined && Number(tail) >= 0)
      selected = selected.slice(Math.max(0, selected.length - Number(tail)));
    c.header("content-type", "text/plain; charset=utf-8");
    if (c.req.query("follow") !== "true") return c.body(selected.map(format).join(""));
    return stream(c, async (s) => {
      let next = lines.length;
      await s.write(selected.map(format).join(""));
      await follow(pod, container, s, () => {
        const chunk = lines.slice(next).filter((l) => l.timeMs >= since);
        next = lines.length;
        return chunk.map(format).join("");
      });
    });
  };
  app.get("/api/v1/namespaces/:ns/pods/:pod/log", (c) => podLog(c, undefined));
  app.get("/clusters/:cluster/api/v1/namespaces/:ns/pods/:pod/log", (c) => podLog(c, c.req.param("cluster")));
  return app;
}

/** Streams new lines until the container stops writing, the pod goes, or the client leaves. */
async function follow(
  pod: PodLogs,
  container: string,
  s: { write(text: string): Promise<unknown>; aborted: boolean; onAbort(fn: () => void): void },
  take: () => string,
): Promise<void> {
  await new Promise<void>((resolve) => {
    let writing = Promise.resolve();
    const listener = () => {
      const text = take();
      if (text) writing = writing.then(() => s.write(text).then(() => undefined));
      if (!pod.open.has(container) || pod.deletedAtMs !== undefined) finish();
    };
    const finish = () => {
      pod.listeners.delete(listener);
      void writing.then(resolve);
    };
    s.onAbort(finish);
    pod.listeners.add(listener);
    listener();
  });
}
