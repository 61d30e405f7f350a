/**
 * A small Armada-like scheduler: nodes with CPU/memory capacity in several
 * clusters, per-queue waiting lines ordered by priority (lower value first)
 * then submission, and fair share between queues (the queue using the least
 * CPU relative to its priority factor goes next).
 */
import type { JobRecord } from "./job-record.js";
import { MinHeap } from "./min-heap.js";
import { bytes, cpuMillis } from "./quantity.js";

/** A node as configured: quantities in Kubernetes notation. */
export interface NodeConfig {
  name: string;
  cpu: string;
  memory: string;
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
  }

  /** Marks capacity as used by a job placed (or re-placed after a restart) on a node. */
  occupy(job: JobRecord, cluster: string, nodeName: string): void {
    const node = this.nodeByKey.get(`${cluster}/${nodeName}`);
    if (!node) return;
    node.freeCpuMillis -= job.resources.cpuMillis;
    node.freeMemoryBytes -= job.resources.memoryBytes;
    this.line(job.queue).usedCpuMillis += job.resources.cpuMillis;
  }

  /** Gives back the capacity a job held. */
  release(job: JobRecord, cluster: string, nodeName: string): void {
    const node = this.nodeByKey.get(`${cluster}/${nodeName}`);
    if (!node) return;
    node.freeCpuMillis += job.resources.cpuMillis;
    node.freeMemoryBytes += job.resources.memoryBytes;
    this.line(job.queue).usedCpuMillis -= job.resources.cpuMillis;
  }

  /**
   * Places as many waiting jobs as fit. `stillQueued` lets cancelled jobs be
   * dropped lazily instead of searched for in the heaps.
   */
  schedule(stillQueued: (job: JobRecord) => boolean): Placement[] {
    const placed: Placement[] = [];
    const placedIds = new Set<string>();
    const blocked = new Set<string>();
    const live = (w: Waiting) =>
      w.priority === w.job.priority && !placedIds.has(w.job.id) && stillQueued(w.job);
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
      const node = this.fit(job);
      if (!node) {
        // The head of this line waits for capacity; lower-priority jobs behind it must not overtake it.
        blocked.add(best);
        continue;
      }
      line.heap.pop();
      node.freeCpuMillis -= job.resources.cpuMillis;
      node.freeMemoryBytes -= job.resources.memoryBytes;
      line.usedCpuMillis += job.resources.cpuMillis;
      placedIds.add(job.id);
      placed.push({ job, node });
    }
  }

  /** Spread load: the node with the most free CPU that fits the job. */
  private fit(job: JobRecord): SchedulerNode | undefined {
    let best: SchedulerNode | undefined;
    for (const n of this.nodes) {
      if (n.freeCpuMillis < job.resources.cpuMillis || n.freeMemoryBytes < job.resources.memoryBytes)
        continue;
      if (!best || n.freeCpuMillis > best.freeCpuMillis) best = n;
    }
    return best;
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
