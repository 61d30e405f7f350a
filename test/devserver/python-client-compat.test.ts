import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startDevServer, type DevServer } from "armada-airflow/testing";
import { killProcesses } from "../support/child-processes.js";
import { runPython } from "../support/python.js";

// Drives the dev server with the official Python client (armada-client from PyPI), to prove
// that what a real Armada user's code sends and expects works against it unchanged.
const SCRIPT = String.raw`
import json, os, sys, time
import grpc
from armada_client.client import ArmadaClient
from armada_client.armada import submit_pb2
from armada_client.k8s.io.api.core.v1 import generated_pb2 as core_v1
from armada_client.k8s.io.apimachinery.pkg.api.resource import generated_pb2 as api_resource
from armada_client.typings import JobState

client = ArmadaClient(grpc.insecure_channel(os.environ["TARGET"]))
out = {}

def pod(script, name="main"):
    q = lambda v: api_resource.Quantity(string=v)
    return core_v1.PodSpec(restartPolicy="Never", containers=[core_v1.Container(
        name=name, image="busybox:latest", command=["sh", "-c", script],
        resources=core_v1.ResourceRequirements(requests={"cpu": q("100m"), "memory": q("64Mi")},
                                               limits={"cpu": q("100m"), "memory": q("64Mi")}))])

def item(script, **kw):
    return client.create_job_request_item(priority=1, namespace="default", pod_spec=pod(script), **kw)

def wait_state(job_id, wanted, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = submit_pb2.JobState.Name(client.get_job_status([job_id]).job_states[job_id])
        if st == wanted:
            return st
        time.sleep(0.05)
    raise SystemExit(f"{job_id} never reached {wanted}, last {st}")

out["health"] = client.submit_health().status
client.create_queue(client.create_queue_request("py-queue", priority_factor=2.0))
out["queues"] = sorted(q.name for q in client.get_queues())
out["queue_priority_factor"] = client.get_queue("py-queue").priority_factor
try:
    client.create_queue(client.create_queue_request("py-queue", priority_factor=1.0))
    out["duplicate_queue"] = "accepted"
except grpc.RpcError as e:
    out["duplicate_queue"] = e.code().name

resp = client.submit_jobs("py-queue", "py-set", [item("echo hi && sleep 0.3")])
job_id = resp.job_response_items[0].job_id
out["submit_error"] = resp.job_response_items[0].error
wait_state(job_id, "SUCCEEDED")

kinds = []
stream = client.get_job_events_stream("py-queue", "py-set")
for message in stream:
    event = client.unmarshal_event_response(message)
    kinds.append(message.message.WhichOneof("events"))
    if event.message.job_id == job_id and kinds[-1] == "succeeded":
        break
client.unwatch_events(stream)
out["events"] = kinds

details = client.get_job_details([job_id]).job_details[job_id]
out["details"] = {"queue": details.queue, "jobset": details.jobset, "state": submit_pb2.JobState.Name(details.state),
                  "has_latest_run": bool(details.latest_run_id), "submitted": details.submitted_ts.seconds > 0}
runs = client.get_job_run_details([details.latest_run_id]).job_run_details
out["run_cluster"] = runs[details.latest_run_id].cluster

try:
    client.submit_jobs("py-queue", "py-set", [client.create_job_request_item(priority=1, namespace="default",
                       pod_spec=core_v1.PodSpec(containers=[]))])
    out["no_containers"] = "accepted"
except grpc.RpcError as e:
    out["no_containers"] = [e.code().name, e.details()]
huge = pod("true")
for r in (huge.containers[0].resources.requests, huge.containers[0].resources.limits):
    r["cpu"].string = "512"
bad = client.submit_jobs("py-queue", "py-set", [client.create_job_request_item(priority=1, namespace="default",
                          pod_spec=huge)]).job_response_items[0].job_id
wait_state(bad, "REJECTED")
out["rejected_error"] = client.get_job_errors([bad]).job_errors[bad]

try:
    client.submit_jobs("no-such-queue", "py-set", [item("true")])
    out["missing_queue"] = "accepted"
except grpc.RpcError as e:
    out["missing_queue"] = [e.code().name, e.details()]

oom_id = client.submit_jobs("py-queue", "py-oom", [client.create_job_request_item(
    priority=1, namespace="default", pod_spec=pod("sleep 0.1"),
    annotations={"armada-airflow.dev/oom": "true"})]).job_response_items[0].job_id
wait_state(oom_id, "FAILED")
stream = client.get_job_events_stream("py-queue", "py-oom")
for message in stream:
    if message.message.WhichOneof("events") == "failed":
        f = message.message.failed
        out["oom"] = {"category": f.failure_category, "exit_codes": dict(f.exit_codes),
                      "container_reason": f.container_statuses[0].reason, "error": client.get_job_errors([oom_id]).job_errors[oom_id]}
        break
client.unwatch_events(stream)

nowhere = client.submit_jobs("py-queue", "py-ns", [client.create_job_request_item(
    priority=1, namespace="nowhere", pod_spec=pod("true"))]).job_response_items[0].job_id
wait_state(nowhere, "FAILED")
out["namespace_error"] = client.get_job_errors([nowhere]).job_errors[nowhere]

long_id = client.submit_jobs("py-queue", "py-cancel", [item("sleep 600")]).job_response_items[0].job_id
out["cancelled_ids"] = list(client.cancel_jobs("py-queue", "py-cancel", long_id).cancelled_ids) == [long_id]
out["cancelled_state"] = wait_state(long_id, "CANCELLED")

set_ids = [i.job_id for i in client.submit_jobs("py-queue", "py-set-cancel", [item("sleep 600"), item("sleep 600")]).job_response_items]
client.cancel_jobset("py-queue", "py-set-cancel", [JobState.QUEUED, JobState.PENDING, JobState.RUNNING])
out["jobset_cancelled"] = [wait_state(i, "CANCELLED") for i in set_ids]

client.delete_queue("py-queue")
out["queues_after_delete"] = sorted(q.name for q in client.get_queues())
print(json.dumps(out))
`;

describe("compatibility with the official Python client (armada-client)", () => {
  let server: DevServer;
  beforeAll(async () => {
    // Real clock, short steps: the Python client polls with real sleeps.
    server = await startDevServer({
      queues: ["default"],
      timing: { scheduleDelayMs: 10, pendingDelayMs: 10, startDelayMs: 10 },
    });
  });
  afterEach(() => killProcesses());
  afterAll(async () => {
    await server.stop();
  });

  it("create queue, submit, status, details, run details, errors, missing-queue refusal, OOM with its failure category, missing namespace, events stream, cancel, job-set cancel, queue listing", async () => {
    const out = JSON.parse(await runPython(SCRIPT, "", { TARGET: server.grpcTarget })) as Record<
      string,
      unknown
    >;
    expect(out).toEqual({
      health: 1,
      queues: ["default", "py-queue"],
      queue_priority_factor: 2,
      duplicate_queue: "ALREADY_EXISTS",
      submit_error: "",
      events: ["submitted", "queued", "leased", "pending", "running", "succeeded"],
      details: {
        queue: "py-queue",
        jobset: "py-set",
        state: "SUCCEEDED",
        has_latest_run: true,
        submitted: true,
      },
      run_cluster: expect.stringMatching(/^cluster-[12]$/),
      no_containers: ["INVALID_ARGUMENT", "pod spec has no containers"],
      rejected_error: expect.stringMatching(/^job does not fit on any node: it requests cpu 512000m/),
      missing_queue: ["PERMISSION_DENIED", 'could not find queue "no-such-queue"'],
      oom: {
        category: "oom",
        exit_codes: { main: 137 },
        container_reason: "OOMKilled",
        error: "container main was OOMKilled (exit code 137): its memory use went over limits.memory 64Mi",
      },
      namespace_error: expect.stringMatching(
        /^failed to create pod armada-[0-9a-z]+-0: namespaces "nowhere" not found/,
      ),
      cancelled_ids: true,
      cancelled_state: "CANCELLED",
      jobset_cancelled: ["CANCELLED", "CANCELLED"],
      queues_after_delete: ["default"],
    });
  });
});
