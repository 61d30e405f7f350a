# Compares our descriptors (FileDescriptorSets built by buf from proto/) with
# the descriptors compiled into the official Python client armada-client.
#
# stdin:  JSON {"sets": {"<label>": "<base64 FileDescriptorSet>", ...},
#               "closureServices": ["api.Submit", ...]}
# stdout: JSON {"<label>": {"files": {file: {"compared": n, "diffs": [...]}},
#                           "services": {full_name: {"methods": n, "diffs": [...]}},
#                           "closure": {service: {"reached": n, "missing": [...]}}}}
#
# Both sides are loaded into descriptor pools and walked through the runtime
# descriptor API, so derived facts (json_name, presence, packedness, map
# entries) are computed by the same protobuf runtime for both; the label comes
# from each descriptor's proto form because protobuf 7 no longer exposes it on
# the runtime descriptor.
import base64
import json
import sys

from google.protobuf import descriptor_pb2, descriptor_pool

# Importing the modules registers the official descriptors in the default pool.
import armada_client.armada.event_pb2  # noqa: F401
import armada_client.armada.health_pb2  # noqa: F401
import armada_client.armada.job_pb2  # noqa: F401
import armada_client.armada.submit_pb2  # noqa: F401
import armada_client.k8s.io.api.core.v1.generated_pb2  # noqa: F401
import armada_client.k8s.io.api.networking.v1.generated_pb2  # noqa: F401

UPSTREAM = descriptor_pool.Default()

TYPE_NAMES = {
    descriptor_pb2.FieldDescriptorProto.Type.Value(n): n
    for n in descriptor_pb2.FieldDescriptorProto.Type.keys()
}
LABEL_NAMES = {
    descriptor_pb2.FieldDescriptorProto.Label.Value(n): n[len("LABEL_"):].lower()
    for n in descriptor_pb2.FieldDescriptorProto.Label.keys()
}


def find(pool, kind, name):
    try:
        return getattr(pool, "Find%sByName" % kind)(name)
    except KeyError:
        return None


def labels_of(message):
    """Field name -> proto label ("optional", "required", "repeated")."""
    proto = descriptor_pb2.DescriptorProto()
    message.CopyToProto(proto)
    return {f.name: LABEL_NAMES[f.label] for f in proto.field}


def type_ref(field):
    if field.message_type is not None:
        return field.message_type.full_name
    if field.enum_type is not None:
        return field.enum_type.full_name
    return None


def is_map(field):
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def field_facts(field, labels):
    facts = {
        "number": field.number,
        "type": TYPE_NAMES.get(field.type, str(field.type)),
        "type name": type_ref(field),
        "label": labels[field.name],
        "presence": field.has_presence,
        "packed": field.is_packed,
        "json_name": field.json_name,
        "oneof": field.containing_oneof.name if field.containing_oneof is not None else None,
        "default": repr(field.default_value) if field.has_default_value else None,
    }
    if is_map(field):
        entry = field.message_type
        key, value = entry.fields_by_name["key"], entry.fields_by_name["value"]
        facts["map"] = "map<%s, %s>" % (
            type_ref(key) or TYPE_NAMES[key.type],
            type_ref(value) or TYPE_NAMES[value.type],
        )
    else:
        facts["map"] = "not a map"
    return facts


def show(value):
    return json.dumps(value) if not isinstance(value, str) else value


def compare_message(ours, up, diffs):
    name = ours.full_name
    our_labels, up_labels = labels_of(ours), labels_of(up)
    if ours.GetOptions().map_entry != up.GetOptions().map_entry:
        diffs.append("%s: map entry %s (ours) != %s (upstream)" % (
            name, ours.GetOptions().map_entry, up.GetOptions().map_entry))
    for field in ours.fields:
        other = up.fields_by_name.get(field.name)
        if other is None:
            by_number = up.fields_by_number.get(field.number)
            hint = " (upstream has number %d as %s)" % (field.number, by_number.name) if by_number else ""
            diffs.append("%s.%s: field (number %d) is not defined upstream%s" % (
                name, field.name, field.number, hint))
            continue
        a, b = field_facts(field, our_labels), field_facts(other, up_labels)
        for key in a:
            if a[key] != b[key]:
                diffs.append("%s.%s: %s %s (ours) != %s (upstream)" % (
                    name, field.name, key, show(a[key]), show(b[key])))
    for other in up.fields:
        if other.name not in ours.fields_by_name:
            diffs.append("%s.%s: upstream field (number %d) is missing in ours" % (
                name, other.name, other.number))
    our_oneofs = {o.name: sorted(f.name for f in o.fields) for o in ours.oneofs}
    up_oneofs = {o.name: sorted(f.name for f in o.fields) for o in up.oneofs}
    for oneof in sorted(set(our_oneofs) | set(up_oneofs)):
        if oneof not in up_oneofs:
            diffs.append("%s: oneof %s is not defined upstream" % (name, oneof))
        elif oneof not in our_oneofs:
            diffs.append("%s: upstream oneof %s is missing in ours" % (name, oneof))
        elif our_oneofs[oneof] != up_oneofs[oneof]:
            diffs.append("%s: oneof %s members %s (ours) != %s (upstream)" % (
                name, oneof, our_oneofs[oneof], up_oneofs[oneof]))
    # Nested messages and enums are compared by the walker; here we only note
    # upstream ones we lack (map entries are reported through their field).
    our_nested = {n.name for n in ours.nested_types} | {e.name for e in ours.enum_types}
    for nested in list(up.nested_types) + list(up.enum_types):
        is_entry = hasattr(nested, "GetOptions") and getattr(nested.GetOptions(), "map_entry", False)
        if nested.name not in our_nested and not is_entry:
            diffs.append("%s: upstream nested type %s is missing in ours" % (name, nested.full_name))


def compare_enum(ours, up, diffs):
    name = ours.full_name
    if ours.is_closed != up.is_closed:
        diffs.append("%s: closed %s (ours) != %s (upstream)" % (name, ours.is_closed, up.is_closed))
    for value in ours.values:
        other = up.values_by_name.get(value.name)
        if other is None:
            diffs.append("%s.%s: enum value (number %d) is not defined upstream" % (name, value.name, value.number))
        elif other.number != value.number:
            diffs.append("%s.%s: number %d (ours) != %d (upstream)" % (name, value.name, value.number, other.number))
    for other in up.values:
        if other.name not in ours.values_by_name:
            diffs.append("%s.%s: upstream enum value (number %d) is missing in ours" % (name, other.name, other.number))


def compare_service(ours, up, diffs):
    name = ours.full_name
    up_methods = {m.name: m for m in up.methods}
    for method in ours.methods:
        other = up_methods.get(method.name)
        if other is None:
            diffs.append("%s.%s: method is not defined upstream" % (name, method.name))
            continue
        for key, a, b in (
            ("input", method.input_type.full_name, other.input_type.full_name),
            ("output", method.output_type.full_name, other.output_type.full_name),
            ("client streaming", method.client_streaming, other.client_streaming),
            ("server streaming", method.server_streaming, other.server_streaming),
        ):
            if a != b:
                diffs.append("%s.%s: %s %s (ours) != %s (upstream)" % (name, method.name, key, a, b))
    our_names = {m.name for m in ours.methods}
    for other in up.methods:
        if other.name not in our_names:
            diffs.append("%s.%s: upstream method is missing in ours" % (name, other.name))


def walk_messages(message):
    yield message
    for nested in message.nested_types:
        yield from walk_messages(nested)


def compare_set(encoded, closure_services):
    fds = descriptor_pb2.FileDescriptorSet.FromString(base64.b64decode(encoded))
    ours = descriptor_pool.DescriptorPool()
    for proto in fds.file:
        ours.AddSerializedFile(proto.SerializeToString())
    result = {"files": {}, "services": {}, "closure": {}}
    for proto in fds.file:
        # Well-known types come from buf's own copy, not from proto/.
        if proto.name.startswith("google/protobuf/"):
            continue
        file = ours.FindFileByName(proto.name)
        diffs, compared = [], 0
        messages = [m for top in file.message_types_by_name.values() for m in walk_messages(top)]
        enums = list(file.enum_types_by_name.values()) + [e for m in messages for e in m.enum_types]
        for message in messages:
            compared += 1
            up = find(UPSTREAM, "MessageType", message.full_name)
            if up is None:
                diffs.append("%s: message is defined by us but not upstream" % message.full_name)
            else:
                compare_message(message, up, diffs)
        for enum in enums:
            compared += 1
            up = find(UPSTREAM, "EnumType", enum.full_name)
            if up is None:
                diffs.append("%s: enum is defined by us but not upstream" % enum.full_name)
            else:
                compare_enum(enum, up, diffs)
        result["files"][proto.name] = {"compared": compared, "diffs": diffs}
        for service in file.services_by_name.values():
            sdiffs = []
            up = find(UPSTREAM, "Service", service.full_name)
            if up is None:
                sdiffs.append("%s: service is defined by us but not upstream" % service.full_name)
            else:
                compare_service(service, up, sdiffs)
            result["services"][service.full_name] = {"methods": len(service.methods), "diffs": sdiffs}
    for service_name in closure_services:
        reached, missing = closure(service_name), []
        for full_name, kind in sorted(reached.items()):
            if find(ours, kind, full_name) is None:
                missing.append("%s %s" % (kind == "MessageType" and "message" or "enum", full_name))
        if find(ours, "Service", service_name) is None:
            missing.insert(0, "service %s" % service_name)
        result["closure"][service_name] = {"reached": len(reached), "missing": missing}
    return result


def closure(service_name):
    """Every message and enum reachable upstream from a service's methods."""
    service = UPSTREAM.FindServiceByName(service_name)
    seen = {}
    stack = [t for m in service.methods for t in (m.input_type, m.output_type)]
    while stack:
        message = stack.pop()
        if message.full_name in seen:
            continue
        seen[message.full_name] = "MessageType"
        for field in message.fields:
            if field.message_type is not None:
                stack.append(field.message_type)
            elif field.enum_type is not None:
                seen[field.enum_type.full_name] = "EnumType"
    return seen


def main():
    request = json.load(sys.stdin)
    out = {label: compare_set(encoded, request["closureServices"]) for label, encoded in request["sets"].items()}
    json.dump(out, sys.stdout)


main()
