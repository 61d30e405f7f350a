/**
 * A protoc/buf plugin that writes a compact, runtime-readable schema (field
 * names, numbers, kinds, labels, map and enum structure) of the files it is
 * given, as `schema.ts` under the first file's directory. The Kubernetes-native
 * converter walks it, so conversions follow the .proto exactly.
 *
 * Run by `npm run generate` through buf.gen.*.yaml; plugin option
 * `out=<path>` names the output file (relative to the generation root).
 */
import {
  CodeGeneratorRequest,
  CodeGeneratorResponse,
  CodeGeneratorResponse_Feature,
  type DescriptorProto,
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  type FieldDescriptorProto,
  type EnumDescriptorProto,
} from "ts-proto-descriptors";
import type { SchemaField, SchemaMessage } from "../../common/proto-schema.js";

const SCALARS: Partial<Record<FieldDescriptorProto_Type, string>> = {
  [FieldDescriptorProto_Type.TYPE_DOUBLE]: "double",
  [FieldDescriptorProto_Type.TYPE_FLOAT]: "float",
  [FieldDescriptorProto_Type.TYPE_INT64]: "int64",
  [FieldDescriptorProto_Type.TYPE_UINT64]: "uint64",
  [FieldDescriptorProto_Type.TYPE_INT32]: "int32",
  [FieldDescriptorProto_Type.TYPE_FIXED64]: "fixed64",
  [FieldDescriptorProto_Type.TYPE_FIXED32]: "fixed32",
  [FieldDescriptorProto_Type.TYPE_BOOL]: "bool",
  [FieldDescriptorProto_Type.TYPE_STRING]: "string",
  [FieldDescriptorProto_Type.TYPE_BYTES]: "bytes",
  [FieldDescriptorProto_Type.TYPE_UINT32]: "uint32",
  [FieldDescriptorProto_Type.TYPE_SFIXED32]: "sfixed32",
  [FieldDescriptorProto_Type.TYPE_SFIXED64]: "sfixed64",
  [FieldDescriptorProto_Type.TYPE_SINT32]: "sint32",
  [FieldDescriptorProto_Type.TYPE_SINT64]: "sint64",
};

/** ts-proto's property name for a field: snake_case becomes camelCase, other names are kept. */
function propertyName(name: string): string {
  if (!name.includes("_")) return name;
  return name
    .split("_")
    .map((p, i) => (i === 0 ? p : p.charAt(0).toUpperCase() + p.slice(1)))
    .join("");
}

function kindOf(f: FieldDescriptorProto): { kind: string; type?: string } {
  if (f.type === FieldDescriptorProto_Type.TYPE_MESSAGE)
    return { kind: "message", type: f.typeName.replace(/^\./, "") };
  if (f.type === FieldDescriptorProto_Type.TYPE_ENUM)
    return { kind: "enum", type: f.typeName.replace(/^\./, "") };
  const s = SCALARS[f.type];
  if (!s) throw new Error(`unsupported field type ${f.type} of ${f.name}`);
  return { kind: s };
}

function main(input: Buffer): Buffer {
  const req = CodeGeneratorRequest.decode(input);
  const outParam = /(?:^|,)out=([^,]+)/.exec(req.parameter ?? "")?.[1];
  if (!outParam) throw new Error("protoc-gen-schema needs the option out=<file>");
  const wanted = new Set(req.fileToGenerate);
  const messages: Record<string, SchemaMessage> = {};
  const enums: Record<string, Record<string, number>> = {};
  const mapEntries = new Map<string, DescriptorProto>();

  const visitEnum = (prefix: string, e: EnumDescriptorProto) => {
    enums[`${prefix}.${e.name}`] = Object.fromEntries(e.value.map((v) => [v.name, v.number]));
  };
  const collectMapEntries = (prefix: string, m: DescriptorProto) => {
    for (const n of m.nestedType) {
      if (n.options?.mapEntry) mapEntries.set(`${prefix}.${m.name}.${n.name}`, n);
      collectMapEntries(`${prefix}.${m.name}`, n);
    }
  };
  for (const file of req.protoFile) for (const m of file.messageType) collectMapEntries(file.package, m);

  const visitMessage = (prefix: string, m: DescriptorProto, syntax: string) => {
    const full = `${prefix}.${m.name}`;
    if (m.options?.mapEntry) return;
    const fields: SchemaField[] = m.field.map((f) => {
      const base = kindOf(f);
      const out: SchemaField = {
        name: f.name,
        prop: propertyName(f.name),
        json: f.jsonName,
        number: f.number,
        ...base,
      };
      const entry = base.kind === "message" ? mapEntries.get(base.type!) : undefined;
      if (entry) {
        const [k, v] = [entry.field.find((x) => x.number === 1)!, entry.field.find((x) => x.number === 2)!];
        const vk = kindOf(v);
        out.kind = "map";
        delete out.type;
        out.map = { key: kindOf(k).kind, kind: vk.kind, ...(vk.type ? { type: vk.type } : {}) };
      } else if (f.label === FieldDescriptorProto_Label.LABEL_REPEATED) {
        out.repeated = true;
      }
      if (
        f.oneofIndex !== undefined &&
        !f.proto3Optional &&
        m.oneofDecl[f.oneofIndex] &&
        m.field.some((x) => x !== f && x.oneofIndex === f.oneofIndex)
      ) {
        out.oneof = propertyName(m.oneofDecl[f.oneofIndex]!.name);
      }
      return out;
    });
    messages[full] = { syntax, fields };
    for (const n of m.nestedType) visitMessage(full, n, syntax);
    for (const e of m.enumType) visitEnum(full, e);
  };
  for (const file of req.protoFile) {
    if (!wanted.has(file.name)) continue;
    const syntax = file.syntax || "proto2";
    for (const m of file.messageType) visitMessage(file.package, m, syntax);
    for (const e of file.enumType) visitEnum(file.package, e);
  }

  const sorted = <T>(o: Record<string, T>) =>
    Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
  // The generated file imports the schema types from src/client, written once there.
  const schemaTypesImport = "../".repeat(outParam.split("/").length) + "common/proto-schema.js";
  const content = `// Code generated by src/client/codegen/protoc-gen-schema.ts from ${[...wanted].sort().join(", ")}. DO NOT EDIT.
/* eslint-disable */

import type { SchemaMessage } from "${schemaTypesImport}";

/** Messages by full name. */
export const messages: Record<string, SchemaMessage> = {
${Object.entries(sorted(messages))
  .map(
    ([n, m]) =>
      `  ${JSON.stringify(n)}: { syntax: ${JSON.stringify(m.syntax)}, fields: [\n${m.fields.map((f) => `    ${JSON.stringify(f)},\n`).join("")}  ] },\n`,
  )
  .join("")}};

/** Enums by full name: value name -> number. */
export const enums: Record<string, Record<string, number>> = {
${Object.entries(sorted(enums))
  .map(([n, e]) => `  ${JSON.stringify(n)}: ${JSON.stringify(e)},\n`)
  .join("")}};
`;
  return Buffer.from(
    CodeGeneratorResponse.encode(
      CodeGeneratorResponse.fromPartial({
        supportedFeatures: CodeGeneratorResponse_Feature.FEATURE_PROTO3_OPTIONAL,
        file: [{ name: outParam, content }],
      }),
    ).finish(),
  );
}

const chunks: Buffer[] = [];
process.stdin.on("data", (c: Buffer) => chunks.push(c));
process.stdin.on("end", () => {
  process.stdout.write(main(Buffer.concat(chunks)));
});
