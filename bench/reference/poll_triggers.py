"""The reference's way of tracking deferred Armada tasks, for bench/reference-python.ts.

Runs the Python `armada-airflow` package's own code, unchanged, for N deferred
ArmadaOperator tasks whose jobs the benchmark has already submitted:

- each task starts where ArmadaOperator.execute goes on after its submit: the
  job context is pushed to XCom (hook.context_to_xcom) and
  `_poll_for_termination` runs, which checks the job once (hook.refresh_context)
  and defers with an ArmadaPollJobTrigger due `poll_interval` seconds later;
- every trigger is rebuilt from its serialized form, as the triggerer loads it
  from the database, and run as Airflow 3's TriggerRunner.run_trigger runs
  triggers: all of them concurrently in one asyncio loop, each behind a
  greenback portal, iterating `trigger.run()` until its event;
- on the event the task resumes through BaseOperator.resume_execution (the task
  runner's entry point for a resumed task) with the event's payload, which
  polls the job again and either defers again or returns the task's result.

What Airflow would do around this and is not here: the scheduler, the API
server and the database (XCom lives in a dict on a stand-in task instance, the
only part of Airflow stubbed), the worker processes a resumed task runs in
(here a pool of `[core] parallelism` = 32 threads of this process) and the
trigger's cleanup (it asks the API server for the task's state and makes no
Armada call while the task is deferred). So every figure is a lower bound for
the reference's real cost.

Protocol: the benchmark reads lines from fd 3 ("ready" once imports are done,
then "tracking" once every task is waiting) and writes one JSON line on stdin
with the jobs; at the end this writes its result as JSON to $BENCH_RESULT_FILE.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version

import greenback
from airflow.sdk.exceptions import TaskDeferred
from airflow._shared.module_loading import import_string
from armada.model import GrpcChannelArgs, RunningJobContext
from armada.operators.armada import ArmadaOperator
from pendulum import DateTime

signals = os.fdopen(3, "w", buffering=1)


class Dag:
    """What the operator reads of `context["dag"]`."""

    def __init__(self, dag_id: str) -> None:
        self.dag_id = dag_id
        self.default_args: dict = {}


class TaskInstance:
    """A task instance with its XComs in memory: the only part of Airflow stood in for."""

    def __init__(self, op: ArmadaOperator, dag_id: str, run_id: str, map_index: int) -> None:
        self.task = op
        self.task_id = op.task_id
        self.dag_id = dag_id
        self.run_id = run_id
        self.map_index = map_index
        self.try_number = 1
        self.max_tries = op.retries
        self.xcoms: dict = {}

    def xcom_push(self, key: str, value) -> None:
        self.xcoms[key] = value

    def xcom_pull(self, key: str, task_ids=None, map_indexes=None):
        return self.xcoms.get(key)


async def run_trigger(trigger) -> object:
    """As TriggerRunner.run_trigger: a greenback portal, then the trigger's events."""
    await greenback.ensure_portal()
    fired = None
    async for event in trigger.run():
        fired = event
    return fired


async def track(spec: dict, job: dict, pool: ThreadPoolExecutor, result: dict) -> None:
    loop = asyncio.get_running_loop()
    op = ArmadaOperator(
        task_id=spec["taskId"],
        name=f"job-{job['mapIndex']}",
        channel_args=GrpcChannelArgs(target=os.environ["ARMADA_TARGET"]),
        armada_queue=spec["queue"],
        job_request={},
        deferrable=True,
        poll_interval=int(os.environ["BENCH_POLL_S"]),
    )
    ti = TaskInstance(op, spec["dagId"], spec["runId"], job["mapIndex"])
    context = {"ti": ti, "run_id": spec["runId"], "dag": Dag(spec["dagId"])}

    def after_submit():
        # ArmadaOperator.execute after hook.submit_job: the context to XCom, then the poll loop.
        ctx = RunningJobContext(spec["queue"], job["jobId"], spec["jobSetId"], DateTime.utcnow())
        op.hook.context_to_xcom(ti, ctx)
        return op._poll_for_termination(context, ctx)

    step = after_submit
    while True:
        try:
            outcome = await loop.run_in_executor(pool, step)
            result["detected"][job["jobId"]] = time.time()
            result["states"][outcome["job_state"]] = result["states"].get(outcome["job_state"], 0) + 1
            return
        except TaskDeferred as deferred:
            # Stored and loaded as the triggerer does: by class path and keyword arguments.
            classpath, kwargs = deferred.trigger.serialize()
            trigger = import_string(classpath)(**kwargs)
            trigger.task_instance = ti
            result["waiting"] += 1
            if result["waiting"] == result["tasks"]:
                signals.write("tracking\n")
            event = await run_trigger(trigger)
            result["firings"] += 1
            method, payload = deferred.method_name, event.payload

            def step(method=method, payload=payload):
                return op.resume_execution(method, {"event": payload}, context)


async def main() -> None:
    signals.write("ready\n")
    spec = json.loads(sys.stdin.readline())
    result = {
        "tasks": len(spec["jobs"]),
        "waiting": 0,
        "firings": 0,
        "detected": {},
        "states": {},
        "errors": [],
        "python": sys.version.split()[0],
        "airflow": version("apache-airflow"),
        "armadaAirflow": version("armada-airflow"),
        "armadaClient": version("armada-client"),
    }
    # Resumed tasks run on workers, `[core] parallelism` (32) at a time by default: threads here.
    pool = ThreadPoolExecutor(max_workers=32)
    outcomes = await asyncio.gather(
        *(track(spec, job, pool, result) for job in spec["jobs"]), return_exceptions=True
    )
    for o in outcomes:
        if isinstance(o, BaseException):
            result["errors"].append("".join(traceback.format_exception(o))[-2000:])
    pool.shutdown()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpuS"] = usage.ru_utime + usage.ru_stime
    result["maxRssMiB"] = usage.ru_maxrss / 1024
    result.pop("waiting")
    with open(os.environ["BENCH_RESULT_FILE"], "w") as f:
        json.dump(result, f)


asyncio.run(main())
