/**
 * The job request as the operator handles it: written by users as a
 * Kubernetes-style object (or a function returning one), rendered as JSON
 * (every string a template), stored in XCom, and parsed back into the
 * Armada message that is submitted.
 */
import { toJobSubmitRequestItem, type JobRequestItemInput } from "../client/job-request-item-input.js";
import {
  jobRequestItemToKubernetes,
  parseKubernetesDocument,
} from "../client/kubernetes-job-request-item.js";
import { validateSubmitItem } from "../client/submit-validation.js";
import type { JobSubmitRequestItem } from "../gen/armada/submit.js";
import type { Context } from "../runtime/context.js";
import { childFieldPath, type TemplateEnv } from "../runtime/template.js";
import { ArmadaOperatorInputError } from "./errors.js";
import { PlainJsonMemo, plainJsonKey } from "./plain-json-memo.js";

/** A job request item: Kubernetes-style pod specs (`cpu: "500m"`), or the proto form. */
export type JobRequest = JobRequestItemInput | Record<string, unknown>;

/** Builds the job request at run time from the task's context. */
export type JobRequestFactory = (context: Context, env: TemplateEnv) => JobRequest | Promise<JobRequest>;

/** The JSON form of a job request: plain objects, arrays, strings, numbers, booleans, null. */
export type JobRequestJson = Record<string, unknown>;

function toPlainJson(value: unknown, path: string): unknown {
  if (value === null || typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new ArmadaOperatorInputError(path, `${value} is not a finite number`);
    return value;
  }
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  if (Array.isArray(value)) return value.map((v, i) => toPlainJson(v, `${path}[${i}]`));
  if (typeof value === "object") {
    // fromEntries keeps a "__proto__" key as data; assignment would set the prototype.
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [k, toPlainJson(v, `${path}.${k}`)]),
    );
  }
  throw new ArmadaOperatorInputError(path, `a ${typeof value} cannot be part of a job request`);
}

/**
 * Renders every string of the JSON form with `render` (which may return a
 * native value for a string that is one whole `{{ expr }}`).
 */
export function renderJobRequestJson(
  json: JobRequestJson,
  render: (value: string, fieldPath: string) => unknown,
): JobRequestJson {
  const walk = (value: unknown, path: string): unknown => {
    if (typeof value === "string") return render(value, path);
    if (Array.isArray(value)) return value.map((v, i) => walk(v, `${path}[${i}]`));
    if (value !== null && typeof value === "object") {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, childFieldPath(path, k))]));
    }
    return value;
  };
  return walk(json, "job_request") as JobRequestJson;
}

/** Splits a field path such as `podSpec.containers[0].args[1]` or `annotations["a/b"]` into keys. */
function pathKeys(path: string): (string | number)[] {
  const keys: (string | number)[] = [];
  const re = /\.?([A-Za-z_$][\w$-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/gy;
  let m: RegExpExecArray | null;
  while (re.lastIndex < path.length && (m = re.exec(path))) {
    keys.push(m[1] !== undefined ? m[1] : m[2] !== undefined ? Number(m[2]) : (JSON.parse(m[3]!) as string));
  }
  return re.lastIndex === path.length || path.length === 0 ? keys : [];
}

function lookup(
  root: unknown,
  keys: (string | number)[],
): { parent: Record<string | number, unknown>; key: string | number } | undefined {
  let node = root;
  for (let i = 0; i < keys.length - 1; i++) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<string | number, unknown>)[keys[i]!];
  }
  if (node === null || typeof node !== "object" || keys.length === 0) return undefined;
  return { parent: node as Record<string | number, unknown>, key: keys.at(-1)! };
}

/**
 * Parses the rendered JSON form. A template that is one whole `{{ expr }}`
 * renders to a native value: right for `priority` or `containerPort`, but a
 * number in a string field (an arg, an env value) is turned back into the
 * string the template wrote, as Airflow's string rendering would give.
 */
export function parseRenderedJobRequest(
  rendered: JobRequestJson,
  template: JobRequestJson,
): JobSubmitRequestItem {
  const json = structuredClone(rendered);
  for (let attempt = 0; ; attempt++) {
    try {
      return jobRequestFromJson(json);
    } catch (err) {
      if (!(err instanceof ArmadaOperatorInputError) || attempt > 200) throw err;
      const keys = pathKeys(err.field.replace(/^job_request\.?/, ""));
      const at = lookup(json, keys);
      const was = lookup(template, keys);
      const value = at?.parent[at.key];
      const original = was?.parent[was.key];
      const scalar = typeof value === "number" || typeof value === "boolean";
      if (!at || !scalar || typeof original !== "string") throw err;
      at.parent[at.key] = String(value);
    }
  }
}

/**
 * The JSON form of `request`: its Kubernetes-native form (a deep copy; the
 * operator's own value is never changed). YAML/JSON text is parsed; a
 * proto-form object is converted; a Kubernetes-native object whose
 * templated values do not parse yet is kept as written.
 */
export function jobRequestToJson(request: unknown): JobRequestJson {
  const key = typeof request === "string" ? `text:${request}` : plainJsonKey(request);
  return toJsonMemo.get(key, () => convertJobRequestToJson(request));
}

const toJsonMemo = new PlainJsonMemo<JobRequestJson>();

function convertJobRequestToJson(request: unknown): JobRequestJson {
  if (typeof request === "string") {
    try {
      request = parseKubernetesDocument(request, "job_request");
    } catch (err) {
      const msg = (err as Error).message.replace(/^Invalid job_request:\s*/, "");
      throw new ArmadaOperatorInputError("job_request", msg, { cause: err });
    }
  }
  if (typeof request === "object" && request !== null && !Array.isArray(request)) {
    let item: JobSubmitRequestItem | undefined;
    try {
      item = toJobSubmitRequestItem(request as JobRequestItemInput, "job_request");
    } catch {
      // Not parseable before rendering (a templated number, say): keep it as written.
    }
    if (item) {
      // The Kubernetes form writes a quantity with no value as "0": refuse
      // it here, while it can still be told apart from a real zero.
      const empty = validateSubmitItem(item).find(
        (i) => i.rule === "quantity" && /^\{\} is not/.test(i.message),
      );
      if (empty) throw new ArmadaOperatorInputError(`job_request.${empty.path}`, empty.message);
      return jobRequestItemToKubernetes(item);
    }
  }
  if (typeof request !== "object" || request === null || Array.isArray(request)) {
    throw new ArmadaOperatorInputError(
      "job_request",
      `expected a job request object such as { namespace: "default", podSpec: { containers: [...] } }, got ${JSON.stringify(request)}`,
    );
  }
  return toPlainJson(request, "job_request") as JobRequestJson;
}

/**
 * Parses the (rendered) JSON form into the message to submit and checks it is
 * a job Armada can run. Errors name the field, e.g.
 * `job_request.podSpec.containers[0].image: ...`.
 */
export function jobRequestFromJson(json: JobRequestJson): JobSubmitRequestItem {
  let item: JobSubmitRequestItem;
  try {
    item = toJobSubmitRequestItem(json as JobRequestItemInput, "job_request");
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    const inner = (err as { field?: unknown }).field;
    const field = typeof inner === "string" && inner ? `job_request.${inner}` : "job_request";
    throw new ArmadaOperatorInputError(field, msg.replace(/^Invalid job_request at [^:]*:\s*/, ""), {
      cause: err,
    });
  }
  validateJobRequest(item);
  return item;
}

/** A rendered job request parsed ({@link parseRenderedJobRequest}) and in the normalized JSON form that is stored. */
export interface NormalizedJobRequest {
  /** The message to submit (not yet annotated). */
  item: JobSubmitRequestItem;
  /** Its Kubernetes-native JSON form, which parses back to `item` as it is. */
  json: JobRequestJson;
}

/**
 * {@link parseRenderedJobRequest}, then the JSON form of the result. Both
 * are fresh copies the caller may change; the same rendered request (every
 * task of a mapped operator whose templates render alike) is parsed once.
 */
export function normalizeRenderedJobRequest(
  rendered: JobRequestJson,
  template: JobRequestJson,
): NormalizedJobRequest {
  const renderedKey = plainJsonKey(rendered);
  const templateKey = renderedKey === undefined ? undefined : plainJsonKey(template);
  const key = templateKey === undefined ? undefined : `${templateKey}\u0000${renderedKey}`;
  return normalizedMemo.get(key, () => {
    const item = parseRenderedJobRequest(rendered, template);
    return { item, json: jobRequestItemToKubernetes(item) };
  });
}

const normalizedMemo = new PlainJsonMemo<NormalizedJobRequest>();

/** Checks what Armada would reject anyway, so nothing doomed is submitted. */
export function validateJobRequest(item: JobSubmitRequestItem): void {
  const specs = [
    ...(item.podSpec ? [{ spec: item.podSpec, path: "job_request.podSpec" }] : []),
    ...item.podSpecs.map((spec, i) => ({ spec, path: `job_request.podSpecs[${i}]` })),
  ];
  if (specs.length === 0) {
    throw new ArmadaOperatorInputError(
      "job_request.podSpec",
      'a job needs a pod spec: { podSpec: { containers: [{ name: "main", image: "busybox" }] } }',
    );
  }
  for (const { spec, path } of specs) {
    if (spec.containers.length === 0) {
      throw new ArmadaOperatorInputError(`${path}.containers`, "a pod spec needs at least one container");
    }
    spec.containers.forEach((c, i) => {
      if (!c.name)
        throw new ArmadaOperatorInputError(`${path}.containers[${i}].name`, "every container needs a name");
      if (!c.image) {
        throw new ArmadaOperatorInputError(
          `${path}.containers[${i}].image`,
          `container '${c.name}' needs an image`,
        );
      }
    });
  }
}

/** Names of all containers in `pod_spec` and `pod_specs`. */
export function containerNames(item: JobSubmitRequestItem): string[] {
  const specs = [...(item.podSpec ? [item.podSpec] : []), ...item.podSpecs];
  return specs.flatMap((s) => s.containers.map((c) => c.name ?? "")).filter((n) => n !== "");
}
