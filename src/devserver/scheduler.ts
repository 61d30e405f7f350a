/**
 * A small Armada-like scheduler: nodes with CPU/memory capacity in several
 * clusters, per-queue waiting lines ordered by priority (lower value first)
 * then submission, and fair share between queues (the queue using the least
 * CPU relative to its priority factor goes next). A gang is placed whole —
 * every member at once, on nodes sharing its uniformity label's value — or
 * not at all; one that could not fit even on empty nodes is reported.
 */
import type { JobRecord } from "./job-record.js";
import { MinHeap } from "./min-heap.js";
import { bytes, cpuMillis } from "./quantity.js";

/** A node as configured: quantities in Kubernetes notation. */
export interface NodeConfig {
  name: string;
  cpu: string;
  memory: string;
  /** Node labels (for a gang's `gangNodeUniformityLabel`). @default {} */
  labels?: Record<string, string>;
  /** NVIDIA GPUs (`nvidia.com/gpu`) the node has. @default 0 */
  gpus?: number;
}

/** A cluster as configured. */
export interface ClusterConfig {
  id: string;
  nodes: NodeConfig[];
}

/** A node with its free capacity. */
export interface SchedulerNode {
  cluster: string;
  name: string;
  cpuMillis: number;
  memoryBytes: number;
  freeCpuMillis: number;
  freeMemoryBytes: number;
  labels: Record<string, string>;
  gpus: number;
  freeGpus: number;
}

/** Where a job was placed. */
export interface Placement {
  job: JobRecord;
  node: SchedulerNode;
}

interface Waiting {
  job: JobRecord;
  /** The priority when enqueued; a reprioritized job is pushed again and the old entry skipped. */
  priority: number;
  seq: number;
}

interface QueueLine {
  heap: MinHeap<Waiting>;
  usedCpuMillis: number;
}

/** Placement of queued jobs on nodes. */
export class Scheduler {
  readonly nodes: SchedulerNode[];
  private readonly lines = new Map<string, QueueLine>();
  private readonly nodeByKey = new Map<string, SchedulerNode>();
  /** Queued members of each gang, by queue and gang id. */
  private readonly gangs = new Map<string, Set<JobRecord>>();
  private seq = 0;

  constructor(
    clusters: ClusterConfig[],
    private readonly priorityFactor: (queue: string) => number,
    /** Whether a queue's jobs may be placed now (false while it is cordoned). */
    private readonly schedulable: (queue: string) => boolean = () => true,
  ) {
    this.nodes = clusters.flatMap((c) =>
      c.nodes.map((n) => {
        const cpu = cpuMillis(n.cpu);
        const memory = bytes(n.memory);
        return {
          cluster: c.id,
          name: n.name,
          cpuMillis: cpu,
          memoryBytes: memory,
          freeCpuMillis: cpu,
          freeMemoryBytes: memory,
          labels: n.labels ?? {},
          gpus: n.gpus ?? 0,
          freeGpus: n.gpus ?? 0,
        };
      }),
    );
    for (const n of this.nodes) this.nodeByKey.set(`${n.cluster}/${n.name}`, n);
  }

  /** The biggest CPU and memory any node offers (a job larger than this can never run). */
  largestNode(): { cpuMillis: number; memoryBytes: number } {
    let cpu = 0;
    let memory = 0;
    for (const n of this.nodes) {
      cpu = Math.max(cpu, n.cpuMillis);
      memory = Math.max(memory, n.memoryBytes);
    }
    return { cpuMillis: cpu, memoryBytes: memory };
  }

  /** Puts a queued job in its queue's line. */
  enqueue(job: JobRecord): void {
    this.line(job.queue).heap.push({ job, priority: job.priority, seq: this.seq++ });
    if (job.gang) {
      const key = `${job.queue}\u0000${job.gang.id}`;
      const members = this.gangs.get(key) ?? new Set<JobRecord>();
      members.add(job);
      this.gangs.set(key, members);
    }
  }

  /** Marks capacity as used by a job placed (or re-placed after a restart) on a node. */
  occupy(job: JobRecord, cluster: string, nodeName: string): void {
    const node = this.nodeByKey.get(`${cluster}/${nodeName}`);
    if (!node) return;
    node.freeCpuMillis -= job.resources.cpuMillis;
    node.freeMemoryBytes -= job.resources.memoryBytes;
    node.freeGpus -= job.resources.gpus ?? 0;
    this.line(job.queue).usedCpuMillis += job.resources.cpuMillis;
  }

  /** Gives back the capacity a job held. */
  release(job: JobRecord, cluster: string, nodeName: string): void {
    const node = this.nodeByKey.get(`${cluster}/${nodeName}`);
    if (!node) return;
    node.freeCpuMillis += job.resources.cpuMillis;
    node.freeMemoryBytes += job.resources.memoryBytes;
    node.freeGpus += job.resources.gpus ?? 0;
    this.line(job.queue).usedCpuMillis -= job.resources.cpuMillis;
  }

  /**
   * Places as many waiting jobs as fit. `stillQueued` lets cancelled jobs be
   * dropped lazily instead of searched for in the heaps. A gang member waits,
   * without holding up its queue, until its whole gang is queued; a complete
   * gang that could never fit is passed to `impossibleGang` and not placed.
   */
  schedule(
    stillQueued: (job: JobRecord) => boolean,
    impossibleGang: (members: JobRecord[], reason: string) => void = () => {},
    /** Told of a job no node could take even empty (it waits without holding up its queue), or "" once placed. */
    unschedulable: (job: JobRecord, reason: string) => void = () => {},
  ): Placement[] {
    const placed: Placement[] = [];
    const placedIds = new Set<string>();
    const blocked = new Set<string>();
    /** Entries taken off a heap because their gang is incomplete; put back at the end. */
    const setAside: [QueueLine, Waiting][] = [];
    const live = (w: Waiting) =>
      w.priority === w.job.priority && !placedIds.has(w.job.id) && stillQueued(w.job);
    try {
      for (;;) {
        let best: string | undefined;
        let bestShare = Infinity;
        for (const [queue, line] of this.lines) {
          if (blocked.has(queue) || !this.schedulable(queue)) continue;
          while (line.heap.size > 0 && !live(line.heap.peek()!)) line.heap.pop();
          if (line.heap.size === 0) continue;
          const share = line.usedCpuMillis / Math.max(this.priorityFactor(queue), 1e-9);
          if (share < bestShare) {
            bestShare = share;
            best = queue;
          }
        }
        if (best === undefined) return placed;
        const line = this.lines.get(best)!;
        const job = line.heap.peek()!.job;
        const members = job.gang ? this.queuedGang(job, stillQueued) : [job];
        if (members.length < (job.gang?.cardinality ?? 1)) {
          setAside.push([line, line.heap.pop()!]);
          continue;
        }
        const nodes = this.fitAll(members, this.nodes, (n) => [
          n.freeCpuMillis,
          n.freeMemoryBytes,
          n.freeGpus,
        ]);
        if (!nodes) {
          if (job.gang && !this.fitAll(members, this.nodes, (n) => [n.cpuMillis, n.memoryBytes, n.gpus])) {
            for (const m of members) placedIds.add(m.id);
            impossibleGang(members, this.neverFits(members));
            continue;
          }
          const gpus = job.resources.gpus ?? 0;
          if (
            !job.gang &&
            gpus > 0 &&
            !this.fitAll([job], this.nodes, (n) => [n.cpuMillis, n.memoryBytes, n.gpus])
          ) {
            // As a kubelet-less Kubernetes scheduler would say it: no node has the GPUs. The job waits for
            // one (a node could be added) but must not hold up the jobs queued behind it.
            const short = this.nodes.filter((n) => n.gpus < gpus).length;
            unschedulable(
              job,
              `0/${this.nodes.length} nodes are available: ${short} Insufficient ${"nvidia.com/gpu"} ` +
                `(the job requests ${gpus}; the largest GPU node has ${Math.max(0, ...this.nodes.map((n) => n.gpus))})`,
            );
            setAside.push([line, line.heap.pop()!]);
            continue;
          }
          // The head of this line waits for capacity; lower-priority jobs behind it must not overtake it.
          blocked.add(best);
          continue;
        }
        line.heap.pop();
        members.forEach((m, i) => {
          const node = nodes[i];
          node.freeCpuMillis -= m.resources.cpuMillis;
          node.freeMemoryBytes -= m.resources.memoryBytes;
          node.freeGpus -= m.resources.gpus ?? 0;
          this.line(m.queue).usedCpuMillis += m.resources.cpuMillis;
          placedIds.add(m.id);
          placed.push({ job: m, node });
        });
        if (job.gang) this.gangs.delete(`${job.queue}\u0000${job.gang.id}`);
      }
    } finally {
      for (const [line, w] of setAside) line.heap.push(w);
    }
  }

  /** The queued members of a job's gang (the job first). */
  private queuedGang(job: JobRecord, stillQueued: (job: JobRecord) => boolean): JobRecord[] {
    const key = `${job.queue}\u0000${job.gang!.id}`;
    const members = [...(this.gangs.get(key) ?? [])].filter(stillQueued);
    return [job, ...members.filter((m) => m !== job)].slice(0, job.gang!.cardinality);
  }

  /**
   * Nodes for every job at once (index by index), given each node's capacity
   * as `room` says; a gang's nodes all share its uniformity label's value.
   */
  private fitAll(
    jobs: JobRecord[],
    nodes: SchedulerNode[],
    room: (n: SchedulerNode) => [number, number, number],
  ): SchedulerNode[] | undefined {
    const label = jobs[0].gang?.nodeUniformityLabel ?? "";
    const groups = new Map<string, SchedulerNode[]>();
    for (const n of nodes) {
      if (label && n.labels[label] === undefined) continue;
      const v = label ? n.labels[label] : "";
      groups.set(v, [...(groups.get(v) ?? []), n]);
    }
    for (const group of groups.values()) {
      const free = new Map(group.map((n) => [n, room(n)]));
      const chosen: SchedulerNode[] = [];
      for (const job of jobs) {
        let best: SchedulerNode | undefined;
        for (const n of group) {
          // A retry that must avoid the nodes of its earlier runs (retry policy `avoidSameNode`).
          if (job.avoidNodes?.includes(`${n.cluster}/${n.name}`)) continue;
          const [cpu, mem, gpu] = free.get(n)!;
          if (
            cpu < job.resources.cpuMillis ||
            mem < job.resources.memoryBytes ||
            gpu < (job.resources.gpus ?? 0)
          ) {
            continue;
          }
          if (!best || cpu > free.get(best)![0]) best = n;
        }
        if (!best) break;
        const [cpu, mem, gpu] = free.get(best)!;
        free.set(best, [
          cpu - job.resources.cpuMillis,
          mem - job.resources.memoryBytes,
          gpu - (job.resources.gpus ?? 0),
        ]);
        chosen.push(best);
      }
      if (chosen.length === jobs.length) return chosen;
    }
    return undefined;
  }

  private neverFits(members: JobRecord[]): string {
    const gang = members[0].gang!;
    const cpu = members.reduce((a, m) => a + m.resources.cpuMillis, 0);
    const memory = members.reduce((a, m) => a + m.resources.memoryBytes, 0);
    const where = gang.nodeUniformityLabel
      ? `on any set of nodes sharing a value of node label ${gang.nodeUniformityLabel}`
      : "on the clusters' nodes";
    return (
      `gang ${gang.id} of ${gang.cardinality} jobs can never be scheduled: together they request cpu ${cpu}m and ` +
      `memory ${memory} bytes, which do not fit ${where} even when they are empty`
    );
  }

  private line(queue: string): QueueLine {
    let line = this.lines.get(queue);
    if (!line) {
      line = {
        heap: new MinHeap<Waiting>(
          (a, b) => a.priority < b.priority || (a.priority === b.priority && a.seq < b.seq),
        ),
        usedCpuMillis: 0,
      };
      this.lines.set(queue, line);
    }
    return line;
  }
}
