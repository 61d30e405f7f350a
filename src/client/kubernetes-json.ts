/**
 * Schema-driven conversion between Kubernetes-native JSON (what kubectl and
 * armadactl users write: camelCase, `cpu: "500m"`, int-or-string ports,
 * RFC3339 times, embedded structs inlined) and the generated proto form
 * (ts-proto objects). Walks the schema generated from our .proto files, so
 * every field of every reachable message is handled, and anything else is
 * refused with the path of the offending value.
 */
import { status as GrpcStatus } from "@grpc/grpc-js";
import { enums as armadaEnums, messages as armadaMessages } from "../gen/armada/schema.js";
import { enums as k8sEnums, messages as k8sMessages } from "../gen/k8s.io/schema.js";
import { ArmadaError } from "./armada-error.js";
import type { SchemaField, SchemaMessage } from "../common/proto-schema.js";

const MESSAGES: Record<string, SchemaMessage> = { ...k8sMessages, ...armadaMessages };
const ENUMS: Record<string, Record<string, number>> = { ...k8sEnums, ...armadaEnums };

const QUANTITY = "k8s.io.apimachinery.pkg.api.resource.Quantity";
const INT_OR_STRING = "k8s.io.apimachinery.pkg.util.intstr.IntOrString";
const TIME = "k8s.io.apimachinery.pkg.apis.meta.v1.Time";
const FIELDS_V1 = "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1";
const TIMESTAMP = "google.protobuf.Timestamp";

/**
 * Fields that Kubernetes embeds in Go with `json:",inline"`: their message's
 * fields appear directly in the parent's JSON object.
 */
const INLINE_FIELDS = new Set([
  "k8s.io.api.core.v1.Volume.volumeSource",
  "k8s.io.api.core.v1.Probe.handler",
  "k8s.io.api.core.v1.EphemeralContainer.ephemeralContainerCommon",
  "k8s.io.api.networking.v1.IngressRule.ingressRuleValue",
  ...Object.entries(MESSAGES)
    .filter(([, m]) =>
      m.fields.some(
        (f) => f.prop === "localObjectReference" && f.type === "k8s.io.api.core.v1.LocalObjectReference",
      ),
    )
    .map(([name]) => `${name}.localObjectReference`),
]);

/** Kubernetes resource quantity syntax: a decimal number with an optional SI, binary or exponent suffix. */
const QUANTITY_RE = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$/;
const RFC3339_RE = /^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Which representation a conversion reads or writes. */
export type ObjectForm = "kubernetes" | "proto";

/** The schema of a message by full name (e.g. `k8s.io.api.core.v1.PodSpec`); throws when unknown. */
export function messageSchema(typeName: string): SchemaMessage {
  const m = MESSAGES[typeName];
  if (!m) throw new Error(`no schema for message ${typeName}`);
  return m;
}

/** Every message full name in the schema. */
export function schemaMessageNames(): string[] {
  return Object.keys(MESSAGES);
}

/** Whether `Parent.field` is inlined in Kubernetes JSON. */
export function isInlineField(typeName: string, field: SchemaField): boolean {
  return INLINE_FIELDS.has(`${typeName}.${field.prop}`);
}

function shortType(t: string): string {
  return t.slice(t.lastIndexOf(".") + 1);
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (v instanceof Date) return `a date (${v.toISOString()})`;
  if (typeof v === "object") return "an object";
  if (typeof v === "string")
    return `the string ${JSON.stringify(v.length > 60 ? v.slice(0, 57) + "..." : v)}`;
  return `${typeof v} ${String(v)}`;
}

/** Kubernetes-form errors caused by a value written the proto way (see {@link looksLikeProtoForm}). */
const protoFormErrors = new WeakSet<ArmadaError>();

/** Whether a Kubernetes-form conversion failed on something only the proto form writes that way. */
export function looksLikeProtoForm(err: ArmadaError): boolean {
  return protoFormErrors.has(err);
}

function invalid(root: string, path: string, problem: string, fix: string, protoShaped = false): never {
  const where = path ? `${root} at ${path}` : root;
  const details = `${where}: ${problem}. ${fix}`;
  const err = new ArmadaError({
    code: GrpcStatus.INVALID_ARGUMENT,
    details,
    message: `Invalid ${details}`,
    field: path,
  });
  if (protoShaped) protoFormErrors.add(err);
  throw err;
}

const isPlainObject = (v: unknown) =>
  typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);

/** The JSON keys a message accepts in `form`, inlined fields expanded. */
export function acceptedKeys(typeName: string, form: ObjectForm): string[] {
  return messageSchema(typeName).fields.flatMap((f) =>
    form === "kubernetes" && isInlineField(typeName, f)
      ? acceptedKeys(f.type!, form)
      : [form === "kubernetes" ? f.json : f.prop],
  );
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(
        d[i - 1]![j]! + 1,
        d[i]![j - 1]! + 1,
        d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
  }
  return d[a.length]![b.length]!;
}

function suggest(key: string, known: string[]): string | undefined {
  const norm = (s: string) => s.replace(/[_-]/g, "").toLowerCase();
  const exact = known.find((k) => norm(k) === norm(key));
  if (exact) return exact;
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const dist = editDistance(key.toLowerCase(), k.toLowerCase());
    if (dist < bestD) [best, bestD] = [k, dist];
  }
  return bestD <= Math.max(2, Math.floor(key.length / 4)) ? best : undefined;
}

const join = (path: string, key: string) => (path ? `${path}.${key}` : key);

interface Ctx {
  form: ObjectForm;
  root: string;
}

const INT32 = new Set(["int32", "sint32", "sfixed32"]);
const UINT32 = new Set(["uint32", "fixed32"]);
const INT64 = new Set(["int64", "sint64", "sfixed64", "uint64", "fixed64"]);

function readInt64(v: unknown, kind: string, ctx: Ctx, path: string): string {
  const unsigned = kind === "uint64" || kind === "fixed64";
  const ok =
    (typeof v === "number" && Number.isSafeInteger(v)) ||
    (typeof v === "string" && /^-?\d+$/.test(v)) ||
    typeof v === "bigint";
  if (!ok)
    invalid(ctx.root, path, `expected an integer, got ${describe(v)}`, "Write a whole number, e.g. 30.");
  const s = String(v);
  if (unsigned && s.startsWith("-"))
    invalid(ctx.root, path, `expected a non-negative integer, got ${s}`, "Use 0 or more.");
  const big = BigInt(s);
  const [lo, hi] = unsigned ? [0n, (1n << 64n) - 1n] : [-(1n << 63n), (1n << 63n) - 1n];
  if (big < lo || big > hi) invalid(ctx.root, path, `${s} does not fit in ${kind}`, "Use a smaller number.");
  return big.toString();
}

function readScalar(f: { kind: string; type?: string }, v: unknown, ctx: Ctx, path: string): unknown {
  const k = f.kind;
  if (k === "string") {
    if (typeof v !== "string") {
      const hint =
        v instanceof Date || typeof v === "number" || typeof v === "boolean"
          ? ` Quote it in YAML, e.g. "${v instanceof Date ? v.toISOString() : String(v)}".`
          : "";
      invalid(ctx.root, path, `expected a string, got ${describe(v)}`, `Write a string.${hint}`);
    }
    return v;
  }
  if (k === "bool") {
    if (typeof v !== "boolean")
      invalid(
        ctx.root,
        path,
        `expected true or false, got ${describe(v)}`,
        "Write true or false (unquoted).",
      );
    return v;
  }
  if (k === "double" || k === "float") {
    if (typeof v !== "number" || !Number.isFinite(v))
      invalid(ctx.root, path, `expected a number, got ${describe(v)}`, "Write a number, e.g. 1.5.");
    return v;
  }
  if (INT32.has(k) || UINT32.has(k)) {
    const [lo, hi] = INT32.has(k) ? [-(2 ** 31), 2 ** 31 - 1] : [0, 2 ** 32 - 1];
    if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) {
      invalid(
        ctx.root,
        path,
        `expected an integer in [${lo}, ${hi}], got ${describe(v)}`,
        "Write a whole number.",
      );
    }
    return v;
  }
  if (INT64.has(k)) return readInt64(v, k, ctx, path);
  if (k === "bytes") {
    if (v instanceof Uint8Array) return new Uint8Array(v);
    if (typeof v === "string" && /^[A-Za-z0-9+/]*={0,2}$/.test(v) && v.length % 4 === 0)
      return new Uint8Array(Buffer.from(v, "base64"));
    invalid(
      ctx.root,
      path,
      `expected base64-encoded bytes, got ${describe(v)}`,
      "Write the bytes base64-encoded.",
    );
  }
  if (k === "enum") {
    const values = ENUMS[f.type!]!;
    if (typeof v === "string" && v in values) return values[v];
    if (typeof v === "number" && Object.values(values).includes(v)) return v;
    invalid(
      ctx.root,
      path,
      `expected one of ${Object.keys(values).join(", ")}, got ${describe(v)}`,
      "Use one of the listed names.",
    );
  }
  throw new Error(`unsupported kind ${k} at ${path}`);
}

function defaultScalar(kind: string): unknown {
  if (kind === "string") return "";
  if (kind === "bool") return false;
  if (INT64.has(kind)) return "0";
  if (kind === "bytes") return new Uint8Array(0);
  return 0; // numbers and enums
}

function readTimeString(v: unknown, ctx: Ctx, path: string): { seconds: bigint; nanos: number } {
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime()))
      invalid(ctx.root, path, "the date is invalid", 'Write an RFC3339 time, e.g. "2024-01-01T00:00:00Z".');
    const ms = BigInt(v.getTime());
    const seconds = ms >= 0n ? ms / 1000n : -((-ms + 999n) / 1000n);
    return { seconds, nanos: Number(ms - seconds * 1000n) * 1_000_000 };
  }
  const m = typeof v === "string" ? RFC3339_RE.exec(v) : null;
  const base = m ? Date.parse(`${m[1]}T${m[2]}${m[4]!.toUpperCase()}`) : NaN;
  if (!m || Number.isNaN(base)) {
    invalid(
      ctx.root,
      path,
      `expected an RFC3339 time, got ${describe(v)}`,
      'Write it like "2024-01-01T00:00:00Z".',
      isPlainObject(v),
    );
  }
  const frac = m[3] ? m[3].slice(1) : "";
  if (frac.length > 9)
    invalid(ctx.root, path, "more than nanosecond precision", "Use at most 9 fractional digits.");
  return { seconds: BigInt(base) / 1000n, nanos: frac ? Number(frac.padEnd(9, "0")) : 0 };
}

function formatTime(seconds: bigint, nanos: number): string {
  const iso = new Date(Number(seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, "");
  const frac = nanos ? "." + String(nanos).padStart(9, "0").replace(/0+$/, "") : "";
  return `${iso}${frac}Z`;
}

/** A message with every field unset, as ts-proto's decoder creates it (proto2 types only). */
function unset(typeName: string, values: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of messageSchema(typeName).fields)
    out[f.prop] = f.kind === "map" ? {} : f.repeated ? [] : undefined;
  return Object.assign(out, values);
}

/** Reads a message of `typeName` from `value` in the given form; `path` locates errors. */
function readMessage(typeName: string, value: unknown, ctx: Ctx, path: string): Record<string, unknown> {
  if (ctx.form === "kubernetes") {
    // Kubernetes serializes these as plain strings and numbers.
    if (typeName === QUANTITY) {
      if (typeof value === "number" && Number.isFinite(value))
        return unset(typeName, { string: String(value) });
      if (typeof value !== "string" || !QUANTITY_RE.test(value)) {
        invalid(
          ctx.root,
          path,
          `expected a Kubernetes quantity, got ${describe(value)}`,
          'Write it like "500m" (CPU) or "1Gi" (memory), or a plain number.',
          isPlainObject(value),
        );
      }
      return unset(typeName, { string: value });
    }
    if (typeName === INT_OR_STRING) {
      if (typeof value === "number" && Number.isInteger(value) && Math.abs(value) < 2 ** 31)
        return unset(typeName, { type: "0", intVal: value });
      if (typeof value === "string" && value.length > 0) return unset(typeName, { type: "1", strVal: value });
      invalid(
        ctx.root,
        path,
        `expected an integer or a string, got ${describe(value)}`,
        'Write a port number like 8080 or a named port like "http".',
        isPlainObject(value),
      );
    }
    if (typeName === TIME) {
      const t = readTimeString(value, ctx, path);
      return unset(
        typeName,
        t.nanos ? { seconds: t.seconds.toString(), nanos: t.nanos } : { seconds: t.seconds.toString() },
      );
    }
    if (typeName === FIELDS_V1) {
      const raw = (value as { Raw?: unknown } | null)?.Raw;
      // The proto form ({ Raw: bytes }) must not be mistaken for JSON content.
      if (raw instanceof Uint8Array)
        invalid(ctx.root, path, "FieldsV1 given in proto form", "Write the fields as plain JSON.", true);
      return unset(typeName, { Raw: new Uint8Array(Buffer.from(JSON.stringify(value), "utf8")) });
    }
  }
  if (typeName === TIMESTAMP) {
    if (ctx.form === "proto" && value instanceof Date) return value as unknown as Record<string, unknown>;
    const t = readTimeString(value, ctx, path);
    return new Date(Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6)) as unknown as Record<
      string,
      unknown
    >;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value) || value instanceof Date) {
    invalid(
      ctx.root,
      path,
      `expected an object (${shortType(typeName)}), got ${describe(value)}`,
      `Write a mapping of ${shortType(typeName)} fields.`,
    );
  }
  const schema = messageSchema(typeName);
  if (schema.fields.some((f) => f.oneof))
    throw new Error(`${typeName} has a oneof, which this converter does not handle`);
  const proto2 = schema.syntax === "proto2";
  const out: Record<string, unknown> = {};
  const src = value as Record<string, unknown>;
  const claimed = new Set<string>();
  const inline: SchemaField[] = [];
  for (const f of schema.fields) {
    if (ctx.form === "kubernetes" && isInlineField(typeName, f)) {
      inline.push(f);
      continue;
    }
    const key = ctx.form === "kubernetes" ? f.json : f.prop;
    claimed.add(key);
    const v = Object.prototype.hasOwnProperty.call(src, key) ? src[key] : undefined;
    out[f.prop] = readField(f, v, ctx, join(path, key), proto2 || f.optional === true);
  }
  for (const f of inline) {
    // Go always encodes an embedded struct, so the field is set even when none of its keys is given.
    const sub = messageSchema(f.type!);
    const picked: Record<string, unknown> = {};
    for (const sf of sub.fields) {
      const names = isInlineField(f.type!, sf)
        ? messageSchema(sf.type!).fields.map((x) => x.json)
        : [sf.json];
      for (const n of names) {
        if (Object.prototype.hasOwnProperty.call(src, n) && !claimed.has(n)) {
          picked[n] = src[n];
          claimed.add(n);
        }
      }
    }
    out[f.prop] = readMessage(f.type!, picked, ctx, path);
  }
  for (const key of Object.keys(src)) {
    if (claimed.has(key)) continue;
    if (src[key] === undefined) continue;
    const known = acceptedKeys(typeName, ctx.form);
    const s = suggest(key, known);
    const protoOnly =
      ctx.form === "kubernetes" && schema.fields.some((f) => f.prop === key && isInlineField(typeName, f));
    invalid(
      ctx.root,
      join(path, key),
      `unknown field "${key}" in ${shortType(typeName)}`,
      s ? `Did you mean "${s}"?` : `Known fields: ${known.sort().join(", ")}.`,
      protoOnly,
    );
  }
  return out;
}

function readField(f: SchemaField, v: unknown, ctx: Ctx, path: string, proto2: boolean): unknown {
  if (f.kind === "map") {
    if (v === undefined || v === null) return {};
    if (typeof v !== "object" || Array.isArray(v) || v instanceof Date) {
      invalid(ctx.root, path, `expected a mapping, got ${describe(v)}`, "Write key: value pairs.");
    }
    // Entries, then fromEntries: a "__proto__" key stays a key instead of setting the prototype.
    const out: [string, unknown][] = [];
    for (const [k, mv] of Object.entries(v as Record<string, unknown>)) {
      if (f.map!.key !== "string" && !/^-?\d+$/.test(k))
        invalid(ctx.root, join(path, k), `map key "${k}" is not an integer`, "Use integer keys.");
      const vpath = join(path, k);
      if (mv === undefined || mv === null)
        invalid(ctx.root, vpath, "a map value cannot be null", "Give a value or remove the key.");
      out.push([
        k,
        f.map!.kind === "message"
          ? readMessage(f.map!.type!, mv, ctx, vpath)
          : readScalar(f.map!, mv, ctx, vpath),
      ]);
    }
    return Object.fromEntries(out);
  }
  if (f.repeated) {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v))
      invalid(
        ctx.root,
        path,
        `expected a list, got ${describe(v)}`,
        "Write a list, e.g. [a, b] or one '- item' per line in YAML.",
      );
    return v.map((item, i) => {
      const ipath = `${path}[${i}]`;
      if (item === null || item === undefined)
        invalid(ctx.root, ipath, "a list item cannot be null", "Remove the empty item.");
      return f.kind === "message" ? readMessage(f.type!, item, ctx, ipath) : readScalar(f, item, ctx, ipath);
    });
  }
  if (v === undefined || v === null) {
    if (f.kind === "message" || proto2) return undefined;
    return defaultScalar(f.kind);
  }
  return f.kind === "message" ? readMessage(f.type!, v, ctx, path) : readScalar(f, v, ctx, path);
}

/**
 * Reads `value` (Kubernetes-native JSON, or proto form with validation) as a
 * message of `typeName`, returning the generated (ts-proto) form. Unknown keys
 * and wrong types throw an {@link ArmadaError} (INVALID_ARGUMENT) naming the
 * path and the fix; `what` names the object in that message.
 */
export function readObject(
  typeName: string,
  value: unknown,
  form: ObjectForm,
  what: string,
): Record<string, unknown> {
  return readMessage(typeName, value, { form, root: what }, "");
}

// ---- proto form -> Kubernetes JSON ----

function writeScalar(f: { kind: string; type?: string }, v: unknown): unknown {
  if (INT64.has(f.kind)) {
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : String(v);
  }
  if (f.kind === "bytes") return Buffer.from(v as Uint8Array).toString("base64");
  if (f.kind === "enum") {
    const name = Object.entries(ENUMS[f.type!]!).find(([, n]) => n === v)?.[0];
    return name ?? v;
  }
  return v;
}

function isDefault(kind: string, v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (kind === "bytes") return (v as Uint8Array).length === 0;
  if (INT64.has(kind)) return String(v) === "0";
  return v === defaultScalar(kind);
}

function writeMessage(typeName: string, msg: unknown, into?: Record<string, unknown>): unknown {
  if (typeName === QUANTITY) return (msg as { string?: string }).string ?? "0";
  if (typeName === INT_OR_STRING) {
    const q = msg as { type?: string | number; intVal?: number; strVal?: string };
    return String(q.type ?? "0") === "1" ? (q.strVal ?? "") : (q.intVal ?? 0);
  }
  if (typeName === TIME) {
    const t = msg as { seconds?: string; nanos?: number };
    return formatTime(BigInt(t.seconds ?? "0"), t.nanos ?? 0);
  }
  if (typeName === FIELDS_V1) {
    const raw = (msg as { Raw?: Uint8Array }).Raw;
    return raw && raw.length ? JSON.parse(Buffer.from(raw).toString("utf8")) : {};
  }
  if (typeName === TIMESTAMP) {
    const d = msg as Date;
    const ms = BigInt(d.getTime());
    const s = ms >= 0n ? ms / 1000n : -((-ms + 999n) / 1000n);
    return formatTime(s, Number(ms - s * 1000n) * 1_000_000);
  }
  const schema = messageSchema(typeName);
  if (schema.fields.some((f) => f.oneof))
    throw new Error(`${typeName} has a oneof, which this converter does not handle`);
  const proto2 = schema.syntax === "proto2";
  const out: Record<string, unknown> = into ?? {};
  const m = msg as Record<string, unknown>;
  for (const f of schema.fields) {
    const v = m[f.prop];
    if (f.kind === "map") {
      const entries = Object.entries((v ?? {}) as Record<string, unknown>);
      if (entries.length === 0) continue;
      out[f.json] = Object.fromEntries(
        entries.map(([k, mv]) => [
          k,
          f.map!.kind === "message" ? writeMessage(f.map!.type!, mv) : writeScalar(f.map!, mv),
        ]),
      );
    } else if (f.repeated) {
      const list = (v ?? []) as unknown[];
      if (list.length === 0) continue;
      out[f.json] = list.map((item) =>
        f.kind === "message" ? writeMessage(f.type!, item) : writeScalar(f, item),
      );
    } else if (f.kind === "message") {
      if (v === undefined || v === null) continue;
      if (isInlineField(typeName, f)) writeMessage(f.type!, v, out);
      else out[f.json] = writeMessage(f.type!, v);
    } else {
      // proto2 keeps presence (a set 0 or "" is written); proto3 omits defaults.
      if (proto2 || f.optional ? v === undefined || v === null : isDefault(f.kind, v)) continue;
      out[f.json] = writeScalar(f, v);
    }
  }
  return out;
}

/** Writes a generated-form message of `typeName` as Kubernetes-native JSON. */
export function writeObject(typeName: string, message: unknown): Record<string, unknown> {
  return writeMessage(typeName, message) as Record<string, unknown>;
}
