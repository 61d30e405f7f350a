/**
 * What a container's environment holds on Kubernetes, for the pod the dev
 * server plays: `env[].value` with `$(VAR)` references expanded, the
 * downward API (`valueFrom.fieldRef` on the pod's metadata, spec and status;
 * `valueFrom.resourceFieldRef` on its requests and limits) and `HOSTNAME`.
 *
 * The pod is the one Armada's executor would create: named
 * `armada-<job id>-0`, its uid the run's id (the `kubernetes_id` of the
 * events), labelled with the job's labels plus `armada_job_id`,
 * `armada_pod_number` and `armada_queue_id`, annotated with the job's
 * annotations plus `armada_jobset_id` and `armada_owner`. The executor sets
 * no environment variables of its own; a container that wants its job id
 * reads that label through a fieldRef (as Armada's Spark integration does).
 */
import type { Container, EnvVar, PodSpec } from "../gen/k8s.io/api/core/v1/generated.js";
import { parseQuantity } from "./quantity.js";

/** The pod a run would have on Kubernetes, as the downward API shows it. */
export interface PodIdentity {
  name: string;
  namespace: string;
  uid: string;
  nodeName: string;
  podIP: string;
  hostIP: string;
  serviceAccountName: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Allocatable CPU (cores) and memory (bytes) of the node: a resourceFieldRef on an unset limit reads these. */
  node: { cpu: number; memory: number };
}

/** The container's environment, or why Kubernetes would not start it. */
export type ContainerEnv = { ok: true; env: Record<string, string> } | { ok: false; reason: string };

const FIELD_PATHS = [
  "metadata.name",
  "metadata.namespace",
  "metadata.uid",
  "metadata.labels['<KEY>']",
  "metadata.annotations['<KEY>']",
  "spec.nodeName",
  "spec.serviceAccountName",
  "status.hostIP",
  "status.podIP",
  "status.podIPs",
];
const RESOURCES = [
  "limits.cpu",
  "limits.memory",
  "limits.ephemeral-storage",
  "requests.cpu",
  "requests.memory",
  "requests.ephemeral-storage",
];

/** Expands `$(NAME)` with the variables defined so far; `$$(NAME)` stays literal, unknown names stay as written. */
export function expandVariables(text: string, env: Record<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) => {
    if (m === "$$") return "$";
    return name !== undefined && Object.hasOwn(env, name) ? env[name]! : m;
  });
}

function fieldValue(path: string, pod: PodIdentity): string | undefined {
  const keyed = /^metadata\.(labels|annotations)\['([^']*)'\]$/.exec(path);
  if (keyed) return (keyed[1] === "labels" ? pod.labels : pod.annotations)[keyed[2]!] ?? "";
  switch (path) {
    case "metadata.name":
      return pod.name;
    case "metadata.namespace":
      return pod.namespace;
    case "metadata.uid":
      return pod.uid;
    case "spec.nodeName":
      return pod.nodeName;
    case "spec.serviceAccountName":
      return pod.serviceAccountName;
    case "status.hostIP":
      return pod.hostIP;
    case "status.podIP":
    case "status.podIPs":
      return pod.podIP;
    default:
      return undefined;
  }
}

function resourceValue(
  ref: { containerName?: string; resource?: string; divisor?: { string?: string } },
  container: Container,
  spec: PodSpec,
  pod: PodIdentity,
): string | { error: string } {
  const resource = ref.resource ?? "";
  if (!RESOURCES.includes(resource)) {
    return { error: `Unsupported value: "${resource}": supported values: ${RESOURCES.map((r) => `"${r}"`).join(", ")}` };
  }
  const target = ref.containerName ? spec.containers.find((c) => c.name === ref.containerName) : container;
  if (!target) return { error: `containerName: Invalid value: "${ref.containerName}": must be a container of the pod` };
  const [side, name] = resource.split(".") as ["limits" | "requests", string];
  const q = target.resources?.[side]?.[name]?.string;
  let value: number;
  if (q) value = parseQuantity(q);
  else if (side === "limits" && name === "cpu") value = pod.node.cpu;
  else if (side === "limits" && name === "memory") value = pod.node.memory;
  else value = 0;
  const divisor = ref.divisor?.string ? parseQuantity(ref.divisor.string) : 1;
  if (!(divisor > 0)) return { error: `divisor: Invalid value: "${ref.divisor?.string}": must be positive` };
  // Kubernetes rounds up, so a 250m limit read with the default divisor of 1 is "1".
  return String(Math.ceil(value / divisor - 1e-9));
}

/**
 * The environment of `container` in `pod`, in the order Kubernetes builds it;
 * a reference Kubernetes would refuse makes the whole pod fail with its words.
 */
export function containerEnv(container: Container, spec: PodSpec, pod: PodIdentity, where: string): ContainerEnv {
  const env: Record<string, string> = { HOSTNAME: pod.name };
  for (const [i, e] of (container.env ?? []).entries()) {
    const got = envValue(e, container, spec, pod, env);
    if (typeof got === "object") {
      if (got.error.startsWith("CreateContainerConfigError")) return { ok: false, reason: got.error };
      return { ok: false, reason: `Pod "${pod.name}" is invalid: ${where}.env[${i}].valueFrom.${got.error}` };
    }
    if (got !== undefined && e.name) env[e.name] = got;
  }
  return { ok: true, env };
}

function envValue(
  e: EnvVar,
  container: Container,
  spec: PodSpec,
  pod: PodIdentity,
  env: Record<string, string>,
): string | undefined | { error: string } {
  const from = e.valueFrom;
  if (!from) return expandVariables(e.value ?? "", env);
  if (from.fieldRef) {
    const path = from.fieldRef.fieldPath ?? "";
    const v = fieldValue(path, pod);
    if (v === undefined) {
      return {
        error: `fieldRef.fieldPath: Unsupported value: "${path}": supported values: ${FIELD_PATHS.map((p) => `"${p}"`).join(", ")}`,
      };
    }
    return v;
  }
  if (from.resourceFieldRef) {
    const v = resourceValue(from.resourceFieldRef, container, spec, pod);
    return typeof v === "string" ? v : { error: `resourceFieldRef.${v.error}` };
  }
  // The dev server has no ConfigMaps or Secrets: the kubelet cannot build such a container's environment.
  const ref = from.configMapKeyRef ?? from.secretKeyRef;
  if (ref) {
    if (ref.optional) return undefined;
    const kind = from.configMapKeyRef ? "configmap" : "secret";
    return { error: `CreateContainerConfigError: ${kind} "${ref.localObjectReference?.name ?? ""}" not found` };
  }
  return "";
}
