/**
 * Container logs of the dev server's pods, as the Kubernetes log API serves
 * them: per pod and container, each line with the time it was written.
 */

/** One log line. */
export interface LogLine {
  /** Milliseconds since the epoch (clock time). */
  timeMs: number;
  text: string;
}

/** A pod's logs. */
export interface PodLogs {
  jobId: string;
  namespace: string;
  podName: string;
  /** The cluster the pod runs on ("" when unknown). */
  cluster: string;
  containers: Map<string, LogLine[]>;
  /** Containers still writing (a follow request waits for these). */
  open: Set<string>;
  /** Clock time from which the pod no longer exists (404). */
  deletedAtMs?: number;
  listeners: Set<() => void>;
}

/** The Kubernetes pod name of an Armada job (first and only pod). */
export function podNameOf(jobId: string): string {
  return `armada-${jobId}-0`;
}

/**
 * Logs of every pod, by cluster, namespace and pod name. A job run again
 * (a retry) gets a new pod of the same name, maybe on another cluster; the
 * earlier run's pod stays readable on its own cluster until it is deleted.
 */
export class PodLogStore {
  /** The latest pod of each namespace and name, whatever its cluster. */
  private readonly pods = new Map<string, PodLogs>();
  private readonly onCluster = new Map<string, PodLogs>();

  /** Creates the pod's log (when it starts PENDING); containers start empty and open. */
  create(jobId: string, namespace: string, containers: string[], cluster = ""): PodLogs {
    const pod: PodLogs = {
      jobId,
      namespace,
      podName: podNameOf(jobId),
      cluster,
      containers: new Map(containers.map((c) => [c, []])),
      open: new Set(containers),
      listeners: new Set(),
    };
    this.pods.set(key(namespace, pod.podName), pod);
    this.onCluster.set(`${cluster}/${key(namespace, pod.podName)}`, pod);
    return pod;
  }

  /** The pod, if it was ever created (deleted ones included): on `cluster` when given, else the latest. */
  get(namespace: string, podName: string, cluster?: string): PodLogs | undefined {
    if (cluster === undefined) return this.pods.get(key(namespace, podName));
    return this.onCluster.get(`${cluster}/${key(namespace, podName)}`);
  }

  /** The latest pod of a job, if any. */
  ofJob(jobId: string, namespace: string): PodLogs | undefined {
    return this.get(namespace, podNameOf(jobId));
  }

  /** Appends a line to a container's log. */
  append(pod: PodLogs, container: string, line: LogLine): void {
    let lines = pod.containers.get(container);
    if (!lines) {
      lines = [];
      pod.containers.set(container, lines);
    }
    lines.push(line);
    for (const l of pod.listeners) l();
  }

  /** Marks containers finished writing (followers end). */
  close(pod: PodLogs, container?: string): void {
    if (container) pod.open.delete(container);
    else pod.open.clear();
    for (const l of pod.listeners) l();
  }

  /** Marks the pod deleted from `atMs` on. */
  delete(pod: PodLogs, atMs: number): void {
    pod.deletedAtMs = atMs;
    pod.open.clear();
    for (const l of pod.listeners) l();
  }
}

function key(namespace: string, podName: string): string {
  return `${namespace}/${podName}`;
}

/** Formats a time the way the Kubernetes log API does (RFC 3339 with nanoseconds). */
export function rfc3339Nano(timeMs: number): string {
  const iso = new Date(timeMs).toISOString(); // 2024-01-01T00:00:00.123Z
  return `${iso.slice(0, 23)}000000Z`;
}
