/**
 * What a retry rule's `mutate` block does to a job before its next run: more
 * memory (requests and limits together, compounding across retries), and the
 * nodes of earlier runs to avoid. Both can leave a job that fits no node; the
 * engine then fails it for good instead of queueing it forever.
 */
import type { RetryResourceBump } from "../gen/armada/submit.js";
import type { JobRecord } from "./job-record.js";
import { podSpecsOf } from "./job-validation.js";
import { bytes } from "./quantity.js";
import type { SchedulerNode } from "./scheduler.js";

/** Grows every container's memory request and limit by the bump (a factor, or a quantity added). */
export function bumpMemory(job: JobRecord, bump: RetryResourceBump): void {
  const grow = (q: string | undefined): string | undefined => {
    if (!q) return q;
    const n = bytes(q);
    return String(Math.ceil(bump.factor ? n * bump.factor : n + bytes(bump.static)));
  };
  let total = 0;
  for (const spec of podSpecsOf(job.spec)) {
    for (const c of spec.containers) {
      const r = c.resources;
      if (!r) continue;
      for (const side of [r.requests, r.limits]) {
        const m = side.memory?.string;
        if (m) side.memory = { string: grow(m) };
      }
      const requested = r.requests.memory?.string;
      if (requested) total += bytes(requested);
    }
  }
  job.resources = { ...job.resources, memoryBytes: total };
}

/** Whether the job fits some node it may use, when that node is empty. */
export function fitsSomeNode(job: JobRecord, nodes: readonly SchedulerNode[]): boolean {
  const avoid = new Set(job.avoidNodes ?? []);
  return nodes.some(
    (n) =>
      !avoid.has(`${n.cluster}/${n.name}`) &&
      n.cpuMillis >= job.resources.cpuMillis &&
      n.memoryBytes >= job.resources.memoryBytes &&
      n.gpus >= (job.resources.gpus ?? 0),
  );
}
