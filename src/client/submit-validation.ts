/**
 * Checks a job request item against the rules the job would meet on its way
 * to a pod: Armada's submit checks (one pod spec, priority, client id length,
 * pod spec size, requests within limits, a port exposed once) and the
 * Kubernetes API's validation of the fields we send (names, label and
 * annotation keys and values, quantities, ports, enums, total annotation
 * size). Pure: an item in, a list of problems out, each naming the field.
 * The operator runs it before submitting and the dev server on receipt, so
 * an invalid job is refused before anything is created.
 */
import type { JobSubmitRequestItem } from "../gen/armada/submit.js";
import { PodSpec } from "../gen/k8s.io/api/core/v1/generated.js";
import type { Container, ContainerPort } from "../gen/k8s.io/api/core/v1/generated.js";

/** Which check a problem comes from, so a caller can leave some to another layer. */
export type SubmitRule =
  | "pod-spec-missing"
  | "pod-spec-exclusive"
  | "pod-spec-count"
  | "containers"
  | "container-name"
  | "container-name-unique"
  | "namespace"
  | "priority"
  | "client-id"
  | "labels"
  | "annotations"
  | "enum"
  | "port"
  | "quantity"
  | "resources"
  | "size";

/** One problem: the field's path in the item (Kubernetes spelling) and what is wrong with it. */
export interface SubmitIssue {
  /** e.g. `podSpec.containers[0].resources.requests.memory` */
  path: string;
  /** What is wrong and what would be right. */
  message: string;
  rule: SubmitRule;
}

/** Options of {@link validateSubmitItem}. */
export interface SubmitValidationOptions {
  /**
   * Largest encoded pod spec Armada accepts (its `maxPodSpecSizeBytes`).
   * @default {@link ARMADA_MAX_POD_SPEC_SIZE_BYTES}
   */
  maxPodSpecSizeBytes?: number;
  /** Checks to leave out (a caller that answers them another way). @default none */
  except?: Iterable<SubmitRule>;
}

/** Armada's default `scheduling.maxPodSpecSizeBytes`: the largest pod spec (protobuf-encoded) it accepts. */
export const ARMADA_MAX_POD_SPEC_SIZE_BYTES = 65_535;
/** Kubernetes' limit on the summed size of an object's annotation keys and values (256 KiB). */
export const KUBERNETES_TOTAL_ANNOTATION_SIZE_BYTES = 256 * 1024;
/** Armada refuses longer client ids. */
export const ARMADA_MAX_CLIENT_ID_LENGTH = 100;

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const IANA_SVC_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const QUANTITY = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$/;
const QUANTITY_SUFFIX: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

const RESTART_POLICIES = ["Always", "OnFailure", "Never"];
const PULL_POLICIES = ["Always", "Never", "IfNotPresent"];
const PROTOCOLS = ["TCP", "UDP", "SCTP"];

const DNS1123_LABEL_HELP =
  "must be a lowercase RFC 1123 label: at most 63 lower case alphanumeric characters or '-', starting and ending " +
  "with an alphanumeric character (e.g. 'my-name' or '123-abc')";

/** The value of a Kubernetes quantity in base units, or undefined when `text` is not one. */
export function quantityValue(text: string): number | undefined {
  const m = QUANTITY.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]);
  if (m[2]) return n * 10 ** Number(m[2].slice(1));
  return n * QUANTITY_SUFFIX[m[3] ?? ""]!;
}

/**
 * What is wrong with `key` as a Kubernetes qualified name (label and
 * annotation keys: `[prefix/]name`), or undefined when it is one.
 */
export function qualifiedNameProblem(key: string): string | undefined {
  // Every job of a mapped task checks the same few keys; a regex test each time was ~5% of a submit's CPU.
  if (knownQualifiedNames.has(key)) return knownQualifiedNames.get(key);
  const problem = findQualifiedNameProblem(key);
  if (knownQualifiedNames.size >= MAX_KNOWN_QUALIFIED_NAMES) knownQualifiedNames.clear();
  knownQualifiedNames.set(key, problem);
  return problem;
}

/** Answers of {@link qualifiedNameProblem} so far (bounded: cleared when full). */
const knownQualifiedNames = new Map<string, string | undefined>();
const MAX_KNOWN_QUALIFIED_NAMES = 4096;

function findQualifiedNameProblem(key: string): string | undefined {
  const parts = key.split("/");
  if (parts.length > 2)
    return "a qualified name has at most one '/' (an optional DNS subdomain prefix, then the name)";
  const name = parts.at(-1)!;
  if (parts.length === 2) {
    const prefix = parts[0]!;
    if (prefix.length === 0) return "the prefix before '/' must not be empty";
    if (prefix.length > 253) return "the prefix before '/' must be no more than 253 characters";
    if (!DNS1123_SUBDOMAIN.test(prefix)) {
      return (
        `the prefix '${prefix}' must be a DNS subdomain: lower case alphanumeric characters, '-' or '.', ` +
        "starting and ending with an alphanumeric character (e.g. 'example.com')"
      );
    }
  }
  if (name.length === 0) return "the name part must not be empty";
  if (name.length > 63) return "the name part must be no more than 63 characters";
  if (!QUALIFIED_NAME_PART.test(name)) {
    return (
      "the name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an " +
      "alphanumeric character (e.g. 'MyName', 'my.name' or 'example.com/my-name')"
    );
  }
  return undefined;
}

function keyPath(base: string, key: string): string {
  return `${base}[${JSON.stringify(key)}]`;
}

function byteLength(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

/** The longest string anywhere in `value`, with its path, to point at what makes a pod spec too big. */
function largestString(value: unknown, path: string): { path: string; bytes: number } | undefined {
  if (typeof value === "string") return { path, bytes: byteLength(value) };
  let best: { path: string; bytes: number } | undefined;
  const consider = (v: unknown, p: string) => {
    const found = largestString(v, p);
    if (found && (!best || found.bytes > best.bytes)) best = found;
  };
  if (Array.isArray(value)) value.forEach((v, i) => consider(v, `${path}[${i}]`));
  else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value))
      consider(v, /^[A-Za-z_]\w*$/.test(k) ? `${path}.${k}` : keyPath(path, k));
  }
  return best;
}

class Collector {
  readonly issues: SubmitIssue[] = [];
  constructor(private readonly skip: ReadonlySet<SubmitRule>) {}
  add(rule: SubmitRule, path: string, message: string): void {
    if (!this.skip.has(rule)) this.issues.push({ rule, path, message });
  }
}

function checkLabels(out: Collector, base: string, labels: Record<string, string>): void {
  for (const [key, value] of Object.entries(labels)) {
    const problem = qualifiedNameProblem(key);
    if (problem)
      out.add("labels", keyPath(base, key), `invalid label key ${JSON.stringify(key)}: ${problem}`);
    if (value.length > 63) {
      out.add(
        "labels",
        keyPath(base, key),
        `label value must be no more than 63 characters, got ${value.length}`,
      );
    } else if (value !== "" && !QUALIFIED_NAME_PART.test(value)) {
      out.add(
        "labels",
        keyPath(base, key),
        `invalid label value ${JSON.stringify(value)}: must be empty or consist of alphanumeric characters, '-', '_' ` +
          "or '.', starting and ending with an alphanumeric character",
      );
    }
  }
}

function checkAnnotations(out: Collector, annotations: Record<string, string>): void {
  let total = 0;
  for (const [key, value] of Object.entries(annotations)) {
    // Kubernetes checks annotation keys case-insensitively.
    const problem = qualifiedNameProblem(key.toLowerCase());
    if (problem) {
      out.add(
        "annotations",
        keyPath("annotations", key),
        `invalid annotation key ${JSON.stringify(key)}: ${problem}`,
      );
    }
    total += byteLength(key) + byteLength(value);
  }
  if (total > KUBERNETES_TOTAL_ANNOTATION_SIZE_BYTES) {
    out.add(
      "annotations",
      "annotations",
      `annotations are ${total} bytes in all; Kubernetes allows at most ${KUBERNETES_TOTAL_ANNOTATION_SIZE_BYTES} ` +
        "(256 KiB). Pass large data another way (a volume, a URL to fetch).",
    );
  }
}

function checkEnum(out: Collector, path: string, value: string | undefined, allowed: string[]): void {
  if (value !== undefined && value !== "" && !allowed.includes(value)) {
    out.add(
      "enum",
      path,
      `${JSON.stringify(value)} is not supported; use one of ${allowed.map((a) => `"${a}"`).join(", ")}`,
    );
  }
}

function checkPortNumber(out: Collector, path: string, value: number | undefined, required: boolean): void {
  if (value === undefined || (value === 0 && !required)) {
    if (required) out.add("port", path, "is required: a port number between 1 and 65535");
    return;
  }
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    out.add("port", path, `must be a port number between 1 and 65535 inclusive, got ${value}`);
  }
}

function checkPort(out: Collector, path: string, port: ContainerPort, names: Set<string>): void {
  checkPortNumber(out, `${path}.containerPort`, port.containerPort, true);
  checkPortNumber(out, `${path}.hostPort`, port.hostPort, false);
  checkEnum(out, `${path}.protocol`, port.protocol, PROTOCOLS);
  const name = port.name;
  if (name) {
    if (name.length > 15 || !IANA_SVC_NAME.test(name) || name.includes("--") || !/[a-z]/.test(name)) {
      out.add(
        "port",
        `${path}.name`,
        `invalid port name ${JSON.stringify(name)}: at most 15 lower case alphanumeric characters or '-', with at ` +
          "least one letter, no '--', starting and ending with an alphanumeric character (e.g. 'http')",
      );
    }
    if (names.has(name))
      out.add("port", `${path}.name`, `port name ${JSON.stringify(name)} is used twice in this container`);
    names.add(name);
  }
}

function checkResources(out: Collector, path: string, container: Container): void {
  const values: Record<"requests" | "limits", Map<string, number>> = {
    requests: new Map(),
    limits: new Map(),
  };
  for (const kind of ["requests", "limits"] as const) {
    for (const [resource, q] of Object.entries(container.resources?.[kind] ?? {})) {
      const at = `${path}.resources.${kind}.${resource}`;
      const text = q?.string;
      const value = typeof text === "string" ? quantityValue(text) : undefined;
      if (value === undefined) {
        out.add(
          "quantity",
          at,
          `${JSON.stringify(text ?? q)} is not a Kubernetes quantity; write it like "500m" or "2" (CPU) or "512Mi" or "1Gi" (memory)`,
        );
      } else if (value < 0) {
        out.add("quantity", at, `must be greater than or equal to 0, got ${JSON.stringify(text)}`);
      } else {
        values[kind].set(resource, value);
      }
    }
  }
  for (const [resource, request] of values.requests) {
    const limit = values.limits.get(resource);
    if (limit !== undefined && request > limit) {
      const r = container.resources!.requests[resource]!.string;
      const l = container.resources!.limits[resource]!.string;
      out.add(
        "resources",
        `${path}.resources.requests.${resource}`,
        `request ${r} is greater than the limit ${l}; a request must be less than or equal to its limit (Armada runs jobs with requests equal to limits)`,
      );
    }
  }
}

function checkPodSpec(out: Collector, path: string, spec: PodSpec, maxBytes: number): void {
  checkEnum(out, `${path}.restartPolicy`, spec.restartPolicy, RESTART_POLICIES);
  if (spec.containers.length === 0)
    out.add("containers", `${path}.containers`, "a pod spec needs at least one container");
  const names = new Map<string, string>();
  const exposed = new Map<number, string>();
  const groups: [string, Container[]][] = [
    ["initContainers", spec.initContainers],
    ["containers", spec.containers],
  ];
  for (const [field, list] of groups) {
    list.forEach((c, i) => {
      const at = `${path}.${field}[${i}]`;
      const name = c.name ?? "";
      if (name.length > 63 || !DNS1123_LABEL.test(name)) {
        out.add(
          "container-name",
          `${at}.name`,
          `invalid container name ${JSON.stringify(name)}: ${DNS1123_LABEL_HELP}`,
        );
      } else if (names.has(name)) {
        out.add(
          "container-name-unique",
          `${at}.name`,
          `container name ${JSON.stringify(name)} is already used by ${names.get(name)}`,
        );
      } else {
        names.set(name, at);
      }
      checkEnum(out, `${at}.imagePullPolicy`, c.imagePullPolicy, PULL_POLICIES);
      const portNames = new Set<string>();
      c.ports.forEach((p, j) => {
        checkPort(out, `${at}.ports[${j}]`, p, portNames);
        // Armada: each container port may be exposed once in the whole pod.
        const n = p.containerPort;
        if (n !== undefined && n > 0 && field === "containers") {
          const first = exposed.get(n);
          if (first)
            out.add(
              "port",
              `${at}.ports[${j}].containerPort`,
              `port ${n} is already exposed by ${first}; expose a port once`,
            );
          else exposed.set(n, `${at}.ports[${j}]`);
        }
      });
      checkResources(out, at, c);
    });
  }
  const size = PodSpec.encode(spec).finish().length;
  if (size > maxBytes) {
    const biggest = largestString(PodSpec.toJSON(spec), path);
    out.add(
      "size",
      biggest && biggest.bytes > maxBytes / 2 ? biggest.path : path,
      `the pod spec is ${size} bytes, more than Armada accepts (maxPodSpecSizeBytes, ${maxBytes} by default)` +
        (biggest ? `; its largest value is ${biggest.path} (${biggest.bytes} bytes)` : "") +
        ". Pass large data another way (a volume, a URL to fetch).",
    );
  }
}

/**
 * The problems of `item` (empty when it may be submitted). Paths are those of
 * the item written the Kubernetes way, e.g. `podSpec.containers[0].name`.
 */
export function validateSubmitItem(
  item: JobSubmitRequestItem,
  options: SubmitValidationOptions = {},
): SubmitIssue[] {
  const out = new Collector(new Set(options.except ?? []));
  const maxBytes = options.maxPodSpecSizeBytes ?? ARMADA_MAX_POD_SPEC_SIZE_BYTES;

  if (typeof item.priority !== "number" || !Number.isFinite(item.priority) || item.priority < 0) {
    out.add(
      "priority",
      "priority",
      `must be a finite number >= 0 (lower runs first), got ${String(item.priority)}`,
    );
  }
  if (item.namespace && (item.namespace.length > 63 || !DNS1123_LABEL.test(item.namespace))) {
    out.add(
      "namespace",
      "namespace",
      `invalid namespace ${JSON.stringify(item.namespace)}: ${DNS1123_LABEL_HELP}`,
    );
  }
  if (item.clientId.length > ARMADA_MAX_CLIENT_ID_LENGTH) {
    out.add(
      "client-id",
      "clientId",
      `is ${item.clientId.length} characters; Armada allows at most ${ARMADA_MAX_CLIENT_ID_LENGTH}`,
    );
  }
  checkLabels(out, "labels", item.labels);
  checkLabels(out, "requiredNodeLabels", item.requiredNodeLabels);
  checkAnnotations(out, item.annotations);

  if (item.podSpec && item.podSpecs.length > 0) {
    out.add(
      "pod-spec-exclusive",
      "podSpecs",
      "give either podSpec or podSpecs, not both (podSpec is the deprecated form of a single pod spec)",
    );
  }
  const specs = [
    ...(item.podSpec ? [{ spec: item.podSpec, path: "podSpec" }] : []),
    ...item.podSpecs.map((spec, i) => ({ spec, path: `podSpecs[${i}]` })),
  ];
  if (specs.length === 0) {
    out.add(
      "pod-spec-missing",
      "podSpec",
      'a job needs a pod spec: { podSpec: { containers: [{ name: "main", image: "busybox" }] } }',
    );
  } else if (item.podSpecs.length > 1) {
    out.add("pod-spec-count", "podSpecs", "jobs with more than one pod spec are not supported");
  }
  for (const { spec, path } of specs) checkPodSpec(out, path, spec, maxBytes);
  return out.issues;
}

/**
 * The whole-request refusal for a batch of items, or undefined when every
 * item passes: `job_request_items[<index>].<path>: <message>` for the first
 * item at fault, as a server answers INVALID_ARGUMENT.
 */
export function invalidItemsMessage(
  items: readonly JobSubmitRequestItem[],
  options: SubmitValidationOptions = {},
): string | undefined {
  for (const [index, item] of items.entries()) {
    const issues = validateSubmitItem(item, options);
    if (issues.length === 0) continue;
    return issues.map((i) => `job_request_items[${index}].${i.path}: ${i.message}`).join("; ");
  }
  return undefined;
}
