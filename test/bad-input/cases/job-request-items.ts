/**
 * The malformed job request items shared by the validation tests (pure,
 * operator, dev server): each item in proto form, the field path the refusal
 * must name, and a word the message must contain.
 */
import { JobSubmitRequestItem } from "../../../src/gen/armada/submit.js";
import type { PodSpec } from "../../../src/gen/k8s.io/api/core/v1/generated.js";

type Container = PodSpec["containers"][number];

/** A container that passes every check. */
export function goodContainer(over: Partial<Container> = {}): Container {
  return {
    name: "main",
    image: "busybox:1.36",
    command: [],
    args: ["true"],
    workingDir: undefined,
    ports: [],
    envFrom: [],
    env: [],
    resources: {
      limits: { cpu: { string: "100m" }, memory: { string: "64Mi" } },
      requests: { cpu: { string: "100m" }, memory: { string: "64Mi" } },
      claims: [],
    },
    resizePolicy: [],
    restartPolicy: undefined,
    volumeMounts: [],
    volumeDevices: [],
    livenessProbe: undefined,
    readinessProbe: undefined,
    startupProbe: undefined,
    lifecycle: undefined,
    terminationMessagePath: undefined,
    terminationMessagePolicy: undefined,
    imagePullPolicy: undefined,
    securityContext: undefined,
    stdin: undefined,
    stdinOnce: undefined,
    tty: undefined,
    ...over,
  } as Container;
}

/** An item that passes every check; `spec` changes its pod spec. */
export function goodItem(
  over: Partial<JobSubmitRequestItem> = {},
  spec: Partial<PodSpec> = {},
): JobSubmitRequestItem {
  return JobSubmitRequestItem.fromPartial({
    namespace: "default",
    priority: 0,
    podSpec: { restartPolicy: "Never", containers: [goodContainer()], ...spec } as PodSpec,
    ...over,
  });
}

const withResources = (
  requests: Record<string, string | object>,
  limits: Record<string, string | object> = {},
) =>
  goodContainer({
    resources: {
      requests: Object.fromEntries(
        Object.entries(requests).map(([k, v]) => [k, typeof v === "string" ? { string: v } : v]),
      ),
      limits: Object.fromEntries(
        Object.entries(limits).map(([k, v]) => [k, typeof v === "string" ? { string: v } : v]),
      ),
      claims: [],
    },
  } as Partial<Container>);

const port = (p: Record<string, unknown>) => goodContainer({ ports: [p as never] });

/** One malformed input. */
export interface InvalidCase {
  name: string;
  item: JobSubmitRequestItem;
  /** The path the refusal names, relative to the item. */
  path: string;
  /** A fragment the message must contain. */
  says: RegExp;
  /** Only a raw gRPC client can send it (the operator's Kubernetes form cannot express it). */
  rawOnly?: true;
}

const big = "x".repeat(10 * 1024 * 1024);

/** Malformed items and what each refusal must say. */
export const INVALID_CASES: InvalidCase[] = [
  // quantities
  {
    name: "negative memory -1Gi",
    item: goodItem({}, { containers: [withResources({ cpu: "100m", memory: "-1Gi" }, { cpu: "100m" })] }),
    path: "podSpec.containers[0].resources.requests.memory",
    says: /greater than or equal to 0/,
  },
  {
    name: "negative cpu limit",
    item: goodItem({}, { containers: [withResources({ cpu: "100m" }, { cpu: "-1" })] }),
    path: "podSpec.containers[0].resources.limits.cpu",
    says: /greater than or equal to 0/,
  },
  {
    name: 'cpu {string:"lots"}',
    item: goodItem({}, { containers: [withResources({ cpu: "lots" })] }),
    path: "podSpec.containers[0].resources.requests.cpu",
    says: /Kubernetes quantity/,
  },
  {
    name: "cpu 1.5.5",
    item: goodItem({}, { containers: [withResources({ cpu: "1.5.5" })] }),
    path: "podSpec.containers[0].resources.requests.cpu",
    says: /Kubernetes quantity/,
  },
  {
    name: "memory 1GB (not a suffix)",
    item: goodItem({}, { containers: [withResources({ memory: "1GB" })] }),
    path: "podSpec.containers[0].resources.requests.memory",
    says: /Kubernetes quantity/,
  },
  {
    name: "memory with spaces",
    item: goodItem({}, { containers: [withResources({ memory: " 1Gi" })] }),
    path: "podSpec.containers[0].resources.requests.memory",
    says: /Kubernetes quantity/,
  },
  {
    name: "empty quantity",
    item: goodItem({}, { containers: [withResources({ cpu: "" })] }),
    path: "podSpec.containers[0].resources.requests.cpu",
    says: /Kubernetes quantity/,
  },
  {
    name: "quantity with no string",
    item: goodItem({}, { containers: [withResources({ cpu: {} })] }),
    path: "podSpec.containers[0].resources.requests.cpu",
    says: /Kubernetes quantity/,
    rawOnly: true,
  },
  {
    name: "gpu quantity abc",
    item: goodItem({}, { containers: [withResources({ cpu: "1", "nvidia.com/gpu": "abc" })] }),
    path: "podSpec.containers[0].resources.requests.nvidia.com/gpu",
    says: /Kubernetes quantity/,
  },
  // requests and limits
  {
    name: "cpu request above limit",
    item: goodItem({}, { containers: [withResources({ cpu: "2" }, { cpu: "1" })] }),
    path: "podSpec.containers[0].resources.requests.cpu",
    says: /greater than the limit/,
  },
  {
    name: "memory request above limit (units differ)",
    item: goodItem({}, { containers: [withResources({ memory: "2Gi" }, { memory: "1000Mi" })] }),
    path: "podSpec.containers[0].resources.requests.memory",
    says: /greater than the limit/,
  },
  {
    name: "request above limit in the second container",
    item: goodItem(
      {},
      { containers: [goodContainer(), { ...withResources({ cpu: "500m" }, { cpu: "200m" }), name: "side" }] },
    ),
    path: "podSpec.containers[1].resources.requests.cpu",
    says: /greater than the limit/,
  },
  // priority
  { name: "priority -5", item: goodItem({ priority: -5 }), path: "priority", says: />= 0/ },
  { name: "priority -0.5", item: goodItem({ priority: -0.5 }), path: "priority", says: />= 0/ },
  { name: "priority NaN", item: goodItem({ priority: Number.NaN }), path: "priority", says: /finite/ },
  {
    name: "priority Infinity",
    item: goodItem({ priority: Number.POSITIVE_INFINITY }),
    path: "priority",
    says: /finite/,
  },
  // pod spec forms
  {
    name: "both podSpec and podSpecs",
    item: goodItem({ podSpecs: [{ containers: [goodContainer()] } as unknown as PodSpec] }),
    path: "podSpecs",
    says: /either podSpec or podSpecs, not both/,
  },
  // enums
  {
    name: 'restartPolicy "Sometimes"',
    item: goodItem({}, { restartPolicy: "Sometimes" }),
    path: "podSpec.restartPolicy",
    says: /"Always", "OnFailure", "Never"/,
  },
  {
    name: 'restartPolicy "never" (case)',
    item: goodItem({}, { restartPolicy: "never" }),
    path: "podSpec.restartPolicy",
    says: /not supported/,
  },
  {
    name: 'imagePullPolicy "Sometimes"',
    item: goodItem({}, { containers: [goodContainer({ imagePullPolicy: "Sometimes" })] }),
    path: "podSpec.containers[0].imagePullPolicy",
    says: /IfNotPresent/,
  },
  {
    name: 'port protocol "HTTP"',
    item: goodItem({}, { containers: [port({ containerPort: 80, protocol: "HTTP" })] }),
    path: "podSpec.containers[0].ports[0].protocol",
    says: /"TCP", "UDP", "SCTP"/,
  },
  // ports
  {
    name: "containerPort 70000",
    item: goodItem({}, { containers: [port({ containerPort: 70000 })] }),
    path: "podSpec.containers[0].ports[0].containerPort",
    says: /between 1 and 65535/,
  },
  {
    name: "containerPort 0",
    item: goodItem({}, { containers: [port({ containerPort: 0 })] }),
    path: "podSpec.containers[0].ports[0].containerPort",
    says: /between 1 and 65535/,
  },
  {
    name: "containerPort -1",
    item: goodItem({}, { containers: [port({ containerPort: -1 })] }),
    path: "podSpec.containers[0].ports[0].containerPort",
    says: /between 1 and 65535/,
  },
  {
    name: "containerPort missing",
    item: goodItem({}, { containers: [port({ name: "http" })] }),
    path: "podSpec.containers[0].ports[0].containerPort",
    says: /required/,
  },
  {
    name: "hostPort 65536",
    item: goodItem({}, { containers: [port({ containerPort: 80, hostPort: 65536 })] }),
    path: "podSpec.containers[0].ports[0].hostPort",
    says: /between 1 and 65535/,
  },
  {
    name: "port name too long",
    item: goodItem({}, { containers: [port({ containerPort: 80, name: "a-very-long-port-name" })] }),
    path: "podSpec.containers[0].ports[0].name",
    says: /at most 15/,
  },
  {
    name: "port name with capitals",
    item: goodItem({}, { containers: [port({ containerPort: 80, name: "HTTP" })] }),
    path: "podSpec.containers[0].ports[0].name",
    says: /invalid port name/,
  },
  {
    name: "port name all digits",
    item: goodItem({}, { containers: [port({ containerPort: 80, name: "8080" })] }),
    path: "podSpec.containers[0].ports[0].name",
    says: /at least one letter/,
  },
  {
    name: "port exposed twice",
    item: goodItem(
      {},
      { containers: [port({ containerPort: 80 }), { ...port({ containerPort: 80 }), name: "side" }] },
    ),
    path: "podSpec.containers[1].ports[0].containerPort",
    says: /already exposed/,
  },
  // label keys and values
  {
    name: 'label key "bad key!"',
    item: goodItem({ labels: { "bad key!": "v" } }),
    path: 'labels["bad key!"]',
    says: /invalid label key/,
  },
  {
    name: "label key with two slashes",
    item: goodItem({ labels: { "a/b/c": "v" } }),
    path: 'labels["a/b/c"]',
    says: /at most one '\/'/,
  },
  {
    name: "label key with an empty prefix",
    item: goodItem({ labels: { "/name": "v" } }),
    path: 'labels["/name"]',
    says: /prefix before '\/' must not be empty/,
  },
  {
    name: "label key prefix with capitals",
    item: goodItem({ labels: { "Example.com/name": "v" } }),
    path: 'labels["Example.com/name"]',
    says: /DNS subdomain/,
  },
  {
    name: "label key name of 64 characters",
    item: goodItem({ labels: { ["a".repeat(64)]: "v" } }),
    path: `labels["${"a".repeat(64)}"]`,
    says: /no more than 63/,
  },
  {
    name: "label key prefix of 254 characters",
    item: goodItem({ labels: { [`${"a".repeat(254)}/n`]: "v" } }),
    path: `labels["${"a".repeat(254)}/n"]`,
    says: /no more than 253/,
  },
  {
    name: "label key ending in a dash",
    item: goodItem({ labels: { "name-": "v" } }),
    path: 'labels["name-"]',
    says: /start and end with an\s+alphanumeric/,
  },
  {
    name: "empty label key",
    item: goodItem({ labels: { "": "v" } }),
    path: 'labels[""]',
    says: /must not be empty/,
  },
  {
    name: "label value of 64 characters",
    item: goodItem({ labels: { app: "v".repeat(64) } }),
    path: 'labels["app"]',
    says: /no more than 63/,
  },
  {
    name: "label value with a space",
    item: goodItem({ labels: { app: "my app" } }),
    path: 'labels["app"]',
    says: /invalid label value/,
  },
  {
    name: "required node label key invalid",
    item: goodItem({ requiredNodeLabels: { "bad key!": "x" } }),
    path: 'requiredNodeLabels["bad key!"]',
    says: /invalid label key/,
  },
  // annotations
  {
    name: 'annotation key "bad prefix!taskId"',
    item: goodItem({ annotations: { "bad prefix!taskId": "t" } }),
    path: 'annotations["bad prefix!taskId"]',
    says: /invalid annotation key/,
  },
  {
    name: "annotation key prefix not a subdomain",
    item: goodItem({ annotations: { "under_score.io/x": "t" } }),
    path: 'annotations["under_score.io/x"]',
    says: /DNS subdomain/,
  },
  {
    name: "annotation key with a space",
    item: goodItem({ annotations: { "my key": "t" } }),
    path: 'annotations["my key"]',
    says: /invalid annotation key/,
  },
  {
    name: "annotations over 256 KiB in all",
    item: goodItem({ annotations: { a: "b".repeat(200 * 1024), c: "d".repeat(60 * 1024) } }),
    path: "annotations",
    says: /at most 262144/,
  },
  {
    name: "a 20 MB annotation",
    item: goodItem({ annotations: { blob: "z".repeat(20 * 1024 * 1024) } }),
    path: "annotations",
    says: /at most 262144/,
  },
  // sizes
  {
    name: "a 10 MB argument",
    item: goodItem({}, { containers: [goodContainer({ args: ["echo", big] })] }),
    path: "podSpec.containers[0].args[1]",
    says: /more than Armada accepts \(maxPodSpecSizeBytes, 65535/,
  },
  {
    name: "many env values adding up to over 64 KiB",
    item: goodItem(
      {},
      {
        containers: [
          goodContainer({
            env: Array.from({ length: 100 }, (_, i) => ({ name: `V${i}`, value: "e".repeat(1000) })) as never,
          }),
        ],
      },
    ),
    path: "podSpec",
    says: /maxPodSpecSizeBytes/,
  },
  {
    name: "client id of 101 characters",
    item: goodItem({ clientId: "c".repeat(101) }),
    path: "clientId",
    says: /at most 100/,
  },
  // names
  {
    name: "container name with capitals",
    item: goodItem({}, { containers: [goodContainer({ name: "Main_1" })] }),
    path: "podSpec.containers[0].name",
    says: /RFC 1123 label/,
  },
  {
    name: "container name of 64 characters",
    item: goodItem({}, { containers: [goodContainer({ name: "c".repeat(64) })] }),
    path: "podSpec.containers[0].name",
    says: /at most 63/,
  },
  {
    name: "container name starting with a dash",
    item: goodItem({}, { containers: [goodContainer({ name: "-main" })] }),
    path: "podSpec.containers[0].name",
    says: /RFC 1123 label/,
  },
  {
    name: "container name used twice",
    item: goodItem({}, { containers: [goodContainer(), goodContainer()] }),
    path: "podSpec.containers[1].name",
    says: /already used by podSpec.containers\[0\]/,
  },
  {
    name: "init container named like a container",
    item: goodItem({}, { initContainers: [goodContainer()], containers: [goodContainer()] }),
    path: "podSpec.containers[0].name",
    says: /already used by podSpec.initContainers\[0\]/,
  },
  {
    name: "namespace with capitals",
    item: goodItem({ namespace: "Not_Valid" }),
    path: "namespace",
    says: /RFC 1123 label/,
  },
  {
    name: "namespace of 64 characters",
    item: goodItem({ namespace: "n".repeat(64) }),
    path: "namespace",
    says: /at most 63/,
  },
  {
    name: "namespace with a dot",
    item: goodItem({ namespace: "my.ns" }),
    path: "namespace",
    says: /RFC 1123 label/,
  },
  // structure
  {
    name: "no containers",
    item: goodItem({}, { containers: [] }),
    path: "podSpec.containers",
    says: /at least one container/,
  },
  { name: "no pod spec", item: goodItem({ podSpec: undefined }), path: "podSpec", says: /needs a pod spec/ },
];

/** Items that pass, near the edges of the rules. */
export const VALID_CASES: { name: string; item: JobSubmitRequestItem }[] = [
  { name: "the plain good item", item: goodItem() },
  { name: "no namespace (the server's default applies)", item: goodItem({ namespace: "" }) },
  { name: "priority 0.5", item: goodItem({ priority: 0.5 }) },
  {
    name: "request equal to limit in other units",
    item: goodItem(
      {},
      { containers: [withResources({ cpu: "1", memory: "1Gi" }, { cpu: "1000m", memory: "1024Mi" })] },
    ),
  },
  { name: "requests without limits", item: goodItem({}, { containers: [withResources({ cpu: "1" })] }) },
  {
    name: "exponent quantity",
    item: goodItem({}, { containers: [withResources({ memory: "1e9" }, { memory: "1G" })] }),
  },
  {
    name: "qualified label keys and empty values",
    item: goodItem({ labels: { "example.com/My_Name.x": "", app: "a-b_c.d" } }),
  },
  {
    name: "annotation keys with capitals (checked case-insensitively)",
    item: goodItem({ annotations: { "Example.COM/Key": "v", UpperCase123: "x" } }),
  },
  {
    name: "annotations just under 256 KiB",
    item: goodItem({ annotations: { a: "b".repeat(256 * 1024 - 2) } }),
  },
  {
    name: "port 65535 with a name and protocol",
    item: goodItem({}, { containers: [port({ containerPort: 65535, name: "http-2", protocol: "UDP" })] }),
  },
  { name: "port 1", item: goodItem({}, { containers: [port({ containerPort: 1 })] }) },
  {
    name: "restartPolicy OnFailure and imagePullPolicy IfNotPresent",
    item: goodItem(
      {},
      { restartPolicy: "OnFailure", containers: [goodContainer({ imagePullPolicy: "IfNotPresent" })] },
    ),
  },
  {
    name: "a 60 KB argument (under Armada's limit)",
    item: goodItem({}, { containers: [goodContainer({ args: ["x".repeat(60_000)] })] }),
  },
  { name: "client id of 100 characters", item: goodItem({ clientId: "c".repeat(100) }) },
  {
    name: "a 63-character namespace and container name",
    item: goodItem({ namespace: "n".repeat(63) }, { containers: [goodContainer({ name: "c".repeat(63) })] }),
  },
];
