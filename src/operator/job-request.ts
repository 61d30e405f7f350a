/**
 * The job request as the operator handles it: written by users as a
 * Kubernetes-style object (or a function returning one), rendered as JSON
 * (every string a template), stored in XCom, and parsed back into the
 * Armada message that is submitted.
 */
import { toJobSubmitRequestItem, type JobRequestItemInput } from "../client/job-request-item-input.js";
import type { JobSubmitRequestItem } from "../gen/armada/submit.js";
import type { Context } from "../runtime/context.js";
import type { TemplateEnv } from "../runtime/template.js";
import { ArmadaOperatorInputError } from "./errors.js";

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
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (v === undefined) continue;
      out[k] = toPlainJson(v, `${path}.${k}`);
    }
    return out;
  }
  throw new ArmadaOperatorInputError(path, `a ${typeof value} cannot be part of a job request`);
}

/**
 * Renders every string of the JSON form. A string that is one whole
 * `{{ expr }}` may evaluate to a number or boolean; in a job request such a
 * string stands for a string field (args, env values, labels), so scalars are
 * turned back into strings, as Airflow's string rendering would give. Objects
 * and lists stay native (`podSpec: "{{ params.pod_spec }}"`), and `priority`
 * becomes a number again.
 */
export function renderJobRequestJson(
  json: JobRequestJson,
  render: (value: unknown, fieldPath: string) => unknown,
): JobRequestJson {
  const walk = (value: unknown, path: string): unknown => {
    if (typeof value === "string") {
      const out = render(value, path);
      return typeof out === "number" || typeof out === "boolean" || typeof out === "bigint" ? String(out) : out;
    }
    if (Array.isArray(value)) return value.map((v, i) => walk(v, `${path}[${i}]`));
    if (value !== null && typeof value === "object") {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        out[k] = walk(v, /^[A-Za-z_$][\w$]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`);
      }
      return out;
    }
    return value;
  };
  const rendered = walk(json, "job_request") as JobRequestJson;
  if (typeof rendered.priority === "string" && rendered.priority.trim() !== "") {
    const n = Number(rendered.priority);
    if (!Number.isFinite(n)) {
      throw new ArmadaOperatorInputError("job_request.priority", `must be a number, got ${JSON.stringify(rendered.priority)}`);
    }
    rendered.priority = n;
  }
  return rendered;
}

/** The JSON form of `request` (a deep copy; the operator's own value is never changed). */
export function jobRequestToJson(request: unknown): JobRequestJson {
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
    const field = /^(job_request[^\s:]*)/.exec(msg)?.[1] ?? "job_request";
    throw new ArmadaOperatorInputError(field, `not a valid job request: ${msg.replace(/^job_request[^\s:]*:?\s*/, "")}`, {
      cause: err,
    });
  }
  validateJobRequest(item);
  return item;
}

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
      if (!c.name) throw new ArmadaOperatorInputError(`${path}.containers[${i}].name`, "every container needs a name");
      if (!c.image) {
        throw new ArmadaOperatorInputError(`${path}.containers[${i}].image`, `container '${c.name}' needs an image`);
      }
    });
  }
}

/** Names of all containers in `pod_spec` and `pod_specs`. */
export function containerNames(item: JobSubmitRequestItem): string[] {
  const specs = [...(item.podSpec ? [item.podSpec] : []), ...item.podSpecs];
  return specs.flatMap((s) => s.containers.map((c) => c.name ?? "")).filter((n) => n !== "");
}
