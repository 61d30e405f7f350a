# The official Python client's half of the cross-encoding test.
#
# stdin:  JSON {"vectors": [{"name", "type" (full message name), "json" (proto3 JSON),
#                            "tsBytes" (base64, our TypeScript encoding of "json"),
#                            "presence": [path, ...]}]}
#         ("presence" lists both fields that must be set and fields that must not be)
# stdout: JSON {"vectors": {name: {"pyBytes": base64, "pyJson": dict, "fromTsJson": dict,
#                                  "presence": {path: [set in official parse, set in parse of our bytes]}}},
#               "eventCases": [json names of the upstream EventMessage oneof cases]}
#
# "pyBytes" is the official encoding of the vector; "pyJson" is the official JSON view of the vector
# (the expected value both sides are compared with); "fromTsJson" is the
# official JSON view of our bytes. A presence path such as
# "job_request_items[0].pod_specs[0].securityContext.runAsUser" names a field by
# its proto name; its last segment is checked with HasField.
import base64
import json
import re
import sys

from google.protobuf import json_format, message_factory

import armada_client.armada.event_pb2  # noqa: F401
import armada_client.armada.job_pb2  # noqa: F401
import armada_client.armada.submit_pb2  # noqa: F401
from google.protobuf import descriptor_pool

POOL = descriptor_pool.Default()
SEGMENT = re.compile(r"^(\w+)(?:\[(\d+)\])?$")


def message_class(full_name):
    return message_factory.GetMessageClass(POOL.FindMessageTypeByName(full_name))


def has_path(message, path):
    parts = path.split(".")
    for part in parts[:-1]:
        match = SEGMENT.match(part)
        if match is None:
            raise ValueError("bad presence path segment %r in %r" % (part, path))
        name, index = match.group(1), match.group(2)
        if index is None:
            if not message.HasField(name):
                return False
            message = getattr(message, name)
        else:
            items = getattr(message, name)
            if int(index) >= len(items):
                return False
            message = items[int(index)]
    return message.HasField(parts[-1])


def to_json(message):
    # Proto3 JSON with json_name keys: the same form ts-proto's toJSON writes.
    return json_format.MessageToDict(message, preserving_proto_field_name=False)


def main():
    request = json.load(sys.stdin)
    out = {}
    for vector in request["vectors"]:
        cls = message_class(vector["type"])
        # Unknown keys are an error, so a typo in a vector cannot silently
        # shrink what is being compared.
        official = json_format.ParseDict(vector["json"], cls(), ignore_unknown_fields=False)
        from_ts = cls.FromString(base64.b64decode(vector["tsBytes"]))
        out[vector["name"]] = {
            "pyBytes": base64.b64encode(official.SerializeToString()).decode("ascii"),
            "pyJson": to_json(official),
            "fromTsJson": to_json(from_ts),
            "presence": {
                path: [has_path(official, path), has_path(from_ts, path)] for path in vector.get("presence", [])
            },
        }
    events = POOL.FindMessageTypeByName("api.EventMessage").oneofs_by_name["events"]
    json.dump({"vectors": out, "eventCases": [f.json_name for f in events.fields]}, sys.stdout)


main()
