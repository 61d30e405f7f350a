/**
 * Canonical form of protobuf wire bytes, for comparing two encoders byte for
 * byte where they legitimately differ. Guided by the message schema (our
 * descriptors, which descriptors.test.ts proves equal to the official ones).
 *
 * Three freedoms the protobuf encoding rules give an encoder, all used here:
 * - Field order. upb (the Python runtime) writes fields in number order,
 *   ts-proto in .proto declaration order, and Kubernetes and Armada declare
 *   many fields out of number order (PodSpec.initContainers = 20 comes before
 *   containers = 2). Parsers must accept any order.
 * - Map entry order. Unspecified; upb even sorts int32 keys in descending
 *   unsigned order in "deterministic" mode, ts-proto uses JS object key order.
 * - Zero key or value inside a map entry. upb always writes both; ts-proto
 *   leaves a zero value out (e.g. `{"job-a": QUEUED}` in JobStatusResponse);
 *   a parser reads a missing key or value as its zero value.
 * The canonical form removes exactly these: fields are stably sorted by number
 * (repeated fields keep their order, which is significant), map entries are
 * written with both key and value and sorted, and nested messages are
 * canonicalised recursively. Everything else (varint widths, zig-zag, packed
 * vs unpacked, which zero values are written for fields with presence, string
 * and bytes content) is compared as encoded.
 */
import { type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";

interface WireField {
  number: number;
  wireType: number;
  /** Raw value bytes for varint/fixed fields, the payload for length-delimited ones. */
  value: Uint8Array;
}

function readVarint(bytes: Uint8Array, pos: number): [bigint, number] {
  let result = 0n;
  for (let shift = 0n; pos < bytes.length && shift < 70n; shift += 7n) {
    const b = bytes[pos++]!;
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [result, pos];
  }
  throw new Error(`malformed varint at byte ${pos}`);
}

function writeVarint(value: bigint, out: number[]): void {
  do {
    let b = Number(value & 0x7fn);
    value >>= 7n;
    if (value !== 0n) b |= 0x80;
    out.push(b);
  } while (value !== 0n);
}

function parse(bytes: Uint8Array): WireField[] {
  const fields: WireField[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const [tag, afterTag] = readVarint(bytes, pos);
    pos = afterTag;
    const number = Number(tag >> 3n);
    const wireType = Number(tag & 7n);
    let end: number;
    if (wireType === 0) end = readVarint(bytes, pos)[1];
    else if (wireType === 1) end = pos + 8;
    else if (wireType === 5) end = pos + 4;
    else if (wireType === 2) {
      const [len, start] = readVarint(bytes, pos);
      pos = start;
      end = start + Number(len);
    } else throw new Error(`unexpected wire type ${wireType} for field ${number}`);
    if (end > bytes.length) throw new Error(`field ${number} runs past the end of its message`);
    fields.push({ number, wireType, value: bytes.subarray(pos, end) });
    pos = end;
  }
  return fields;
}

function serialize(fields: WireField[]): Uint8Array {
  const out: number[] = [];
  for (const f of fields) {
    writeVarint((BigInt(f.number) << 3n) | BigInt(f.wireType), out);
    if (f.wireType === 2) writeVarint(BigInt(f.value.length), out);
    for (const b of f.value) out.push(b);
  }
  return Uint8Array.from(out);
}

/** The wire type and encoded zero value of a scalar (enums are varints). */
function zeroOf(scalar: ScalarType | undefined): Pick<WireField, "wireType" | "value"> {
  switch (scalar) {
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return { wireType: 1, value: new Uint8Array(8) };
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return { wireType: 5, value: new Uint8Array(4) };
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return { wireType: 2, value: new Uint8Array(0) };
    default:
      return { wireType: 0, value: new Uint8Array([0]) };
  }
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

function canonicalMapEntry(entry: Uint8Array, field: DescField & { fieldKind: "map" }): Uint8Array {
  const parsed = parse(entry);
  const key = parsed.filter((f) => f.number === 1).at(-1) ?? { number: 1, ...zeroOf(field.mapKey) };
  let value = parsed.filter((f) => f.number === 2).at(-1);
  if (field.mapKind === "message") {
    value = { number: 2, wireType: 2, value: canonicalize(value?.value ?? new Uint8Array(0), field.message) };
  } else {
    value ??= { number: 2, ...zeroOf(field.mapKind === "scalar" ? field.scalar : undefined) };
  }
  return serialize([key, value]);
}

/** Returns the canonical form of `bytes`, an encoded `schema` message. */
export function canonicalize(bytes: Uint8Array, schema: DescMessage): Uint8Array {
  const fields = parse(bytes).map((f): WireField => {
    const field = schema.fields.find((d) => d.number === f.number);
    if (!field || f.wireType !== 2) return f;
    if (field.fieldKind === "map") return { ...f, value: canonicalMapEntry(f.value, field) };
    if (field.fieldKind === "message" || (field.fieldKind === "list" && field.listKind === "message")) {
      return { ...f, value: canonicalize(f.value, field.message) };
    }
    return f;
  });
  // Stable sort: repeated fields keep their relative order.
  const sorted = [...fields].sort((a, b) => a.number - b.number);
  // Map entries of one field are a set: order them by their canonical bytes.
  const out: WireField[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j < sorted.length && sorted[j]!.number === sorted[i]!.number) j++;
    const group = sorted.slice(i, j);
    const field = schema.fields.find((d) => d.number === sorted[i]!.number);
    if (field?.fieldKind === "map") group.sort((a, b) => (hex(a.value) < hex(b.value) ? -1 : 1));
    out.push(...group);
    i = j;
  }
  return serialize(out);
}
