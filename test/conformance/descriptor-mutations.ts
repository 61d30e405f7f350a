/**
 * Deliberate, known differences applied to a copy of our FileDescriptorSet,
 * one per kind of fact the descriptor comparer checks, with the exact line the
 * comparer must report for each. Every mutation keeps the set loadable by a
 * descriptor pool, so the comparer sees it rather than failing to load.
 */
import { clearField, create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type DescriptorProto,
  DescriptorProtoSchema,
  type FieldDescriptorProto,
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FieldDescriptorProtoSchema,
  FieldOptionsSchema,
  type FileDescriptorProto,
  FileDescriptorSetSchema,
} from "@bufbuild/protobuf/wkt";

/** What `compare-descriptors.py` reports for one FileDescriptorSet. */
export interface DescriptorSetReport {
  files: Record<string, { compared: number; diffs: string[] }>;
  services: Record<string, { methods: number; diffs: string[] }>;
  closure: Record<string, { reached: number; missing: string[] }>;
}

/** Upstream services whose whole reachable type closure we must define. */
export const closureServices = ["api.Submit", "api.QueueService", "api.Jobs", "api.Event"];

/** File -> the diff lines the comparer must report for the mutations in that file (services under their file). */
export const expectedMutationDiffs: Record<string, string[]> = {
  "armada/submit.proto": [
    "api.JobSubmitRequestItem.external_job_uri: number 14 (ours) != 13 (upstream)",
    "api.JobSubmitRequest.queue: type TYPE_BYTES (ours) != TYPE_STRING (upstream)",
    "api.JobSubmitRequestItem.pod_spec: type name k8s.io.api.core.v1.Container (ours) != k8s.io.api.core.v1.PodSpec (upstream)",
    "api.JobSubmitRequestItem.labels: map not a map (ours) != map<TYPE_STRING, TYPE_STRING> (upstream)",
    "api.JobSubmitRequestItem.LabelsEntry: map entry False (ours) != True (upstream)",
    "api.JobState.CANCELLED: number 42 (ours) != 9 (upstream)",
    "api.NotUpstream: message is defined by us but not upstream",
  ],
  "armada/event.proto": [
    "api.JobSetRequest.from_message_id: json_name fromMsgId (ours) != fromMessageId (upstream)",
    "api.EventMessage.submitted: oneof null (ours) != events (upstream)",
    "api.EventMessage: oneof events members ['cancelled', 'cancelling', 'failed', 'ingress_info', 'lease_expired', " +
      "'lease_returned', 'leased', 'pending', 'preempted', 'queued', 'reprioritized', 'reprioritizing', 'running', " +
      "'succeeded', 'utilisation'] (ours) != ['cancelled', 'cancelling', 'failed', 'ingress_info', 'lease_expired', " +
      "'lease_returned', 'leased', 'pending', 'preempted', 'preempting', 'queued', 'reprioritized', 'reprioritizing', " +
      "'running', 'submitted', 'succeeded', 'utilisation'] (upstream)",
    "api.EventMessage.preempting: upstream field (number 22) is missing in ours",
    "api.Event.GetJobSetEvents: server streaming False (ours) != True (upstream)",
  ],
  "k8s.io/api/core/v1/generated.proto": [
    "k8s.io.api.core.v1.SecurityContext.runAsUser: label required (ours) != optional (upstream)",
    "k8s.io.api.core.v1.PodSecurityContext.supplementalGroups: packed true (ours) != false (upstream)",
  ],
};

/** Service -> the closure gaps the comparer must report after the mutations. */
export const expectedMutationClosure: Record<string, string[]> = {
  "api.Event": ["message api.JobPreemptingEvent"],
  "api.Submit": [],
  "api.QueueService": [],
  "api.Jobs": [],
};

function file(set: FileDescriptorProto[], name: string): FileDescriptorProto {
  const found = set.find((f) => f.name === name);
  if (!found) throw new Error(`mutation target file ${name} is not in our descriptor set`);
  return found;
}

function message(f: FileDescriptorProto, name: string): DescriptorProto {
  const [head, ...rest] = name.split(".");
  let found = f.messageType.find((m) => m.name === head);
  for (const part of rest) found = found?.nestedType.find((m) => m.name === part);
  if (!found) throw new Error(`mutation target message ${name} is not in ${f.name}`);
  return found;
}

function field(m: DescriptorProto, name: string): FieldDescriptorProto {
  const found = m.field.find((x) => x.name === name);
  if (!found) throw new Error(`mutation target field ${m.name}.${name} does not exist`);
  return found;
}

/** Returns a serialized copy of `bytes` (a FileDescriptorSet) with the mutations above applied. */
export function mutateDescriptorSet(bytes: Uint8Array): Uint8Array {
  const set = fromBinary(FileDescriptorSetSchema, bytes);
  const submit = file(set.file, "armada/submit.proto");
  const event = file(set.file, "armada/event.proto");
  const core = file(set.file, "k8s.io/api/core/v1/generated.proto");

  const item = message(submit, "JobSubmitRequestItem");
  field(item, "external_job_uri").number = 14;
  field(message(submit, "JobSubmitRequest"), "queue").type = FieldDescriptorProto_Type.BYTES;
  field(item, "pod_spec").typeName = ".k8s.io.api.core.v1.Container";
  message(submit, "JobSubmitRequestItem.LabelsEntry").options!.mapEntry = false;
  const cancelled = submit.enumType
    .find((e) => e.name === "JobState")
    ?.value.find((v) => v.name === "CANCELLED");
  if (!cancelled) throw new Error("mutation target api.JobState.CANCELLED does not exist");
  cancelled.number = 42;
  submit.messageType.push(create(DescriptorProtoSchema, { name: "NotUpstream" }));

  field(message(event, "JobSetRequest"), "from_message_id").jsonName = "fromMsgId";
  const eventMessage = message(event, "EventMessage");
  clearField(field(eventMessage, "submitted"), FieldDescriptorProtoSchema.field.oneofIndex);
  eventMessage.field = eventMessage.field.filter((f) => f.name !== "preempting");
  event.messageType = event.messageType.filter((m) => m.name !== "JobPreemptingEvent");
  const getEvents = event.service
    .find((s) => s.name === "Event")
    ?.method.find((m) => m.name === "GetJobSetEvents");
  if (!getEvents) throw new Error("mutation target api.Event.GetJobSetEvents does not exist");
  getEvents.serverStreaming = false;

  field(message(core, "SecurityContext"), "runAsUser").label = FieldDescriptorProto_Label.REQUIRED;
  const groups = field(message(core, "PodSecurityContext"), "supplementalGroups");
  groups.options ??= create(FieldOptionsSchema);
  groups.options.packed = true;

  return toBinary(FileDescriptorSetSchema, set);
}
