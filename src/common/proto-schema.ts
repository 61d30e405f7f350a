/**
 * The shape of the runtime schema that `npm run generate` writes to
 * `src/gen/*\/schema.ts` (see src/client/codegen/protoc-gen-schema.ts). The
 * Kubernetes-native converter walks it, so conversions follow the .proto.
 */

/** One field of a message: proto name, ts-proto property, JSON name, number, kind and label. */
export interface SchemaField {
  name: string;
  prop: string;
  json: string;
  number: number;
  kind: string;
  type?: string;
  repeated?: true;
  map?: { key: string; kind: string; type?: string };
  oneof?: string;
  /** A proto3 `optional` field: it has presence, like a proto2 field. */
  optional?: true;
}

/** A message: its syntax (proto2 fields have presence) and fields. */
export interface SchemaMessage {
  syntax: string;
  fields: SchemaField[];
}
