/**
 * Cross-encoding vectors: rich Armada messages written once as proto3 JSON
 * (json_name keys, int64 as strings, enums by name, bytes as base64), encoded
 * by both the official Python client and our generated TypeScript code.
 *
 * Timestamps carry millisecond precision because ts-proto maps Timestamp to a
 * JS Date (see the README note in the final report: sub-millisecond precision
 * is not representable on our side).
 */
import { EventStreamMessage } from "../../src/gen/armada/event.js";
import { JobDetailsResponse, JobRunDetails, JobStatusResponse } from "../../src/gen/armada/job.js";
import { JobSetCancelRequest, JobSubmitRequest, Queue } from "../../src/gen/armada/submit.js";

/** The generated-code surface the test drives (every ts-proto message object has it). */
export interface Codec {
  encode(message: unknown): { finish(): Uint8Array };
  decode(input: Uint8Array): unknown;
  fromJSON(object: unknown): unknown;
  toJSON(message: unknown): unknown;
}

/** One vector: the same value handed to both implementations. */
export interface Vector {
  name: string;
  /** Full protobuf name, resolved by the Python side in the official descriptor pool. */
  type: string;
  codec: Codec;
  json: Record<string, unknown>;
  /** Proto2 fields (proto field name path) set to a zero value or empty: they must stay set both ways. */
  present?: string[];
  /** Proto2 fields left unset: they must stay unset both ways (so the presence check can fail). */
  absent?: string[];
}

const quantity = (s: string) => ({ string: s });
const intPort = (n: number) => ({ type: "0", intVal: n });
const namedPort = (s: string) => ({ type: "1", strVal: s });
const selector = {
  matchLabels: { app: "trainer", tier: "gpu" },
  matchExpressions: [
    { key: "zone", operator: "In", values: ["eu-1a", "eu-1b"] },
    { key: "spot", operator: "DoesNotExist" },
  ],
};
const ref = (name: string) => ({ localObjectReference: { name } });

/** A container using every field family of the Container message. */
const mainContainer = {
  name: "main",
  image: "registry.example.com/trainer:1.2.3",
  command: ["python", "-m", "train"],
  args: ["--epochs", "3"],
  // Empty string set on purpose: proto2 presence keeps it.
  workingDir: "",
  ports: [
    { name: "http", containerPort: 8080, protocol: "TCP" },
    { name: "metrics", hostPort: 0, containerPort: 9090, protocol: "TCP", hostIP: "0.0.0.0" },
  ],
  envFrom: [
    { prefix: "CFG_", configMapRef: { ...ref("app-config"), optional: false } },
    { secretRef: { ...ref("app-secrets"), optional: true } },
  ],
  env: [
    { name: "PLAIN", value: "value" },
    { name: "EMPTY", value: "" },
    { name: "POD_NAME", valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "metadata.name" } } },
    {
      name: "CPU_LIMIT",
      valueFrom: {
        resourceFieldRef: { containerName: "main", resource: "limits.cpu", divisor: quantity("1m") },
      },
    },
    {
      name: "FROM_CM",
      valueFrom: { configMapKeyRef: { ...ref("app-config"), key: "level", optional: true } },
    },
    { name: "TOKEN", valueFrom: { secretKeyRef: { ...ref("app-secrets"), key: "token", optional: false } } },
  ],
  resources: {
    limits: { cpu: quantity("2"), memory: quantity("4Gi"), "nvidia.com/gpu": quantity("1") },
    requests: { cpu: quantity("500m"), "ephemeral-storage": quantity("10Gi"), memory: quantity("1Gi") },
    claims: [{ name: "gpu-claim", request: "one" }],
  },
  resizePolicy: [{ resourceName: "cpu", restartPolicy: "NotRequired" }],
  restartPolicy: "Always",
  volumeMounts: [
    { name: "config", readOnly: true, mountPath: "/etc/app", subPath: "app.yaml" },
    { name: "scratch", readOnly: false, recursiveReadOnly: "Disabled", mountPath: "/scratch" },
    { name: "data", mountPath: "/data", mountPropagation: "HostToContainer", subPathExpr: "$(POD_NAME)" },
  ],
  volumeDevices: [{ name: "block", devicePath: "/dev/xvda" }],
  livenessProbe: {
    handler: {
      httpGet: {
        path: "/healthz",
        port: intPort(8080),
        host: "127.0.0.1",
        scheme: "HTTP",
        httpHeaders: [{ name: "X-Probe", value: "1" }],
      },
    },
    initialDelaySeconds: 0,
    timeoutSeconds: 1,
    periodSeconds: 10,
    successThreshold: 1,
    failureThreshold: 3,
    terminationGracePeriodSeconds: "0",
  },
  readinessProbe: {
    handler: { tcpSocket: { port: namedPort("http"), host: "localhost" } },
    periodSeconds: 5,
  },
  startupProbe: { handler: { exec: { command: ["cat", "/tmp/ready"] } }, failureThreshold: 30 },
  lifecycle: {
    postStart: { exec: { command: ["sh", "-c", "echo started"] } },
    preStop: { sleep: { seconds: "5" } },
  },
  terminationMessagePath: "/dev/termination-log",
  terminationMessagePolicy: "FallbackToLogsOnError",
  imagePullPolicy: "IfNotPresent",
  securityContext: {
    capabilities: { add: ["NET_ADMIN"], drop: ["ALL"] },
    privileged: false,
    seLinuxOptions: { user: "u", role: "r", type: "t", level: "s0" },
    windowsOptions: {
      gmsaCredentialSpecName: "n",
      gmsaCredentialSpec: "s",
      runAsUserName: "u",
      hostProcess: false,
    },
    runAsUser: "0",
    runAsGroup: "0",
    runAsNonRoot: false,
    readOnlyRootFilesystem: false,
    allowPrivilegeEscalation: false,
    procMount: "Default",
    seccompProfile: { type: "RuntimeDefault" },
    appArmorProfile: { type: "Localhost", localhostProfile: "armada" },
  },
  stdin: false,
  stdinOnce: false,
  tty: false,
};

/** A PodSpec using every field family of PodSpec, including every volume source kind. */
const richPodSpec = {
  volumes: [
    {
      name: "config",
      volumeSource: {
        configMap: {
          ...ref("app-config"),
          items: [{ key: "app.yaml", path: "app.yaml", mode: 420 }],
          defaultMode: 420,
          optional: false,
        },
      },
    },
    {
      name: "secret",
      volumeSource: {
        secret: {
          secretName: "app-secrets",
          items: [{ key: "token", path: "token" }],
          defaultMode: 256,
          optional: true,
        },
      },
    },
    { name: "scratch", volumeSource: { emptyDir: { medium: "Memory", sizeLimit: quantity("512Mi") } } },
    { name: "empty", volumeSource: { emptyDir: {} } },
    { name: "host", volumeSource: { hostPath: { path: "/var/log", type: "Directory" } } },
    { name: "data", volumeSource: { persistentVolumeClaim: { claimName: "data-pvc", readOnly: false } } },
    {
      name: "projected",
      volumeSource: {
        projected: {
          sources: [
            { secret: { ...ref("s"), items: [{ key: "a", path: "a" }], optional: false } },
            { downwardAPI: { items: [{ path: "labels", fieldRef: { fieldPath: "metadata.labels" } }] } },
            { configMap: { ...ref("c"), items: [{ key: "b", path: "b", mode: 292 }] } },
            { serviceAccountToken: { audience: "vault", expirationSeconds: "3600", path: "token" } },
            {
              clusterTrustBundle: {
                signerName: "example.com/signer",
                labelSelector: selector,
                optional: true,
                path: "ca.pem",
              },
            },
          ],
          defaultMode: 420,
        },
      },
    },
    {
      name: "downward",
      volumeSource: {
        downwardAPI: {
          items: [
            {
              path: "cpu",
              resourceFieldRef: { containerName: "main", resource: "requests.cpu", divisor: quantity("1m") },
              mode: 0,
            },
          ],
          defaultMode: 0,
        },
      },
    },
    {
      name: "csi",
      volumeSource: {
        csi: {
          driver: "csi.example.com",
          readOnly: true,
          fsType: "ext4",
          volumeAttributes: { a: "1", b: "2" },
          nodePublishSecretRef: { name: "csi-secret" },
        },
      },
    },
    {
      name: "ephemeral",
      volumeSource: {
        ephemeral: {
          volumeClaimTemplate: {
            metadata: { labels: { scratch: "true" }, annotations: { note: "tmp" } },
            spec: {
              accessModes: ["ReadWriteOnce"],
              selector,
              resources: { limits: { storage: quantity("20Gi") }, requests: { storage: quantity("10Gi") } },
              storageClassName: "fast",
              volumeMode: "Filesystem",
              dataSource: { apiGroup: "snapshot.storage.k8s.io", kind: "VolumeSnapshot", name: "snap" },
              dataSourceRef: {
                apiGroup: "snapshot.storage.k8s.io",
                kind: "VolumeSnapshot",
                name: "snap",
                namespace: "ns",
              },
              volumeAttributesClassName: "gold",
            },
          },
        },
      },
    },
    { name: "nfs", volumeSource: { nfs: { server: "nfs.example.com", path: "/exports", readOnly: true } } },
    {
      name: "git",
      volumeSource: {
        gitRepo: { repository: "https://example.com/r.git", revision: "main", directory: "." },
      },
    },
    {
      name: "image",
      volumeSource: { image: { reference: "registry.example.com/data:1", pullPolicy: "Always" } },
    },
    {
      name: "iscsi",
      volumeSource: {
        iscsi: {
          targetPortal: "10.0.0.1:3260",
          iqn: "iqn.x",
          lun: 0,
          portals: ["10.0.0.2"],
          chapAuthDiscovery: false,
          secretRef: { name: "chap" },
        },
      },
    },
    { name: "flex", volumeSource: { flexVolume: { driver: "d", options: { k: "v" }, readOnly: false } } },
    {
      name: "cephfs",
      volumeSource: { cephfs: { monitors: ["m1", "m2"], path: "/", user: "admin", readOnly: true } },
    },
    { name: "fc", volumeSource: { fc: { targetWWNs: ["w1"], lun: 2, fsType: "xfs", wwids: ["id"] } } },
    {
      name: "azure",
      volumeSource: { azureDisk: { diskName: "d", diskURI: "u", cachingMode: "None", kind: "Managed" } },
    },
    {
      name: "scaleio",
      volumeSource: { scaleIO: { gateway: "g", system: "s", secretRef: { name: "x" }, sslEnabled: false } },
    },
  ],
  initContainers: [
    {
      name: "init",
      image: "busybox",
      command: ["sh", "-c", "true"],
      restartPolicy: "Always",
      resources: { requests: { cpu: quantity("100m") } },
    },
  ],
  containers: [mainContainer, { name: "sidecar", image: "envoy", ports: [{ containerPort: 15000 }] }],
  ephemeralContainers: [
    { ephemeralContainerCommon: { name: "debug", image: "busybox", tty: true }, targetContainerName: "main" },
  ],
  restartPolicy: "Never",
  terminationGracePeriodSeconds: "30",
  // Above 2^53: int64 must travel as a string without precision loss.
  activeDeadlineSeconds: "9007199254740993",
  dnsPolicy: "ClusterFirst",
  nodeSelector: { "kubernetes.io/os": "linux", pool: "gpu" },
  serviceAccountName: "runner",
  serviceAccount: "runner",
  automountServiceAccountToken: false,
  nodeName: "node-1",
  hostNetwork: false,
  hostPID: false,
  hostIPC: false,
  shareProcessNamespace: true,
  securityContext: {
    seLinuxOptions: { level: "s0:c1" },
    runAsUser: "1000",
    runAsGroup: "0",
    runAsNonRoot: true,
    // Proto2 repeated scalars are unpacked on the wire: the byte comparison checks we agree.
    supplementalGroups: ["0", "1000", "4294967296"],
    supplementalGroupsPolicy: "Merge",
    fsGroup: "2000",
    sysctls: [{ name: "net.core.somaxconn", value: "1024" }],
    fsGroupChangePolicy: "OnRootMismatch",
    seccompProfile: { type: "Localhost", localhostProfile: "p.json" },
    seLinuxChangePolicy: "MountOption",
  },
  imagePullSecrets: [{ name: "regcred" }],
  hostname: "trainer",
  subdomain: "jobs",
  affinity: {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [
          {
            matchExpressions: [{ key: "gpu", operator: "Exists" }],
            matchFields: [{ key: "metadata.name", operator: "NotIn", values: ["bad-node"] }],
          },
        ],
      },
      preferredDuringSchedulingIgnoredDuringExecution: [
        { weight: 0, preference: { matchExpressions: [{ key: "zone", operator: "In", values: ["a"] }] } },
      ],
    },
    podAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: [
        {
          labelSelector: selector,
          namespaces: ["ns1"],
          topologyKey: "kubernetes.io/hostname",
          namespaceSelector: {},
          matchLabelKeys: ["pod-template-hash"],
          mismatchLabelKeys: ["x"],
        },
      ],
    },
    podAntiAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [
        {
          weight: 100,
          podAffinityTerm: {
            labelSelector: { matchLabels: { app: "trainer" } },
            topologyKey: "topology.kubernetes.io/zone",
          },
        },
      ],
    },
  },
  schedulerName: "default-scheduler",
  tolerations: [
    { key: "gpu", operator: "Exists", effect: "NoSchedule" },
    { key: "spot", operator: "Equal", value: "true", effect: "NoExecute", tolerationSeconds: "0" },
  ],
  hostAliases: [{ ip: "10.0.0.9", hostnames: ["db", "db.local"] }],
  priorityClassName: "armada-default",
  // Negative int32: ten bytes on the wire in both encoders.
  priority: -5,
  dnsConfig: {
    nameservers: ["1.1.1.1"],
    searches: ["svc.cluster.local"],
    options: [{ name: "ndots", value: "2" }, { name: "edns0" }],
  },
  readinessGates: [{ conditionType: "example.com/ready" }],
  runtimeClassName: "nvidia",
  enableServiceLinks: false,
  preemptionPolicy: "PreemptLowerPriority",
  overhead: { cpu: quantity("250m"), memory: quantity("120Mi") },
  topologySpreadConstraints: [
    {
      maxSkew: 1,
      topologyKey: "topology.kubernetes.io/zone",
      whenUnsatisfiable: "DoNotSchedule",
      labelSelector: selector,
      minDomains: 2,
      nodeAffinityPolicy: "Honor",
      nodeTaintsPolicy: "Ignore",
      matchLabelKeys: ["pod-template-hash"],
    },
  ],
  setHostnameAsFQDN: false,
  os: { name: "linux" },
  hostUsers: false,
  schedulingGates: [{ name: "wait" }],
  resourceClaims: [{ name: "gpu-claim", resourceClaimTemplateName: "gpu-template" }],
  resources: { limits: { cpu: quantity("3") } },
};

const objectMeta = {
  name: "job-ingress",
  generateName: "job-",
  namespace: "team-a",
  uid: "0b5d1d8e-8a4c-4e0c-9b5e-1c2d3e4f5a6b",
  resourceVersion: "42",
  generation: "0",
  creationTimestamp: { seconds: "1714557600", nanos: 0 },
  deletionGracePeriodSeconds: "30",
  labels: { app: "trainer" },
  annotations: { "armadaproject.io/jobId": "01hx" },
  ownerReferences: [
    {
      apiVersion: "v1",
      kind: "Pod",
      name: "armada-01hx-0",
      uid: "u",
      controller: true,
      blockOwnerDeletion: false,
    },
  ],
  finalizers: ["example.com/cleanup"],
  managedFields: [
    {
      manager: "armada",
      operation: "Update",
      apiVersion: "v1",
      time: { seconds: "1714557600", nanos: 500 },
      fieldsType: "FieldsV1",
      fieldsV1: { Raw: "eyJmOm1ldGFkYXRhIjp7fX0=" },
    },
  ],
};

/** An Armada Job as the server stores it, with Kubernetes Ingress and Service objects. */
const fullJob = {
  id: "01hx0000000000000000000001",
  clientId: "client-42",
  jobSetId: "nightly",
  queue: "research",
  namespace: "team-a",
  labels: { app: "trainer" },
  annotations: { owner: "alice" },
  requiredNodeLabels: { zone: "eu-1" },
  owner: "alice",
  queueOwnershipUserGroups: ["researchers"],
  compressedQueueOwnershipUserGroups: "H4sIAAAAAAAA/w==",
  priority: 1,
  podSpecs: [{ containers: [{ name: "main", image: "busybox" }] }],
  schedulingResourceRequirements: { limits: { cpu: quantity("1") }, requests: { cpu: quantity("1") } },
  created: "2024-05-01T10:00:00.123Z",
  ingress: [{ ports: [8080], tlsEnabled: true }],
  services: [{ type: "Headless", ports: [5000], name: "svc" }],
  k8sIngress: [
    {
      metadata: objectMeta,
      spec: {
        ingressClassName: "nginx",
        defaultBackend: { resource: { apiGroup: "example.com", kind: "Bucket", name: "b" } },
        tls: [{ hosts: ["a.example.com"], secretName: "tls" }],
        rules: [
          {
            host: "a.example.com",
            ingressRuleValue: {
              http: {
                paths: [
                  {
                    path: "/",
                    pathType: "Prefix",
                    backend: { service: { name: "svc", port: { number: 8080 } } },
                  },
                  {
                    path: "/m",
                    pathType: "Exact",
                    backend: { service: { name: "svc", port: { name: "metrics" } } },
                  },
                ],
              },
            },
          },
        ],
      },
      status: {
        loadBalancer: {
          ingress: [{ ip: "10.1.1.1", hostname: "lb", ports: [{ port: 443, protocol: "TCP", error: "" }] }],
        },
      },
    },
  ],
  k8sService: [
    {
      metadata: { name: "svc", namespace: "team-a" },
      spec: {
        ports: [
          {
            name: "http",
            protocol: "TCP",
            appProtocol: "http",
            port: 80,
            targetPort: intPort(8080),
            nodePort: 0,
          },
          { port: 81, targetPort: namedPort("metrics") },
        ],
        selector: { app: "trainer" },
        clusterIP: "None",
        clusterIPs: ["None"],
        type: "ClusterIP",
        externalIPs: ["1.2.3.4"],
        sessionAffinity: "ClientIP",
        loadBalancerSourceRanges: ["10.0.0.0/8"],
        externalTrafficPolicy: "Local",
        healthCheckNodePort: 0,
        publishNotReadyAddresses: false,
        sessionAffinityConfig: { clientIP: { timeoutSeconds: 10800 } },
        ipFamilies: ["IPv4"],
        ipFamilyPolicy: "SingleStack",
        allocateLoadBalancerNodePorts: false,
        internalTrafficPolicy: "Cluster",
        trafficDistribution: "PreferClose",
      },
      status: {
        loadBalancer: {
          ingress: [{ ip: "10.1.1.2", ipMode: "VIP", ports: [{ port: 80, protocol: "TCP" }] }],
        },
        conditions: [
          {
            type: "Ready",
            status: "True",
            observedGeneration: "0",
            lastTransitionTime: { seconds: "1714557600" },
            reason: "r",
            message: "m",
          },
        ],
      },
    },
  ],
  scheduler: "armada",
};

const ts = (ms: number) => new Date(Date.UTC(2024, 4, 1, 10, 0, 0, ms)).toISOString();
const base = (suffix: string) => ({
  jobId: `01hx${suffix}`,
  jobSetId: "nightly",
  queue: "research",
  created: ts(250),
});
const podIdentity = { kubernetesId: "uid-1", podNumber: 0, podName: "armada-01hx-0", podNamespace: "team-a" };

/** One EventStreamMessage per EventMessage oneof case, each with every field of its event set. */
const eventCases: Record<string, Record<string, unknown>> = {
  submitted: { ...base("a"), job: fullJob },
  queued: base("b"),
  leased: { ...base("c"), clusterId: "cluster-1", pool: "gpu" },
  leaseReturned: {
    ...base("d"),
    clusterId: "cluster-1",
    reason: "pod could not be scheduled",
    kubernetesId: "uid",
    podNumber: 1,
    runAttempted: true,
  },
  leaseExpired: base("e"),
  pending: { ...base("f"), clusterId: "cluster-1", ...podIdentity, pool: "gpu" },
  running: { ...base("g"), clusterId: "cluster-1", ...podIdentity, nodeName: "node-1", pool: "gpu" },
  failed: {
    ...base("h"),
    clusterId: "cluster-1",
    reason: "OOMKilled",
    exitCodes: { init: 0, main: 137 },
    ...podIdentity,
    nodeName: "node-1",
    containerStatuses: [
      { name: "main", exitCode: 137, message: "out of memory", reason: "OOMKilled", cause: "OOM" },
      { name: "sidecar", exitCode: -1, cause: "Evicted" },
    ],
    cause: "DeadlineExceeded",
    failureCategory: "infra",
    failureSubcategory: "oom",
    retryable: true,
  },
  succeeded: { ...base("i"), clusterId: "cluster-1", ...podIdentity, nodeName: "node-1" },
  reprioritized: { ...base("j"), newPriority: 0.5, requestor: "alice" },
  cancelling: { ...base("k"), requestor: "alice", reason: "user request" },
  cancelled: { ...base("l"), requestor: "alice", reason: "user request" },
  utilisation: {
    ...base("m"),
    clusterId: "cluster-1",
    kubernetesId: "uid",
    MaxResourcesForPeriod: {
      cpu: quantity("1500m"),
      memory: quantity("2Gi"),
      "nvidia.com/gpu": quantity("1"),
    },
    nodeName: "node-1",
    podNumber: 2,
    podName: "armada-01hx-0",
    podNamespace: "team-a",
    totalCumulativeUsage: { cpu: quantity("3600") },
    AvgResourcesForPeriod: { cpu: quantity("750m"), memory: quantity("1536Mi") },
  },
  ingressInfo: {
    ...base("n"),
    clusterId: "cluster-1",
    kubernetesId: "uid",
    nodeName: "node-1",
    podNumber: 0,
    podName: "armada-01hx-0",
    podNamespace: "team-a",
    ingressAddresses: { "80": "10.0.0.1:80", "8080": "10.0.0.1:8080", "8443": "10.0.0.1:8443" },
  },
  reprioritizing: { ...base("o"), newPriority: 10, requestor: "bob" },
  preempted: {
    ...base("p"),
    clusterId: "cluster-1",
    runId: "run-1",
    preemptiveRunId: "run-2",
    reason: "higher priority",
    preemptingJobId: "01hxz",
    requestor: "scheduler",
  },
  preempting: { ...base("q"), requestor: "alice", reason: "make room" },
};

const securityContextPath = "job_request_items[0].pod_specs[0].containers[0].securityContext";

/** All vectors, in the order they are reported. */
export const vectors: Vector[] = [
  {
    name: "JobSubmitRequest with a PodSpec using every field family",
    type: "api.JobSubmitRequest",
    codec: JobSubmitRequest,
    json: {
      queue: "research",
      jobSetId: "nightly-2024-05-01",
      jobRequestItems: [
        {
          priority: 2.5,
          namespace: "team-a",
          clientId: "client-42",
          labels: { app: "trainer", team: "a" },
          annotations: { "armadaproject.io/ttl": "3600", note: "ünïcödé ✓" },
          requiredNodeLabels: { zone: "eu-1" },
          podSpec: { containers: [{ name: "legacy", image: "busybox" }] },
          podSpecs: [richPodSpec],
          ingress: [
            {
              ports: [8080, 8443],
              annotations: { "nginx.ingress.kubernetes.io/rewrite-target": "/" },
              tlsEnabled: true,
              certName: "cert",
              useClusterIP: true,
            },
          ],
          services: [
            { type: "Headless", ports: [5000, 5001], name: "workers" },
            { type: "NodePort", ports: [30000] },
          ],
          scheduler: "armada",
          externalJobUri: "airflow://dag/task/run",
        },
        {
          priority: 0,
          namespace: "default",
          podSpecs: [{ containers: [{ name: "c", image: "busybox", securityContext: {} }] }],
        },
      ],
    },
    present: [
      `${securityContextPath}.runAsUser`,
      `${securityContextPath}.privileged`,
      `${securityContextPath}.runAsNonRoot`,
      "job_request_items[0].pod_specs[0].containers[0].workingDir",
      "job_request_items[0].pod_specs[0].hostNetwork",
      "job_request_items[0].pod_specs[0].automountServiceAccountToken",
      "job_request_items[0].pod_specs[0].volumes[3].volumeSource.emptyDir",
      "job_request_items[0].pod_specs[0].affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].namespaceSelector",
    ],
    absent: [
      "job_request_items[1].pod_specs[0].containers[0].securityContext.runAsUser",
      "job_request_items[1].pod_specs[0].containers[0].securityContext.privileged",
      "job_request_items[1].pod_specs[0].hostNetwork",
      "job_request_items[0].pod_specs[0].containers[1].securityContext",
    ],
  },
  {
    name: "JobDetailsResponse with runs and timestamps",
    type: "api.JobDetailsResponse",
    codec: JobDetailsResponse,
    json: {
      jobDetails: {
        "01hx0000000000000000000001": {
          jobId: "01hx0000000000000000000001",
          queue: "research",
          jobset: "nightly",
          namespace: "team-a",
          state: "FAILED",
          submittedTs: ts(1),
          cancelTs: ts(2),
          cancelReason: "user request",
          lastTransitionTs: ts(999),
          latestRunId: "run-2",
          jobSpec: fullJob,
          jobRuns: [
            {
              runId: "run-1",
              jobId: "01hx0000000000000000000001",
              state: "RUN_STATE_PREEMPTED",
              cluster: "cluster-1",
              node: "node-1",
              leasedTs: ts(10),
              pendingTs: ts(20),
              startedTs: ts(30),
              finishedTs: ts(40),
              ingressAddresses: { "8080": "10.0.0.1:8080" },
            },
            {
              runId: "run-2",
              jobId: "01hx0000000000000000000001",
              state: "RUN_STATE_FAILED",
              cluster: "cluster-2",
              leasedTs: ts(50),
            },
            { runId: "run-3", state: "RUN_STATE_UNKNOWN" },
          ],
          cancelUser: "alice",
        },
        "01hx0000000000000000000002": {
          jobId: "01hx0000000000000000000002",
          state: "QUEUED",
          submittedTs: "1970-01-01T00:00:00Z",
        },
      },
    },
  },
  {
    name: "JobStatusResponse with every JobState, including the zero value QUEUED",
    type: "api.JobStatusResponse",
    codec: JobStatusResponse,
    json: {
      jobStates: Object.fromEntries(
        [
          "QUEUED",
          "PENDING",
          "RUNNING",
          "SUCCEEDED",
          "FAILED",
          "UNKNOWN",
          "SUBMITTED",
          "LEASED",
          "PREEMPTED",
          "CANCELLED",
          "REJECTED",
        ].map((s, i) => [`job-${String.fromCharCode(97 + i)}`, s]),
      ),
    },
  },
  {
    name: "JobSetCancelRequest with a states filter",
    type: "api.JobSetCancelRequest",
    codec: JobSetCancelRequest,
    json: {
      jobSetId: "nightly",
      queue: "research",
      filter: { states: ["QUEUED", "PENDING", "RUNNING", "LEASED", "SUBMITTED"] },
      reason: "superseded",
    },
  },
  {
    name: "Queue with permissions and resource limits",
    type: "api.Queue",
    codec: Queue,
    json: {
      name: "research",
      priorityFactor: 1.5,
      userOwners: ["alice"],
      groupOwners: ["ml"],
      resourceLimits: { cpu: 0.5, memory: 0.25 },
      resourceLimitsByPriorityClassName: {
        "armada-default": {
          maximumResourceFraction: { cpu: 0.9 },
          maximumResourceFractionByPool: { gpu: { maximumResourceFraction: { "nvidia.com/gpu": 1 } } },
        },
      },
      permissions: [{ subjects: [{ kind: "Group", name: "ml" }], verbs: ["submit", "cancel"] }],
      cordoned: true,
      labels: { tier: "gold" },
      retryPolicies: ["default"],
    },
  },
  ...Object.entries(eventCases).map(([kase, event], i): Vector => ({
    name: `EventStreamMessage: ${kase}`,
    type: "api.EventStreamMessage",
    codec: EventStreamMessage,
    json: { id: `1714557600000-${i}`, message: { [kase]: event } },
  })),
];

/** The EventMessage oneof cases the vectors cover (the test checks this is all of them). */
export const eventCaseNames = Object.keys(eventCases);

/**
 * A known limit of the generated mapping, not a wire difference: ts-proto maps
 * Timestamp to a JS Date, which holds milliseconds, so the sub-millisecond
 * digits a real server sends (Go and PostgreSQL keep micro- or nanoseconds) are
 * dropped on decode. The test pins exactly this loss, so it notices if the
 * mapping changes (for the better or the worse).
 */
export const subMillisecondTimestamp: Vector = {
  name: "JobRunDetails with a nanosecond timestamp",
  type: "api.JobRunDetails",
  codec: JobRunDetails,
  json: { runId: "run-1", startedTs: "2024-05-01T10:00:00.123456789Z" },
};
