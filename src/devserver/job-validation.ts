/**
 * Checks a submitted job the way a real Armada does and explains a refusal with
 * the reason a real server gives; the job then ends REJECTED and the reason is
 * what `GetJobErrors` answers.
 */
import type { JobSubmitRequestItem } from "../gen/armada/submit.js";
import type { PodSpec } from "../gen/k8s.io/api/core/v1/generated.js";
import { bytes, cpuMillis, parseQuantity } from "./quantity.js";

/** Result of validating one job: either its total resource requests or the rejection reason. */
export type JobValidation =
  | { ok: true; resources: { cpuMillis: number; memoryBytes: number; gpus?: number } }
  | { ok: false; reason: string };

/** The extended resource name of NVIDIA GPUs. */
export const GPU_RESOURCE = "nvidia.com/gpu";

/** The pod specs of an item: `pod_specs` when given, else the deprecated `pod_spec`. */
export function podSpecsOf(item: Pick<JobSubmitRequestItem, "podSpec" | "podSpecs">): PodSpec[] {
  if (item.podSpecs.length > 0) return item.podSpecs;
  return item.podSpec ? [item.podSpec] : [];
}

/**
 * Validates an item that passed the whole-call checks of `submit-refusals.ts`
 * (so it has exactly one pod spec); `largestNode` is the biggest node capacity of any cluster.
 */
export function validateJob(
  item: JobSubmitRequestItem,
  largestNode: { cpuMillis: number; memoryBytes: number },
): JobValidation {
  const specs = podSpecsOf(item);
  if (specs.length === 0) return { ok: false, reason: "job has no pod spec" };
  if (specs.length > 1) return { ok: false, reason: "jobs with multiple pod specs are not supported" };
  // Names (namespace, containers) are Kubernetes' to refuse, when the pod is created (cluster-objects.ts).
  const spec = specs[0];
  if (spec.containers.length === 0) return { ok: false, reason: "pod spec has no containers" };
  let cpu = 0;
  let memory = 0;
  let gpus = 0;
  for (const c of spec.containers) {
    const name = c.name ?? "";
    const requests = c.resources?.requests ?? {};
    if (Object.keys(requests).length === 0) {
      return { ok: false, reason: `container ${name} has no resource requests specified` };
    }
    try {
      if (requests.cpu?.string) cpu += cpuMillis(requests.cpu.string);
      if (requests.memory?.string) memory += bytes(requests.memory.string);
      // An extended resource is given in limits; its request, when absent, is the limit (as Kubernetes defaults it).
      const gpu = c.resources?.limits[GPU_RESOURCE]?.string ?? requests[GPU_RESOURCE]?.string;
      if (gpu) {
        const n = parseQuantity(gpu);
        if (!Number.isInteger(n) || n < 0)
          throw new Error(`${GPU_RESOURCE} must be a whole number, got "${gpu}"`);
        gpus += n;
      }
    } catch (err) {
      return {
        ok: false,
        reason: `container ${name} has an invalid resource request: ${(err as Error).message}`,
      };
    }
  }
  if (cpu > largestNode.cpuMillis || memory > largestNode.memoryBytes) {
    return {
      ok: false,
      reason:
        `job does not fit on any node: it requests cpu ${cpu}m and memory ${memory} bytes, the largest node ` +
        `has cpu ${largestNode.cpuMillis}m and memory ${largestNode.memoryBytes} bytes`,
    };
  }
  // GPUs are left to the scheduler: a job no node can give its GPUs waits, queued, as on a real cluster.
  return { ok: true, resources: { cpuMillis: cpu, memoryBytes: memory, ...(gpus > 0 ? { gpus } : {}) } };
}
