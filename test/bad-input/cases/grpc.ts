/**
 * Bad input sent to the dev server over raw gRPC (generated clients, no
 * client-side checks): each call is refused as a whole, naming the item and
 * field, and nothing is stored.
 */
import { status } from "@grpc/grpc-js";
import { validateSubmitItem, type SubmitRule } from "../../../src/client/submit-validation.js";
import type { JobSubmitRequestItem } from "../../../src/gen/armada/submit.js";
import { badInputTable } from "../table.js";
import { goodContainer, goodItem, INVALID_CASES, type InvalidCase } from "./job-request-items.js";

/** One raw call: a method of the Submit service and its request. */
export interface GrpcInput {
  /** The generated client to call: Submit (default) or Jobs. */
  service?: "submit" | "jobs";
  method: "submitJobs" | "cancelJobs" | "cancelJobSet" | "getJobStatusUsingExternalJobUri";
  /** Every field given: the generated encoders expect complete messages. */
  request: Record<string, unknown>;
  /** The gRPC code the call fails with. */
  code: status;
}

/**
 * Rules Armada's submit checks leave to Kubernetes (names): the call succeeds, and the job fails when its
 * pod cannot be created, with the API server's words. They are not in the table (a job is recorded);
 * grpc.test.ts checks them apart. (The pod-spec rules are whole-call refusals with the real server's
 * messages, below.)
 */
export const PER_ITEM_RULES: ReadonlySet<SubmitRule> = new Set([
  "pod-spec-missing",
  "pod-spec-count",
  "containers",
  "container-name",
  "namespace",
]);

/** Items the real server's own request checks refuse first, with its own words (submit-refusals.ts). */
export const REAL_SERVER_MESSAGES: Record<string, { field: string; says: RegExp }> = {
  "both podSpec and podSpecs": { field: "PodSpecs", says: /PodSpec must be nil if PodSpecs is provided/ },
  "client id of 101 characters": {
    field: "client id",
    says: /client id of length 101 is greater than max allowed length of\s+100/,
  },
  "no pod spec": { field: "PodSpec", says: /Job must contain at least one PodSpec/ },
  "no containers": { field: "pod spec", says: /pod spec has no containers/ },
};

export const ruleOf = (k: InvalidCase): SubmitRule =>
  validateSubmitItem(k.item).find((i) => i.path === k.path)!.rule;

const submit = (
  items: JobSubmitRequestItem[],
  over: Record<string, unknown> = {},
  code = status.INVALID_ARGUMENT,
) => ({
  method: "submitJobs" as const,
  request: { queue: "q", jobSetId: "bad-input", jobRequestItems: items, ...over },
  code,
});

const ITEM_CASES = INVALID_CASES.filter(
  (c) => c.name in REAL_SERVER_MESSAGES || !PER_ITEM_RULES.has(ruleOf(c)),
).map((c) => {
  const real = REAL_SERVER_MESSAGES[c.name];
  return {
    name: `item: ${c.name}`,
    // A good item first: the refusal names the bad one's index and fails the whole batch.
    input: submit([goodItem(), c.item]),
    field: real ? real.field : `job_request_items[1].${c.path}`,
    says: real ? real.says : c.says,
  };
});

const gang = (id: string, cardinality: string) =>
  goodItem({
    annotations: { "armadaproject.io/gangId": id, "armadaproject.io/gangCardinality": cardinality },
  });

export const GRPC_CASES = badInputTable<GrpcInput>("raw gRPC to the dev server", [
  ...ITEM_CASES,
  {
    name: "SubmitJobs to an unknown queue",
    input: submit([goodItem()], { queue: "nope" }, status.PERMISSION_DENIED),
    field: 'queue "nope"',
    says: /could not find/,
  },
  {
    name: "SubmitJobs with no queue",
    input: submit([goodItem()], { queue: "" }, status.PERMISSION_DENIED),
    field: 'queue ""',
    says: /could not find/,
  },
  {
    name: "SubmitJobs with no job set id",
    input: submit([goodItem()], { jobSetId: "" }),
    field: "job set id",
    says: /is a required field/,
  },
  {
    name: "SubmitJobs with a 1024-character job set id",
    input: submit([goodItem()], { jobSetId: "j".repeat(1024) }),
    field: "job set id of length 1024",
    says: /must be less than max character length 1024/,
  },
  {
    name: "SubmitJobs with two pod specs in one item",
    input: submit([goodItem({ podSpec: undefined, podSpecs: [goodItem().podSpec!, goodItem().podSpec!] })]),
    field: "pods",
    says: /Jobs with multiple pods are not supported/,
  },
  {
    name: "SubmitJobs with an unknown priority class",
    input: submit([goodItem({}, { priorityClassName: "urgent" })]),
    field: "priority class urgent",
    says: /is not supported/,
  },
  {
    name: "SubmitJobs with a gang whose members disagree on cardinality",
    input: submit([gang("g", "2"), gang("g", "3")]),
    field: "gang cardinality",
    says: /inconsistent gang cardinality in gang g/,
  },
  {
    name: "SubmitJobs with a container port of 0 in an init container",
    input: submit([
      goodItem(
        {},
        { initContainers: [goodContainer({ name: "init", ports: [{ containerPort: 0 } as never] })] },
      ),
    ]),
    field: "job_request_items[0].podSpec.initContainers[0].ports[0].containerPort",
    says: /between 1 and 65535/,
  },
  {
    name: "CancelJobs with nothing to cancel named",
    input: {
      method: "cancelJobs",
      request: { queue: "", jobSetId: "", jobId: "", jobIds: [], reason: "" },
      code: status.INVALID_ARGUMENT,
    },
    field: "job_ids",
    says: /or a queue and job_set_id/,
  },
  {
    name: "CancelJobSet with no queue",
    input: {
      method: "cancelJobSet",
      request: { queue: "", jobSetId: "s", filter: undefined, reason: "" },
      code: status.INVALID_ARGUMENT,
    },
    field: "queue",
    says: /is a required field/,
  },
  {
    name: "CancelJobSet with no job set id",
    input: {
      method: "cancelJobSet",
      request: { queue: "q", jobSetId: "", filter: undefined, reason: "" },
      code: status.INVALID_ARGUMENT,
    },
    field: "job_set_id",
    says: /is a required field/,
  },
  {
    name: "CancelJobSet with a SUCCEEDED state filter",
    input: {
      method: "cancelJobSet",
      request: { queue: "q", jobSetId: "s", filter: { states: [3] }, reason: "" },
      code: status.INVALID_ARGUMENT,
    },
    field: "state",
    says: /cannot be cancelled; use QUEUED, PENDING or RUNNING/,
  },
  {
    name: "GetJobStatusUsingExternalJobUri with no URI",
    input: {
      service: "jobs",
      method: "getJobStatusUsingExternalJobUri",
      request: { queue: "q", jobset: "s", externalJobUri: "" },
      code: status.INVALID_ARGUMENT,
    },
    field: "external_job_uri",
    says: /is a required field/,
  },
]);

/** The names Kubernetes refuses, checked apart (their job is recorded, and fails creating its pod). */
export const PER_ITEM_CASES = INVALID_CASES.filter(
  (c) => PER_ITEM_RULES.has(ruleOf(c)) && !(c.name in REAL_SERVER_MESSAGES),
);
