/**
 * Job request items and pod specs written the Kubernetes way (YAML or JSON,
 * camelCase, `cpu: "500m"`, `memory: 1Gi`, int-or-string ports, RFC3339
 * times), converted to the generated proto form and back without loss.
 */
// js-yaml directly (what @kubernetes/client-node parses with), so reading a job request never loads that client.
import yaml from "js-yaml";
import { status as GrpcStatus } from "@grpc/grpc-js";
import type { Job, JobSubmitRequestItem } from "../gen/armada/submit.js";
import type { PodSpec } from "../gen/k8s.io/api/core/v1/generated.js";
import { ArmadaError } from "./armada-error.js";
import { type ObjectForm, looksLikeProtoForm, readObject, writeObject } from "./kubernetes-json.js";

/** A Kubernetes-native JSON object (camelCase keys, quantities and int-or-strings as scalars). */
export type KubernetesObject = Record<string, unknown>;

const ITEM = "api.JobSubmitRequestItem";
const JOB = "api.Job";
const POD_SPEC = "k8s.io.api.core.v1.PodSpec";

function invalidDocument(
  what: string,
  line: number,
  column: number,
  why: string,
  cause?: unknown,
): ArmadaError {
  return new ArmadaError({
    code: GrpcStatus.INVALID_ARGUMENT,
    details: `${what} is not valid YAML or JSON at line ${line}, column ${column}: ${why}`,
    message: `Invalid ${what}: not valid YAML or JSON at line ${line}, column ${column}: ${why}. Check indentation and quoting.`,
    cause,
  });
}

/**
 * A template written unquoted at the start of a YAML value (`image: {{ x }}`)
 * reads as a nested flow mapping, not as text (or fails to parse): its line
 * and column, so the user learns to quote it instead of meeting an odd object.
 */
function unquotedTemplate(text: string): { line: number; column: number } | undefined {
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*(?:-\s+)*(?:[^\s#'"{][^#'"]*?:\s+)?(?:-\s+)?)\{\{/.exec(lines[i]!);
    if (m) return { line: i + 1, column: m[1]!.length + 1 };
  }
  return undefined;
}

/** True when a key of `doc` is a mapping written as a key, as an unquoted `{{ x }}` value reads. */
function hasObjectKey(doc: unknown): boolean {
  if (Array.isArray(doc)) return doc.some(hasObjectKey);
  if (doc === null || typeof doc !== "object" || doc instanceof Date) return false;
  return Object.entries(doc).some(([k, v]) => k === "[object Object]" || hasObjectKey(v));
}

const QUOTE_TEMPLATE =
  'a value that starts with a template must be quoted in YAML, e.g. image: "{{ params.image }}"';

/** Parses a YAML or JSON document; errors name `what` and the line and column. */
export function parseKubernetesDocument(text: string, what: string): unknown {
  if (text.trim() === "") throw invalidDocument(what, 1, 1, "the text is empty");
  let doc: unknown;
  try {
    doc = yaml.load(text);
    if (!doc) throw new Error("the document holds no value");
  } catch (e) {
    const templ = unquotedTemplate(text);
    if (templ) throw invalidDocument(what, templ.line, templ.column, QUOTE_TEMPLATE, e);
    const mark = (e as { mark?: { line?: number; column?: number } }).mark;
    const reason = (e as { reason?: unknown }).reason;
    const why =
      typeof reason === "string" ? reason : e instanceof Error ? e.message.split("\n")[0]! : String(e);
    throw invalidDocument(what, (mark?.line ?? 0) + 1, (mark?.column ?? 0) + 1, why, e);
  }
  if (hasObjectKey(doc)) {
    const templ = unquotedTemplate(text) ?? { line: 1, column: 1 };
    throw invalidDocument(what, templ.line, templ.column, QUOTE_TEMPLATE);
  }
  return doc;
}

function input(value: unknown, what: string): unknown {
  return typeof value === "string" ? parseKubernetesDocument(value, what) : value;
}

/**
 * A job request item from its Kubernetes-native form (object, or YAML/JSON
 * text). Throws an ArmadaError (INVALID_ARGUMENT) naming the path of any
 * unknown key or wrong value, e.g. `podSpecs[0].containers[1].resources.limits.cpu`.
 */
export function jobRequestItemFromKubernetes(
  item: KubernetesObject | string,
  what = "job request item",
): JobSubmitRequestItem {
  return readObject(ITEM, input(item, what), "kubernetes", what) as unknown as JobSubmitRequestItem;
}

/** The Kubernetes-native form of a job request item (defaults and empty lists omitted). */
export function jobRequestItemToKubernetes(item: JobSubmitRequestItem): KubernetesObject {
  return writeObject(ITEM, item);
}

/** A pod spec from its Kubernetes-native form (object, or YAML/JSON text). */
export function podSpecFromKubernetes(spec: KubernetesObject | string, what = "pod spec"): PodSpec {
  return readObject(POD_SPEC, input(spec, what), "kubernetes", what) as unknown as PodSpec;
}

/** The Kubernetes-native form of a pod spec. */
export function podSpecToKubernetes(spec: PodSpec): KubernetesObject {
  return writeObject(POD_SPEC, spec);
}

/** The Kubernetes-native form of a job as the query API returns it (`JobDetails.jobSpec`). */
export function jobToKubernetes(job: Job): KubernetesObject {
  return writeObject(JOB, job);
}

/** A job from its Kubernetes-native form (the inverse of {@link jobToKubernetes}). */
export function jobFromKubernetes(job: KubernetesObject | string, what = "job"): Job {
  return readObject(JOB, input(job, what), "kubernetes", what) as unknown as Job;
}

/**
 * Reads a job request item given in either form: Kubernetes-native or the
 * generated proto form (as `JobSubmitRequestItem.fromPartial` accepts, but
 * validated). The Kubernetes form is tried first; where both read a value
 * they agree on its meaning. When neither fits, the error of the form the
 * object appears to be written in is thrown: the proto form's when the
 * Kubernetes reading stumbled on a proto-only shape (`volumeSource`,
 * `{ string: "1" }` quantities, ...), else the Kubernetes form's.
 */
export function jobRequestItemFromEitherForm(item: unknown, what: string): JobSubmitRequestItem {
  if (typeof item === "string") return jobRequestItemFromKubernetes(item, what);
  const attempt = (form: ObjectForm): JobSubmitRequestItem | ArmadaError => {
    try {
      return readObject(ITEM, item, form, what) as unknown as JobSubmitRequestItem;
    } catch (e) {
      if (e instanceof ArmadaError) return e;
      throw e;
    }
  };
  // A whole generated message (every field set, as `create`, `fromPartial` and `fromJSON` make it: what the
  // operator submits) is read as one first: read as Kubernetes it fails, and building that error for each of a
  // call's 500 items held the event loop for tens of milliseconds.
  const whole = isWholeMessage(item) ? attempt("proto") : undefined;
  if (whole !== undefined && !(whole instanceof ArmadaError)) return whole;
  const k8s = attempt("kubernetes");
  if (!(k8s instanceof ArmadaError)) return k8s;
  const proto = whole ?? attempt("proto");
  if (!(proto instanceof ArmadaError)) return proto;
  throw looksLikeProtoForm(k8s) ? proto : k8s;
}

/** Whether `item` has the fields a generated `JobSubmitRequestItem` always has (the Kubernetes form has not). */
function isWholeMessage(item: unknown): boolean {
  if (typeof item !== "object" || item === null) return false;
  const m = item as Partial<Record<keyof JobSubmitRequestItem, unknown>>;
  return (
    typeof m.priority === "number" &&
    typeof m.clientId === "string" &&
    Array.isArray(m.podSpecs) &&
    typeof m.annotations === "object" &&
    typeof m.labels === "object"
  );
}
