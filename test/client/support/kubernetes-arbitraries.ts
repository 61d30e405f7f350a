/** fast-check arbitraries of canonical Kubernetes-native JSON for any message in the schema. */
import fc from "fast-check";
import { isInlineField, messageSchema } from "../../../src/client/kubernetes-json.js";
import { enums as armadaEnums } from "../../../src/gen/armada/schema.js";
import type { SchemaField } from "../../../src/common/proto-schema.js";

const word = fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/);
const anyString = fc.string({ maxLength: 12 });
const quantity = fc
  .tuple(
    fc.integer({ min: 0, max: 4096 }),
    fc.constantFrom("", "m", "k", "M", "G", "Ki", "Mi", "Gi", "Ti", "e3"),
  )
  .map(([n, s]) => `${n}${s}`);
const intOrString = fc.oneof(fc.integer({ min: 0, max: 65535 }), word);
const time = fc
  .tuple(fc.integer({ min: 0, max: 4_102_444_800 }), fc.constantFrom(0, 0, 500_000_000, 123_000_000, 1))
  .map(([s, n]) => {
    const base = new Date(s * 1000).toISOString().replace(/\.\d{3}Z$/, "");
    return `${base}${n ? "." + String(n).padStart(9, "0").replace(/0+$/, "") : ""}Z`;
  });
/** google.protobuf.Timestamp is a Date in the generated code: millisecond precision. */
const timestamp = fc
  .tuple(fc.integer({ min: 0, max: 4_102_444_800 }), fc.constantFrom(0, 500, 123))
  .map(([s, ms]) =>
    new Date(s * 1000 + ms)
      .toISOString()
      .replace(".000Z", "Z")
      .replace(/(\.\d*?)0+Z$/, "$1Z"),
  );
const fieldsV1 = fc
  .dictionary(word, fc.oneof(anyString, fc.integer(), fc.boolean()), { maxKeys: 3 })
  .map((o) => ({ ...o }));

function scalar(f: { kind: string; type?: string }): fc.Arbitrary<unknown> {
  switch (f.kind) {
    case "string":
      return anyString;
    case "bytes":
      return fc.uint8Array({ minLength: 1, maxLength: 8 }).map((b) => Buffer.from(b).toString("base64"));
    case "bool":
      return fc.boolean();
    case "int32":
      return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
    case "uint32":
      return fc.integer({ min: 0, max: 2 ** 32 - 1 });
    case "int64":
      return fc.integer({ min: -(2 ** 40), max: 2 ** 40 });
    case "double":
    case "float":
      return fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Object.is(x, -0));
    case "enum":
      return fc.constantFrom(...Object.keys(armadaEnums[f.type!]!));
    default:
      throw new Error(`no arbitrary for ${f.kind}`);
  }
}

const MAX_DEPTH = 7;
const cache = new Map<string, fc.Arbitrary<Record<string, unknown>>>();

/** Entries a message contributes to its JSON object (inlined fields merged). */
function fieldArbs(typeName: string, depth: number): [string, fc.Arbitrary<unknown>][] {
  const proto3 = messageSchema(typeName).syntax === "proto3";
  return messageSchema(typeName).fields.flatMap((f): [string, fc.Arbitrary<unknown>][] => {
    if (isInlineField(typeName, f)) return fieldArbs(f.type!, depth);
    // proto3 leaves defaults out of canonical JSON, so never generate them.
    const scalarProto3 = proto3 && f.kind !== "message" && !f.repeated && f.kind !== "map";
    if (scalarProto3 && f.kind === "enum") {
      const names = Object.keys(armadaEnums[f.type!]!).slice(1);
      return names.length ? [[f.json, fc.constantFrom(...names)]] : [];
    }
    const a = valueArb(f, depth);
    if (!a) return [];
    const canonical = scalarProto3 ? a.filter((v) => v !== "" && v !== 0 && v !== false) : a;
    return [[f.json, canonical]];
  });
}

export function messageArb(typeName: string, depth: number): fc.Arbitrary<unknown> | undefined {
  switch (typeName) {
    case "k8s.io.apimachinery.pkg.api.resource.Quantity":
      return quantity;
    case "k8s.io.apimachinery.pkg.util.intstr.IntOrString":
      return intOrString;
    case "k8s.io.apimachinery.pkg.apis.meta.v1.Time":
      return time;
    case "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1":
      return fieldsV1;
    case "google.protobuf.Timestamp":
      return timestamp;
  }
  if (depth > MAX_DEPTH) return undefined;
  const key = `${typeName}@${depth}`;
  let arb = cache.get(key);
  if (!arb) {
    const entries = fieldArbs(typeName, depth + 1);
    const keys = entries.map(([k]) => k);
    const byKey = new Map(entries);
    arb = fc
      .subarray(keys, { maxLength: Math.min(keys.length, depth === 0 ? 6 : 3) })
      .chain((chosen) => fc.record(Object.fromEntries(chosen.map((k) => [k, byKey.get(k)!]))))
      // fast-check builds null-prototype objects; JSON users have plain ones.
      .map((o) => ({ ...o }) as Record<string, unknown>);
    cache.set(key, arb);
  }
  return arb;
}

function valueArb(f: SchemaField, depth: number): fc.Arbitrary<unknown> | undefined {
  const one = f.kind === "map" ? undefined : f.kind === "message" ? messageArb(f.type!, depth) : scalar(f);
  if (f.kind === "map") {
    const v = f.map!.kind === "message" ? messageArb(f.map!.type!, depth) : scalar(f.map!);
    if (!v) return undefined;
    const keys =
      f.map!.key === "string"
        ? fc.stringMatching(/^[a-z][a-z0-9./-]{0,10}$/)
        : fc.integer({ min: 0, max: 9 }).map(String);
    return fc.dictionary(keys, v, { minKeys: 1, maxKeys: 2 }).map((o) => ({ ...o }));
  }
  if (!one) return undefined;
  return f.repeated ? fc.array(one, { minLength: 1, maxLength: 2 }) : one;
}
