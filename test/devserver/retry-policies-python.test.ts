/**
 * The retry engine driven by the official Python client (armada-client from
 * PyPI): its own `RetryPolicyService` stub and messages, a queue naming a
 * policy, and the event stream a real Armada user reads for a retried job.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { startDevServer, type DevServer } from "armada-airflow/testing";
import { runPython } from "../support/python.js";

const SCRIPT = String.raw`
import json, os, time
import grpc
from armada_client.client import ArmadaClient
from armada_client.armada import submit_pb2, submit_pb2_grpc
from armada_client.k8s.io.api.core.v1 import generated_pb2 as core_v1
from armada_client.k8s.io.apimachinery.pkg.api.resource import generated_pb2 as api_resource

channel = grpc.insecure_channel(os.environ["TARGET"])
client = ArmadaClient(channel)
policies = submit_pb2_grpc.RetryPolicyServiceStub(channel)
out = {}

policy = submit_pb2.RetryPolicy(
    name="oom-bump", retry_limit=1, default_action=submit_pb2.RETRY_ACTION_FAIL,
    rules=[submit_pb2.RetryRule(action=submit_pb2.RETRY_ACTION_RETRY, on_category="oom",
                                mutate=submit_pb2.RetryMutation(resources=submit_pb2.RetryResourceMutation(
                                    memory=submit_pb2.RetryResourceBump(factor=2.0))))])
policies.CreateRetryPolicy(policy)
got = policies.GetRetryPolicy(submit_pb2.RetryPolicyGetRequest(name="oom-bump"))
out["got"] = [got.name, got.retry_limit, submit_pb2.RetryAction.Name(got.default_action),
              got.rules[0].on_category, got.rules[0].mutate.resources.memory.factor]
out["listed"] = [p.name for p in policies.GetRetryPolicies(submit_pb2.RetryPolicyListRequest()).retry_policies]
try:
    policies.CreateRetryPolicy(policy)
except grpc.RpcError as e:
    out["duplicate"] = e.code().name
try:
    policies.CreateRetryPolicy(submit_pb2.RetryPolicy(name="no-default"))
except grpc.RpcError as e:
    out["invalid"] = [e.code().name, e.details()]

client.create_queue(submit_pb2.Queue(name="py-retry", priority_factor=1.0, retry_policies=["oom-bump"]))
out["queue_policies"] = list(client.get_queue("py-retry").retry_policies)

q = lambda v: api_resource.Quantity(string=v)
pod = core_v1.PodSpec(restartPolicy="Never", containers=[core_v1.Container(
    name="main", image="busybox:latest", command=["sh", "-c", "dd if=/dev/zero of=/dev/shm/fill bs=1M count=100"],
    resources=core_v1.ResourceRequirements(requests={"cpu": q("100m"), "memory": q("64Mi")},
                                           limits={"cpu": q("100m"), "memory": q("64Mi")}))])
job_id = client.submit_jobs("py-retry", "py-set", [
    client.create_job_request_item(priority=1, namespace="default", pod_spec=pod)]).job_response_items[0].job_id

seen = []
stream = client.get_job_events_stream("py-retry", "py-set")
for message in stream:
    kind = message.message.WhichOneof("events")
    ev = getattr(message.message, kind)
    if kind == "failed":
        seen.append([kind, ev.retryable, ev.failure_category])
    else:
        seen.append([kind])
    if kind in ("succeeded", "cancelled") or (kind == "failed" and not ev.retryable):
        break
client.unwatch_events(stream)
out["events"] = seen
details = client.get_job_details([job_id]).job_details[job_id]
out["runs"] = len(details.job_runs)
out["state"] = submit_pb2.JobState.Name(details.state)

try:
    policies.DeleteRetryPolicy(submit_pb2.RetryPolicyDeleteRequest(name="oom-bump"))
except grpc.RpcError as e:
    out["delete_in_use"] = e.code().name
print(json.dumps(out))
`;

let server: DevServer;
beforeAll(async () => {
  server = await startDevServer({ queues: [] });
});
afterAll(async () => {
  await server?.stop();
});

it("the official Python client manages retry policies and sees a job retried after an OOM", async () => {
  const out = JSON.parse(await runPython(SCRIPT, "", { TARGET: server.grpcTarget })) as Record<string, unknown>;
  expect(out.got).toEqual(["oom-bump", 1, "RETRY_ACTION_FAIL", "oom", 2]);
  expect(out.listed).toEqual(["oom-bump"]);
  expect(out.duplicate).toBe("ALREADY_EXISTS");
  expect(out.invalid).toEqual(["INVALID_ARGUMENT", expect.stringContaining("default_action")]);
  expect(out.queue_policies).toEqual(["oom-bump"]);
  expect(out.events).toEqual([
    ["submitted"],
    ["queued"],
    ["leased"],
    ["pending"],
    ["running"],
    ["failed", true, "oom"],
    ["leased"],
    ["pending"],
    ["running"],
    ["succeeded"],
  ]);
  expect(out.runs).toBe(2);
  expect(out.state).toBe("SUCCEEDED");
  expect(out.delete_in_use).toBe("FAILED_PRECONDITION");
}, 60_000);
