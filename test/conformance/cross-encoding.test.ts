/**
 * Cross-encoding: each vector is encoded by the official Python client and
 * decoded by our generated code, and the reverse, and both must agree field
 * by field with the official reading of the vector. The bytes must also be
 * the same up to field order (see wire-canonical.ts for why order differs).
 *
 * One Python process serves the whole file: our encodings go in on stdin, the
 * official encodings and readings come back on stdout.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { type DescMessage, type FileRegistry, createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { beforeAll, describe, expect, it } from "vitest";
import { runPython } from "../support/python.js";
import { type Vector, eventCaseNames, subMillisecondTimestamp, vectors } from "./cross-encoding-vectors.js";
import { canonicalize } from "./wire-canonical.js";
import { buildOurDescriptorSet } from "./our-descriptors.js";

const script = readFileSync(path.join(import.meta.dirname, "cross-encode.py"), "utf8");

interface PythonResult {
  pyBytes: string;
  pyJson: unknown;
  fromTsJson: unknown;
  presence: Record<string, [boolean, boolean]>;
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/;

/**
 * Brings a proto3-JSON value into one comparable form. The only normalisation
 * is of Timestamps: Python prints 0, 3, 6 or 9 fractional digits (none when
 * nanos are 0) while ts-proto's Date always prints 3, so every timestamp
 * string is rewritten with 9 digits. Precision is kept, so a lost digit still
 * shows. No other field in the vectors has that shape. Everything else (int64
 * as strings, enum names, base64 bytes, omitted proto3 defaults, kept proto2
 * zero values) is compared exactly as printed.
 */
function normalise(value: unknown): unknown {
  if (typeof value === "string") {
    const m = RFC3339.exec(value);
    return m ? `${m[1]}.${(m[2] ?? "").padEnd(9, "0")}Z` : value;
  }
  if (Array.isArray(value)) return value.map(normalise);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [k, normalise(v)]),
    );
  }
  return value;
}

/** Every path where `actual` and `expected` differ, e.g. `jobRequestItems[0].priority: 1 != 2.5`. */
function diffPaths(actual: unknown, expected: unknown, at = "$"): string[] {
  if (Array.isArray(actual) && Array.isArray(expected)) {
    const out: string[] = [];
    if (actual.length !== expected.length) out.push(`${at}: length ${actual.length} != ${expected.length}`);
    for (let i = 0; i < Math.min(actual.length, expected.length); i++) {
      out.push(...diffPaths(actual[i], expected[i], `${at}[${i}]`));
    }
    return out;
  }
  const isObj = (v: unknown): v is Record<string, unknown> =>
    v !== null && typeof v === "object" && !Array.isArray(v);
  if (isObj(actual) && isObj(expected)) {
    const keys = [...new Set([...Object.keys(actual), ...Object.keys(expected)])].sort();
    return keys.flatMap((k) => {
      const p = `${at}.${k}`;
      if (!(k in actual)) return [`${p}: missing (expected ${JSON.stringify(expected[k])})`];
      if (!(k in expected)) return [`${p}: unexpected ${JSON.stringify(actual[k])}`];
      return diffPaths(actual[k], expected[k], p);
    });
  }
  return Object.is(actual, expected)
    ? []
    : [`${at}: ${JSON.stringify(actual)} != ${JSON.stringify(expected)}`];
}

/** Follows a proto-name path (`job_request_items[0].pod_specs[0]...`) through a ts-proto value. */
function valueAt(message: unknown, protoPath: string): unknown {
  let cur: unknown = message;
  for (const segment of protoPath.split(".")) {
    const m = /^(\w+)(?:\[(\d+)\])?$/.exec(segment)!;
    // ts-proto names properties in lowerCamelCase; Kubernetes proto names already are.
    const prop = m[1]!.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    cur = (cur as Record<string, unknown> | undefined)?.[prop];
    if (m[2] !== undefined) cur = (cur as unknown[] | undefined)?.[Number(m[2])];
  }
  return cur;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

/** A readable account of where two byte strings first differ. */
function firstDifference(a: Uint8Array, b: Uint8Array): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return (
    `lengths ${a.length} (ours) / ${b.length} (official); first difference at byte ${i}: ` +
    `ours …${hex(a.subarray(Math.max(0, i - 8), i + 16))} official …${hex(b.subarray(Math.max(0, i - 8), i + 16))}`
  );
}

interface Prepared {
  tsBytes: Uint8Array;
  tsJson: unknown;
}

const prepared = new Map<string, Prepared>();
const results = new Map<string, PythonResult>();
let upstreamEventCases: string[] = [];
let registry: FileRegistry;

function schemaOf(v: Vector): DescMessage {
  const desc = registry.getMessage(v.type);
  if (!desc) throw new Error(`our descriptors do not define ${v.type}`);
  return desc;
}

beforeAll(async () => {
  registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, buildOurDescriptorSet()));
  for (const v of [...vectors, subMillisecondTimestamp]) {
    const message = v.codec.fromJSON(v.json);
    prepared.set(v.name, { tsBytes: v.codec.encode(message).finish(), tsJson: v.codec.toJSON(message) });
  }
  const input = JSON.stringify({
    vectors: [...vectors, subMillisecondTimestamp].map((v) => ({
      name: v.name,
      type: v.type,
      json: v.json,
      tsBytes: Buffer.from(prepared.get(v.name)!.tsBytes).toString("base64"),
      presence: [...(v.present ?? []), ...(v.absent ?? [])],
    })),
  });
  const out = JSON.parse(await runPython(script, input)) as {
    vectors: Record<string, PythonResult>;
    eventCases: string[];
  };
  for (const [name, r] of Object.entries(out.vectors)) results.set(name, r);
  upstreamEventCases = out.eventCases;
});

function result(v: Vector): PythonResult {
  const r = results.get(v.name);
  if (!r) throw new Error(`the Python side returned nothing for vector "${v.name}"`);
  return r;
}

describe("cross-encoding with the official armada-client 0.5.1", () => {
  it("covers every EventMessage case the official client knows", () => {
    expect([...eventCaseNames].sort()).toEqual([...upstreamEventCases].sort());
  });

  it.each(vectors)("$name: Python encodes, we decode, equal field by field", (v) => {
    const r = result(v);
    const decoded = v.codec.decode(Buffer.from(r.pyBytes, "base64"));
    expect(diffPaths(normalise(v.codec.toJSON(decoded)), normalise(r.pyJson))).toEqual([]);
  });

  it.each(vectors)("$name: we encode, Python decodes, equal field by field", (v) => {
    const r = result(v);
    expect(diffPaths(normalise(r.fromTsJson), normalise(r.pyJson))).toEqual([]);
    // Our own reading of the JSON form agrees with the official one too.
    expect(diffPaths(normalise(prepared.get(v.name)!.tsJson), normalise(r.pyJson))).toEqual([]);
  });

  it.each(vectors)("$name: same bytes as the official encoder, up to field order", (v) => {
    const ours = prepared.get(v.name)!.tsBytes;
    const official = Buffer.from(result(v).pyBytes, "base64");
    const [a, b] = [canonicalize(ours, schemaOf(v)), canonicalize(official, schemaOf(v))];
    expect(hex(a) === hex(b), firstDifference(a, b)).toBe(true);
  });

  const withPresence = vectors.filter((v) => v.present?.length || v.absent?.length);
  it.each(withPresence)("$name: proto2 zero values stay set and unset fields stay unset, both ways", (v) => {
    const r = result(v);
    const decoded = v.codec.decode(Buffer.from(r.pyBytes, "base64"));
    for (const p of v.present ?? []) {
      expect(r.presence[p], `HasField(${p}) in the official parse / in the parse of our bytes`).toEqual([
        true,
        true,
      ]);
      expect(valueAt(decoded, p), `${p} after decoding the official bytes`).not.toBeUndefined();
    }
    for (const p of v.absent ?? []) {
      expect(r.presence[p], `HasField(${p}) in the official parse / in the parse of our bytes`).toEqual([
        false,
        false,
      ]);
      expect(valueAt(decoded, p), `${p} after decoding the official bytes`).toBeUndefined();
    }
    // The headline case spelled out: runAsUser 0 and privileged false arrive as values, not as absence.
    if (v.type === "api.JobSubmitRequest") {
      const sc = valueAt(decoded, "job_request_items[0].pod_specs[0].containers[0].securityContext") as {
        runAsUser?: string;
        privileged?: boolean;
      };
      expect(sc.runAsUser).toBe("0");
      expect(sc.privileged).toBe(false);
    }
  });
});

describe("known limit of the TypeScript mapping", () => {
  it("Timestamps keep milliseconds: sub-millisecond digits from the server are dropped on decode", () => {
    const v = subMillisecondTimestamp;
    const r = result(v);
    expect(r.pyJson).toEqual({ runId: "run-1", startedTs: "2024-05-01T10:00:00.123456789Z" });
    const decoded = v.codec.decode(Buffer.from(r.pyBytes, "base64"));
    expect(diffPaths(normalise(v.codec.toJSON(decoded)), normalise(r.pyJson))).toEqual([
      '$.startedTs: "2024-05-01T10:00:00.123000000Z" != "2024-05-01T10:00:00.123456789Z"',
    ]);
  });
});

describe("the comparison helpers detect differences", () => {
  const v = vectors[0]!;

  it("diffPaths names a changed, a missing and an extra field", () => {
    const expected = normalise(v.codec.toJSON(v.codec.fromJSON(v.json))) as {
      jobRequestItems: { priority: number }[];
    };
    const changed = structuredClone(expected);
    changed.jobRequestItems[0]!.priority = 3;
    expect(diffPaths(changed, expected)).toEqual(["$.jobRequestItems[0].priority: 3 != 2.5"]);
    expect(diffPaths({ a: 1 }, { a: 1, b: 0 })).toEqual(["$.b: missing (expected 0)"]);
    expect(diffPaths({ a: 1, b: false }, { a: 1 })).toEqual(["$.b: unexpected false"]);
  });

  it("the canonical form keeps value and repeated-field order differences", () => {
    const encode = (json: unknown) =>
      canonicalize(v.codec.encode(v.codec.fromJSON(json)).finish(), schemaOf(v));
    const base = encode(v.json);
    const swapped = structuredClone(v.json) as { jobRequestItems: unknown[] };
    swapped.jobRequestItems.reverse();
    expect(hex(encode(swapped))).not.toBe(hex(base));
    expect(hex(encode({ ...v.json, queue: "researcH" }))).not.toBe(hex(base));
    // Map entries are reordered and completed, never merged or dropped.
    const relabelled = structuredClone(v.json) as { jobRequestItems: { labels: Record<string, string> }[] };
    relabelled.jobRequestItems[0]!.labels.team = "b";
    expect(hex(encode(relabelled))).not.toBe(hex(base));
    delete (relabelled.jobRequestItems[0]!.labels as Partial<Record<string, string>>).team;
    expect(hex(encode(relabelled))).not.toBe(hex(base));
    const reordered = structuredClone(v.json) as { jobRequestItems: { labels: Record<string, string> }[] };
    reordered.jobRequestItems[0]!.labels = { team: "a", app: "trainer" };
    expect(hex(encode(reordered))).toBe(hex(base));
  });
});
