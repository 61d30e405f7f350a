/**
 * Bad input to ArmadaOperator: job requests in every accepted form (proto
 * objects, Kubernetes-style objects, YAML text, factories) and the
 * operator's own options and settings.
 */
import type { ArmadaOperatorOptions } from "../../../src/operator/armada-operator.js";
import { badInputTable } from "../table.js";
import { goodItem, INVALID_CASES } from "./job-request-items.js";

/** What a case changes: operator options over a good baseline, and environment variables. */
export interface OperatorInput {
  options?: Partial<Record<keyof ArmadaOperatorOptions, unknown>>;
  env?: Record<string, string>;
}

/** A good Kubernetes-style job request that the cases below break one field at a time. */
export function goodKubernetesRequest(
  container: Record<string, unknown> = {},
  over: Record<string, unknown> = {},
) {
  return {
    namespace: "default",
    podSpec: {
      restartPolicy: "Never",
      containers: [
        {
          name: "main",
          image: "busybox:1.36",
          args: ["true"],
          resources: { requests: { cpu: "100m", memory: "64Mi" }, limits: { cpu: "100m", memory: "64Mi" } },
          ...container,
        },
      ],
    },
    ...over,
  };
}

const yaml = (body: string) => body.replace(/^\n/, "");

/** A good job request as YAML text; the first argument is a template. */
export const GOOD_YAML_REQUEST = yaml(`
namespace: default
priority: 2
labels: { team: "{{ params.team }}" }
podSpec:
  restartPolicy: Never
  containers:
    - name: main
      image: busybox:1.36
      command: [sh, -c]
      args: ["echo {{ ti.task_id }} in {{ run_id }}"]
      resources: { requests: { cpu: 100m, memory: 64Mi }, limits: { cpu: 100m, memory: 64Mi } }
`);

const GOOD_YAML = yaml(`
namespace: default
podSpec:
  restartPolicy: Never
  containers:
    - name: main
      image: busybox:1.36
      args: ["true"]
      resources: { requests: { cpu: 100m, memory: 64Mi }, limits: { cpu: 100m, memory: 64Mi } }
`);

const request = (jobRequest: unknown): OperatorInput => ({ options: { jobRequest } });

/** Every malformed item of the shared list the operator's Kubernetes form can express. */
const ITEM_CASES = INVALID_CASES.filter((c) => !c.rawOnly).map((c) => ({
  name: `item: ${c.name}`,
  input: request(c.item),
  field: `job_request.${c.path}`,
  says: c.says,
}));

export const JOB_REQUEST_CASES = badInputTable<OperatorInput>("job request (operator)", [
  ...ITEM_CASES,
  // YAML text
  {
    name: "YAML with a bad indentation",
    input: request("namespace: default\npodSpec:\n  containers:\n    - name: main\n     image: busybox\n"),
    field: "job_request",
    says: /not valid YAML or JSON at line 5, column \d+/,
  },
  {
    name: "YAML with an unclosed flow list",
    input: request("namespace: default\npodSpec:\n  containers: [\n"),
    field: "job_request",
    says: /at line 4, column 1: unexpected end of the stream/,
  },
  {
    name: "YAML with an unquoted template value",
    input: request(GOOD_YAML.replace("image: busybox:1.36", "image: {{ params.image }}")),
    field: "job_request",
    says: /at line 6, column 14: a value that starts with a template must be quoted/,
  },
  {
    name: "YAML with an unquoted template that does not parse",
    input: request("namespace: {{ x\n"),
    field: "job_request",
    says: /at line 1, column 12: a value that starts with a template must be quoted/,
  },
  {
    name: "YAML with a tab indentation",
    input: request("namespace: default\npodSpec:\n\tcontainers: []\n"),
    field: "job_request",
    says: /at line 3, column \d+/,
  },
  {
    name: "YAML with a duplicated key",
    input: request("namespace: default\nnamespace: other\n"),
    field: "job_request",
    says: /at line 2, column \d+: duplicated mapping key/,
  },
  {
    name: "YAML that is a list",
    input: request("- namespace: default\n"),
    field: "job_request",
    says: /expected a job request object/,
  },
  {
    name: "YAML that is one word",
    input: request("podSpec"),
    field: "job_request",
    says: /expected a job request object/,
  },
  {
    name: "empty YAML text",
    input: request(""),
    field: "job_request",
    says: /the text is empty/,
  },
  {
    name: "YAML with a misspelt field",
    input: request(GOOD_YAML.replace("restartPolicy", "restartPolicyy")),
    field: "job_request.podSpec.restartPolicyy",
    says: /unknown field "restartPolicyy" in PodSpec. Did you mean "restartPolicy"\?/,
  },
  {
    name: "YAML with a bad quantity",
    input: request(
      GOOD_YAML.replace("cpu: 100m, memory: 64Mi }, limits", "cpu: lots, memory: 64Mi }, limits"),
    ),
    field: "job_request.podSpec.containers[0].resources.requests.cpu",
    says: /quantity/,
  },
  {
    name: "YAML with a priority that is not a number",
    input: request(`priority: high\n${GOOD_YAML}`),
    field: "job_request.priority",
    says: /number/,
  },
  // Kubernetes-style objects
  {
    name: "containers is a string",
    input: request({ namespace: "default", podSpec: { containers: "main" } }),
    field: "job_request.podSpec.containers",
    says: /list/,
  },
  {
    name: "cpu is a boolean",
    input: request(goodKubernetesRequest({ resources: { requests: { cpu: true } } })),
    field: "job_request.podSpec.containers[0].resources.requests.cpu",
    says: /quantity/,
  },
  {
    name: "memory is an object",
    input: request(goodKubernetesRequest({ resources: { limits: { memory: {} } } })),
    field: "job_request.podSpec.containers[0].resources.limits.memory",
    says: /quantity/,
  },
  {
    name: "containerPort is a name",
    input: request(goodKubernetesRequest({ ports: [{ containerPort: "http" }] })),
    field: "job_request.podSpec.containers[0].ports[0].containerPort",
    says: /integer|number/,
  },
  {
    name: "containerPort is fractional",
    input: request(goodKubernetesRequest({ ports: [{ containerPort: 80.5 }] })),
    field: "job_request.podSpec.containers[0].ports[0].containerPort",
    says: /integer/,
  },
  {
    name: "misspelt container field",
    input: request(goodKubernetesRequest({ imagee: "busybox" })),
    field: "job_request.podSpec.containers[0].imagee",
    says: /Did you mean "image"\?/,
  },
  {
    name: "env entry with a number name",
    input: request(goodKubernetesRequest({ env: [{ name: 1, value: "x" }] })),
    field: "job_request.podSpec.containers[0].env[0].name",
    says: /string/,
  },
  {
    name: "args is a string, not a list",
    input: request(goodKubernetesRequest({ args: "echo hi" })),
    field: "job_request.podSpec.containers[0].args",
    says: /list/,
  },
  {
    name: "namespace is a number",
    input: request(goodKubernetesRequest({}, { namespace: 5 })),
    field: "job_request.namespace",
    says: /string/,
  },
  {
    name: "labels is a list",
    input: request(goodKubernetesRequest({}, { labels: ["a"] })),
    field: "job_request.labels",
    says: /expected a mapping/,
  },
  {
    name: "podSpec is a list",
    input: request({ namespace: "default", podSpec: [] }),
    field: "job_request.podSpec",
    says: /object/,
  },
  {
    name: "misspelt top-level field podspec",
    input: request({ namespace: "default", podspec: goodKubernetesRequest().podSpec }),
    field: "job_request.podspec",
    says: /Did you mean "podSpec"\?/,
  },
  {
    name: "a container with no image (Kubernetes form)",
    input: request(goodKubernetesRequest({ image: "" })),
    field: "job_request.podSpec.containers[0].image",
    says: /needs an image/,
  },
  {
    name: "an infinite priority",
    input: request(goodKubernetesRequest({}, { priority: Number.POSITIVE_INFINITY })),
    field: "job_request.priority",
    says: /finite/,
  },
  {
    name: "a function inside the request",
    input: request(goodKubernetesRequest({}, { labels: { a: () => 1 } })),
    field: "job_request.labels.a",
    says: /function cannot be part of a job request/,
  },
  // The option's own type
  { name: "jobRequest null", input: request(null), field: "jobRequest", says: /job request object/ },
  { name: "jobRequest a number", input: request(42), field: "jobRequest", says: /YAML text/ },
  {
    name: "jobRequest a list",
    input: request([goodItem()]),
    field: "jobRequest",
    says: /job request object/,
  },
  { name: "jobRequest true", input: request(true), field: "jobRequest", says: /job request object/ },
  {
    name: "factory returning a number",
    input: request(() => 7),
    field: "job_request",
    says: /expected a job request object/,
  },
  {
    name: "factory returning nothing",
    input: request(() => undefined),
    field: "job_request",
    says: /expected a job request object/,
  },
  {
    name: "factory returning a bad item",
    input: request(() => goodItem({ priority: -1 })),
    field: "job_request.priority",
    says: />= 0/,
  },
]);

export const OPERATOR_OPTION_CASES = badInputTable<OperatorInput>("operator options", [
  { name: "name empty", input: { options: { name: "" } }, field: "name", says: /non-empty string/ },
  { name: "name a number", input: { options: { name: 5 } }, field: "name", says: /non-empty string/ },
  { name: "name missing", input: { options: { name: undefined } }, field: "name", says: /non-empty string/ },
  {
    name: "armadaQueue empty",
    input: { options: { armadaQueue: "" } },
    field: "armadaQueue",
    says: /non-empty/,
  },
  {
    name: "armadaQueue blank",
    input: { options: { armadaQueue: "  " } },
    field: "armadaQueue",
    says: /non-empty/,
  },
  {
    name: "armadaQueue a number",
    input: { options: { armadaQueue: 1 } },
    field: "armadaQueue",
    says: /non-empty/,
  },
  {
    name: "channelArgs null",
    input: { options: { channelArgs: null } },
    field: "channelArgs",
    says: /GrpcChannelArgs/,
  },
  {
    name: "channelArgs a string",
    input: { options: { channelArgs: "armada:50051" } },
    field: "channelArgs",
    says: /target/,
  },
  {
    name: "channelArgs with an http:// target",
    input: { options: { channelArgs: { target: "http://armada:50051" } } },
    field: "channelArgs",
    says: /no http\(s\):\/\/ scheme/,
  },
  {
    name: "channelArgs with an unknown option",
    input: { options: { channelArgs: { target: "a:1", tls_ca: "x" } } },
    field: "channelArgs",
    says: /unknown option "tls_ca"/,
  },
  {
    name: "channelArgs with a missing caFile",
    input: { options: { channelArgs: { target: "127.0.0.1:1", tls: { caFile: "/nonexistent/ca.pem" } } } },
    field: "channelArgs.tls.caFile",
    says: /ENOENT/,
  },
  { name: "pollInterval 0", input: { options: { pollInterval: 0 } }, field: "pollInterval", says: /> 0/ },
  {
    name: "pollInterval negative",
    input: { options: { pollInterval: -1 } },
    field: "pollInterval",
    says: /> 0/,
  },
  {
    name: "pollInterval a string",
    input: { options: { pollInterval: "30" } },
    field: "pollInterval",
    says: /> 0/,
  },
  {
    name: "pollInterval NaN",
    input: { options: { pollInterval: Number.NaN } },
    field: "pollInterval",
    says: /> 0/,
  },
  { name: "queueTimeout 0", input: { options: { queueTimeout: 0 } }, field: "queueTimeout", says: /> 0/ },
  {
    name: "queueTimeout a string",
    input: { options: { queueTimeout: "1h" } },
    field: "queueTimeout",
    says: /> 0/,
  },
  {
    name: "jobAcknowledgementTimeout a string",
    input: { options: { jobAcknowledgementTimeout: "300" } },
    field: "jobAcknowledgementTimeout",
    says: /number of seconds/,
  },
  {
    name: "reattachPolicy unknown",
    input: { options: { reattachPolicy: "sometimes" } },
    field: "reattachPolicy",
    says: /running_or_succeeded/,
  },
  {
    name: "reattachPolicy a number",
    input: { options: { reattachPolicy: 1 } },
    field: "reattachPolicy",
    says: /"never", "always"/,
  },
  {
    name: "extraLinks value a number",
    input: { options: { extraLinks: { Grafana: 5 } } },
    field: "extraLinks.Grafana",
    says: /URL template string or a RegExp/,
  },
  {
    name: "extraLinks a string",
    input: { options: { extraLinks: "x" } },
    field: "extraLinks",
    says: /name -> URL/,
  },
  {
    name: "extraLinks a list",
    input: { options: { extraLinks: [] } },
    field: "extraLinks",
    says: /name -> URL/,
  },
  {
    name: "jobSetPrefix a number",
    input: { options: { jobSetPrefix: 5 } },
    field: "jobSetPrefix",
    says: /string/,
  },
  {
    name: "containerLogs a number",
    input: { options: { containerLogs: 1 } },
    field: "containerLogs",
    says: /name of a container/,
  },
  {
    name: "containerLogs naming no container",
    input: { options: { containerLogs: "sidecar" } },
    field: "containerLogs",
    says: /no container named 'sidecar'.*available containers: main/,
  },
  {
    name: "k8sTokenRetriever without getToken",
    input: { options: { k8sTokenRetriever: {} } },
    field: "k8sTokenRetriever",
    says: /getToken\(\)/,
  },
  {
    name: "k8sTokenRetriever a string",
    input: { options: { k8sTokenRetriever: "token" } },
    field: "k8sTokenRetriever",
    says: /getToken\(\)/,
  },
  {
    name: "deferrable a string",
    input: { options: { deferrable: "yes" } },
    field: "deferrable",
    says: /true or false/,
  },
  { name: "dryRun a string", input: { options: { dryRun: "no" } }, field: "dryRun", says: /true or false/ },
  {
    name: "lookoutUrlTemplate with no <job_id>",
    input: { options: { lookoutUrlTemplate: "http://lookout:8089/jobs" } },
    field: "lookoutUrlTemplate",
    says: /<job_id> where the job id goes/,
  },
  {
    name: "lookoutUrlTemplate a number",
    input: { options: { lookoutUrlTemplate: 8089 } },
    field: "lookoutUrlTemplate",
    says: /<job_id>/,
  },
  // Settings the operator reads
  {
    name: "ANNOTATION_KEY_PREFIX 'bad prefix!'",
    input: { env: { ANNOTATION_KEY_PREFIX: "bad prefix!" } },
    field: "ANNOTATION_KEY_PREFIX",
    says: /does not make valid annotation keys.*"armadaproject.io\/"/,
  },
  {
    name: "rpc_deadline_s = 0",
    input: { env: { ARMADA_AIRFLOW__ARMADA_OPERATOR__RPC_DEADLINE_S: "0" } },
    field: "armada_operator.rpc_deadline_s",
    says: /> 0, got 0/,
  },
  {
    name: "default_poll_interval_s = -1",
    input: {
      options: { pollInterval: undefined },
      env: { ARMADA_AIRFLOW__ARMADA_OPERATOR__DEFAULT_POLL_INTERVAL_S: "-1" },
    },
    field: "armada_operator.default_poll_interval_s",
    says: /> 0, got -1/,
  },
  {
    name: "default_poll_interval_s not a number",
    input: {
      options: { pollInterval: undefined },
      env: { ARMADA_AIRFLOW__ARMADA_OPERATOR__DEFAULT_POLL_INTERVAL_S: "soon" },
    },
    field: "armada_operator.default_poll_interval_s",
    says: /must be a number, got "soon"/,
  },
  {
    name: "default_deferrable = maybe",
    input: { env: { ARMADA_AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE: "maybe" } },
    field: "operators.default_deferrable",
    says: /true or false, got "maybe"/,
  },
  {
    name: "default_dry_run = perhaps",
    input: { env: { AIRFLOW__ARMADA_OPERATOR__DEFAULT_DRY_RUN: "perhaps" } },
    field: "armada_operator.default_dry_run",
    says: /true or false/,
  },
  {
    name: "reattach_policy = bogus",
    input: { env: { ARMADA_AIRFLOW__ARMADA_OPERATOR__REATTACH_POLICY: "bogus" } },
    field: "reattachPolicy",
    says: /bogus/,
  },
  {
    name: "submit_lookup_grace_s not a number",
    input: { env: { ARMADA_AIRFLOW__ARMADA_OPERATOR__SUBMIT_LOOKUP_GRACE_S: "long" } },
    field: "armada_operator.submit_lookup_grace_s",
    says: /must be a number/,
  },
]);
