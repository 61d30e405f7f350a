import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import { GrpcChannelArgs } from "../../src/client/channel-args.js";
import { ArmadaOperator, type ArmadaOperatorOptions } from "../../src/operator/armada-operator.js";
import {
  ArmadaOperatorInputError,
  ArmadaOperatorJobFailedError,
  ArmadaOperatorJobFailedFatalError,
} from "../../src/operator/errors.js";
import { JobState } from "../../src/client/job-states.js";
import { ArmadaPollJobTrigger } from "../../src/operator/poll-job-trigger.js";
import { RunningJobContext } from "../../src/operator/running-job-context.js";
import { runWithContext, type Context } from "../../src/runtime/context.js";
import { resolveRuntimeConfig, withRuntimeConfig } from "../../src/runtime/runtime-config.js";
import { isTaskDeferred, isTaskFatalError, TaskDeferred, TemplateRenderError } from "../../src/runtime/errors.js";
import { FakeHook, FakeTaskInstance, makeContext, withTimeFlowing } from "./support.js";

const LOOKOUT = "http://lookout.armadaproject.io/jobs?job_id=<job_id>";
const channelArgs = new GrpcChannelArgs({ target: "127.0.0.1:50051" });
const jobRequest = {
  namespace: "namespace-1",
  podSpec: { containers: [{ name: "alpine", image: "alpine:3.20", args: ["echo", "{{ run_id }}"] }] },
};

interface Setup {
  op: ArmadaOperator;
  hook: FakeHook;
  ti: FakeTaskInstance;
  clock: ManualClock;
  context: Context;
  run<T>(fn: () => Promise<T>): Promise<T>;
  execute(): Promise<unknown>;
}

function setup(
  states: JobState[],
  options: Partial<ArmadaOperatorOptions> = {},
  tiOptions: { tryNumber?: number; maxTries?: number } = {},
  Operator: typeof ArmadaOperator = ArmadaOperator,
): Setup {
  const hook = new FakeHook(states);
  const op = new Operator({
    taskId: "test_task",
    name: "test",
    channelArgs,
    armadaQueue: "test_queue_1",
    jobRequest,
    jobSetPrefix: "prefix-",
    lookoutUrlTemplate: LOOKOUT,
    jobAcknowledgementTimeout: 30,
    pollInterval: 5,
    hookFactory: () => hook,
    ...options,
  });
  const ti = new FakeTaskInstance(op, tiOptions);
  const clock = new ManualClock();
  const context = makeContext(op, ti, clock);
  const run = <T>(fn: () => Promise<T>) => withTimeFlowing(clock, () => runWithContext(context, fn));
  const execute = () =>
    run(async () => {
      await op.renderTemplateFields(context);
      return op.execute(context);
    });
  return { op, hook, ti, clock, context, run, execute };
}

afterEach(() => {
  delete process.env.ANNOTATION_KEY_PREFIX;
});

describe("ArmadaOperator execute (upstream cases 1-10)", () => {
  for (const states of [
    [JobState.RUNNING, JobState.SUCCEEDED],
    [JobState.QUEUED, JobState.LEASED, JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED],
  ]) {
    it(`succeeds through ${states.map((s) => JobState[s]).join(" -> ")}: one submit, one check per state, no logs (case 1)`, async () => {
      const s = setup(states);
      const result = await s.execute();
      expect(s.hook.submits).toHaveLength(1);
      expect(s.hook.submits[0]!.queue).toBe("test_queue_1");
      expect(s.hook.submits[0]!.jobSetId).toBe("prefix-test_run_1");
      expect(s.hook.submits[0]!.item.podSpec?.containers[0]?.args).toEqual(["echo", "test_run_1"]);
      expect(s.hook.statusChecks).toHaveLength(states.length);
      expect(s.hook.infoCalls).toHaveLength(0);
      expect(result).toEqual({
        armada_queue: "test_queue_1",
        job_id: "test_job",
        job_set_id: "prefix-test_run_1",
        job_state: "SUCCEEDED",
        links: { lookout: "http://lookout.armadaproject.io/jobs?job_id=test_job" },
      });
      expect(s.ti.pushed("armada_lookout_url")).toEqual(["http://lookout.armadaproject.io/jobs?job_id=test_job"]);
      expect(s.ti.log.has(/Submitted job to Armada with job-id test_job\. Job details available at http:\/\/lookout/)).toBe(true);
    });
  }

  it("defers with the execution timeout, a trigger at now + pollInterval and _trigger_reentry (case 2)", async () => {
    // Polling, as the reference's trigger does (the default, event-stream tracking, is the next test).
    const s = setup([JobState.QUEUED], { deferrable: true, executionTimeout: 600, tracking: "poll" });
    const err = await s.execute().catch((e: unknown) => e);
    expect(isTaskDeferred(err)).toBe(true);
    const deferred = err as TaskDeferred;
    expect(deferred.methodName).toBe("_trigger_reentry");
    expect(deferred.timeout).toBe(600);
    const trigger = deferred.trigger as ArmadaPollJobTrigger;
    expect(trigger.moment.getTime()).toBe(s.clock.nowMs() + 5000);
    // It watches the job from there: the task resumes when its job ends (or moves back), not every poll;
    // the job's page is named in the lines the trigger logs for the steps in between.
    expect(trigger.watch).toEqual({
      jobId: "test_job",
      lastState: "QUEUED",
      pollIntervalS: 5,
      // No deadline of the operator's applies to a QUEUED job: the trigger fires for the job alone, and checks
      // in every max_quiet_s (300 s) without resuming the task.
      untilMs: 8.64e15,
      quietS: 300,
      detailsUrl: "http://lookout.armadaproject.io/jobs?job_id=test_job",
      // When the job succeeds the trigger ends the task with its result (end_from_trigger), made of these.
      queue: "test_queue_1",
      jobSetId: "prefix-test_run_1",
      endOnSuccess: { links: {}, pushResult: true },
    });
    expect(s.hook.statusChecks).toHaveLength(1);
    // channel args go to XCom for the trigger, serialized.
    expect(s.ti.pushed("channel_args")).toEqual([channelArgs.serialize()]);
  });

  it("by default, watches its job through its job set's event stream (tracking events)", async () => {
    const s = setup([JobState.QUEUED], { deferrable: true });
    const err = await s.execute().catch((e: unknown) => e);
    const trigger = (err as TaskDeferred).trigger as ArmadaPollJobTrigger;
    expect(trigger.watch).toMatchObject({
      jobId: "test_job",
      lastState: "QUEUED",
      tracking: "events",
      queue: "test_queue_1",
      jobSetId: expect.any(String),
    });
  });

  it("reads max_quiet_s at execute time from its context's runtime config, not process.env", async () => {
    expect(process.env.ARMADA_AIRFLOW__ARMADA_OPERATOR__MAX_QUIET_S).toBeUndefined();
    const s = setup([JobState.QUEUED], { deferrable: true });
    const context: Context = {
      ...s.context,
      runtimeConfig: resolveRuntimeConfig({ env: { ARMADA_AIRFLOW__ARMADA_OPERATOR__MAX_QUIET_S: "42" } }),
    };
    const err = await withTimeFlowing(s.clock, () =>
      runWithContext(context, async () => {
        await s.op.renderTemplateFields(context);
        return s.op.execute(context);
      }),
    ).catch((e: unknown) => e);
    expect(isTaskDeferred(err)).toBe(true);
    const trigger = (err as TaskDeferred).trigger as ArmadaPollJobTrigger;
    expect(trigger.watch?.quietS).toBe(42);
  });

  for (const end of [JobState.FAILED, JobState.PREEMPTED, JobState.CANCELLED]) {
    it(`raises a retryable error for RUNNING -> ${JobState[end]} (case 3)`, async () => {
      const s = setup([JobState.RUNNING, end]);
      const err = (await s.execute().catch((e: unknown) => e)) as ArmadaOperatorJobFailedError;
      expect(err).toBeInstanceOf(ArmadaOperatorJobFailedError);
      expect(err).not.toBeInstanceOf(ArmadaOperatorJobFailedFatalError);
      expect(isTaskFatalError(err)).toBe(false);
      const name = JobState[end];
      expect(err.message).toContain("test_job");
      expect(err.message).toContain(`'${name.charAt(0)}${name.slice(1).toLowerCase()}'`);
      expect(s.hook.statusChecks).toHaveLength(2);
    });
  }

  it("raises a fatal error for REJECTED, with the reason (case 4)", async () => {
    const s = setup([JobState.REJECTED]);
    s.hook.reason = "Invalid pod spec";
    const err = (await s.execute().catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(ArmadaOperatorJobFailedFatalError);
    expect(isTaskFatalError(err)).toBe(true);
    expect(err.message).toContain("Rejected");
    expect(err.message).toContain("Termination reason: Invalid pod spec");
  });

  it("raises a fatal error when the reattach policy accepts the failed state (case 5)", async () => {
    const s = setup([JobState.FAILED], { reattachPolicy: () => true });
    const err = await s.execute().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArmadaOperatorJobFailedFatalError);
  });

  it("onKill twice with XCom [context, none] cancels exactly once (case 6)", async () => {
    const s = setup([JobState.RUNNING]);
    const ctx = new RunningJobContext({
      armadaQueue: "test_queue_1",
      jobId: "test_job",
      jobSetId: "prefix-test_run_1",
      submitTime: s.clock.now(),
      jobState: "RUNNING",
    });
    s.ti.pullScript.set("job_context", [ctx.toXCom(), undefined]);
    await s.run(async () => {
      await s.op.onKill();
      await s.op.onKill();
    });
    expect(s.hook.cancels).toHaveLength(1);
    expect(s.hook.cancels[0]!.jobId).toBe("test_job");
    expect(s.ti.log.has(/on_kill called, cancelling Armada job with job-id test_job in queue test_queue_1/)).toBe(true);
  });

  it("cancels a job not acknowledged within the timeout and fails retryably with Cancelled (case 7)", async () => {
    const s = setup([JobState.UNKNOWN], { jobAcknowledgementTimeout: -1 });
    const err = (await s.execute().catch((e: unknown) => e)) as ArmadaOperatorJobFailedError;
    expect(err).toBeInstanceOf(ArmadaOperatorJobFailedError);
    expect(isTaskFatalError(err)).toBe(false);
    expect(err.message).toContain("Cancelled");
    expect(s.hook.cancels).toHaveLength(1);
    expect(s.hook.cancels[0]!.jobId).toBe("test_job");
    expect(s.ti.log.has(/not acknowledged within timeout \(-1\), terminating/)).toBe(true);
  });

  it("fetches logs once for the job's cluster, pod and container (case 8)", async () => {
    const fetches: unknown[] = [];
    const s = setup([JobState.SUCCEEDED], {
      containerLogs: "alpine",
      podLogManager: {
        fetchContainerLogs: async (req: Record<string, unknown>) => {
          fetches.push({ ...req, log: undefined });
          return undefined;
        },
      } as never,
    });
    await s.execute();
    expect(fetches).toEqual([
      {
        k8sContext: "cluster-1",
        namespace: "namespace-1",
        pod: "armada-test_job-0",
        container: "alpine",
        log: undefined,
      },
    ]);
  });

  it("pushes the job context after each status check (case 9)", async () => {
    const s = setup([JobState.RUNNING, JobState.SUCCEEDED]);
    await s.execute();
    const contexts = s.ti.pushed("job_context") as Record<string, unknown>[];
    // Once on submit, then once per status check.
    expect(contexts.map((c) => c.armada_job_state)).toEqual(["UNKNOWN", "RUNNING", "SUCCEEDED"]);
    expect(contexts.at(-1)).toMatchObject({
      armada_queue: "test_queue_1",
      armada_job_id: "test_job",
      armada_job_set_id: "prefix-test_run_1",
    });
  });

  for (const [label, policy] of [
    ["named", "running_or_succeeded"],
    ["function", () => true],
  ] as const) {
    it(`on a retry reattaches to the job found by URI when the ${label} policy accepts it (case 10)`, async () => {
      const s = setup([JobState.SUCCEEDED], { retries: 1, reattachPolicy: policy }, { tryNumber: 2, maxTries: 5 });
      s.hook.existing = { jobId: "test_job", state: JobState.RUNNING, submittedAt: new Date(0), namespace: "n" };
      const result = (await s.execute()) as { job_id: string; job_state: string };
      expect(s.hook.submits).toHaveLength(0);
      expect(s.hook.uriLookups).toEqual([["test_queue_1", "prefix-test_run_1", "airflow://test_dag/test_task/test_run_1/-1"]]);
      expect(result.job_id).toBe("test_job");
      expect(result.job_state).toBe("SUCCEEDED");
      expect(s.ti.log.has(/Attached to existing Armada job with job-id test_job\./)).toBe(true);
    });
  }

  for (const [label, policy] of [
    ["named", "never"],
    ["function", () => false],
  ] as const) {
    it(`on a retry submits anew when the ${label} policy declines (case 10)`, async () => {
      const s = setup([JobState.SUCCEEDED], { retries: 1, reattachPolicy: policy }, { tryNumber: 2, maxTries: 5 });
      s.hook.existing = { jobId: "old_job", state: JobState.RUNNING, submittedAt: new Date(0), namespace: "n" };
      await s.execute();
      expect(s.hook.submits).toHaveLength(1);
    });
  }

  it("never reattaches on the first try, even when a job exists", async () => {
    const s = setup([JobState.SUCCEEDED], { retries: 1, reattachPolicy: "always" }, { tryNumber: 1, maxTries: 1 });
    s.hook.existing = { jobId: "old_job", state: JobState.RUNNING, submittedAt: new Date(0), namespace: "n" };
    await s.execute();
    expect(s.hook.uriLookups).toHaveLength(0);
    expect(s.hook.submits).toHaveLength(1);
  });
});

describe("ArmadaOperator deferral and resume", () => {
  it("resumes from XCom job_context without re-rendering or re-submitting", async () => {
    const s = setup([JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED], { deferrable: true });
    let err = await s.execute().catch((e: unknown) => e);
    expect(isTaskDeferred(err)).toBe(true);
    // The runtime re-creates the operator copy and renders again on resume.
    const renders = s.ti.pushed("job_request").length;
    for (;;) {
      const copy = new ArmadaOperator({
        taskId: "test_task",
        name: "test",
        channelArgs,
        armadaQueue: "test_queue_1",
        jobRequest: () => {
          throw new Error("must not be called on resume");
        },
        jobSetPrefix: "prefix-",
        deferrable: true,
        pollInterval: 5,
        hookFactory: () => s.hook,
      });
      const ctx = { ...s.context, task: copy };
      err = await s
        .run(async () => {
          await copy.renderTemplateFields(ctx);
          return copy._trigger_reentry(ctx, { moment: s.clock.now().toISOString() });
        })
        .catch((e: unknown) => e);
      if (!isTaskDeferred(err)) break;
    }
    expect(err).toMatchObject({ job_id: "test_job", job_state: "SUCCEEDED" });
    expect(s.hook.submits).toHaveLength(1);
    expect(s.hook.statusChecks).toHaveLength(3);
    expect(s.ti.pushed("job_request")).toHaveLength(renders);
  });
});

describe("ArmadaOperator rendering and bad input", () => {
  it("renders every string, stores the JSON in XCom, annotates and sets external_job_uri", async () => {
    process.env.ANNOTATION_KEY_PREFIX = "example.com/";
    const s = setup([JobState.SUCCEEDED], {
      jobSetPrefix: "{{ dag.dag_id }}-",
      jobRequest: (context) => ({
        namespace: "ns-{{ ds_nodash }}",
        podSpec: { containers: [{ name: "main", image: "busybox", args: [`${context.ti.taskId}`, "{{ ti.try_number }}"] }] },
      }),
      extraLinks: { Docs: "http://docs/{{ run_id }}" },
    });
    const result = (await s.execute()) as { links: Record<string, string> };
    const [stored] = s.ti.pushed("job_request") as Record<string, unknown>[];
    expect(stored).toMatchObject({ namespace: "ns-20240101" });
    const item = s.hook.submits[0]!.item;
    expect(item.podSpec?.containers[0]?.args).toEqual(["test_task", "1"]);
    expect(s.hook.submits[0]!.jobSetId).toBe("test_dag-test_run_1");
    expect(item.externalJobUri).toBe("airflow://test_dag/test_task/test_run_1/-1");
    expect(item.annotations).toMatchObject({
      "example.com/taskId": "test_task",
      "example.com/taskRunId": "test_run_1",
      "example.com/dagId": "test_dag",
      "example.com/jobSet": "test_dag-test_run_1",
      "example.com/externalJobUri": "airflow://test_dag/test_task/test_run_1/-1",
    });
    expect(s.ti.pushed("armada_docs_url")).toEqual(["http://docs/test_run_1"]);
    expect(result.links.Docs).toBe("http://docs/test_run_1");
  });

  it("accepts Kubernetes-native quantities and templated numbers; stores the normalized JSON form", async () => {
    const s = setup([JobState.SUCCEEDED], {
      jobRequest: {
        priority: "{{ params.p }}",
        namespace: "default",
        podSpec: {
          containers: [
            {
              name: "main",
              image: "busybox",
              args: ["{{ params.port }}"],
              resources: { limits: { cpu: "{{ params.cpu }}", memory: "64Mi" } },
              ports: [{ containerPort: "{{ params.port }}" }],
            },
          ],
        },
      },
    });
    s.context.params = { p: 2, cpu: "250m", port: 8080 };
    await s.execute();
    const item = s.hook.submits[0]!.item;
    expect(item.priority).toBe(2);
    expect(item.podSpec?.containers[0]?.args).toEqual(["8080"]);
    expect(item.podSpec?.containers[0]?.ports[0]?.containerPort).toBe(8080);
    expect(item.podSpec?.containers[0]?.resources?.limits.cpu?.string).toBe("250m");
    const [stored] = s.ti.pushed("job_request") as Record<string, unknown>[];
    expect(stored).toEqual({
      priority: 2,
      namespace: "default",
      podSpec: {
        containers: [
          {
            name: "main",
            image: "busybox",
            args: ["8080"],
            resources: { limits: { cpu: "250m", memory: "64Mi" } },
            ports: [{ containerPort: 8080 }],
          },
        ],
      },
    });
  });

  it("names an unknown or ill-typed field of the job request; nothing is submitted", async () => {
    const s = setup([JobState.SUCCEEDED], {
      jobRequest: { podSpec: { containers: [{ name: "main", image: "b", resources: { limits: { cpu: "lots" } } }] } },
    });
    const err = (await s.execute().catch((e: unknown) => e)) as ArmadaOperatorInputError;
    expect(err).toBeInstanceOf(ArmadaOperatorInputError);
    expect(err.field).toBe("job_request.podSpec.containers[0].resources.limits.cpu");
    expect(err.message).toMatch(/expected a Kubernetes quantity/);
    expect(s.hook.submits).toHaveLength(0);
  });

  it("dry run renders and logs, submits nothing, returns {}", async () => {
    const s = setup([JobState.SUCCEEDED], { dryRun: true });
    expect(await s.execute()).toEqual({});
    expect(s.hook.submits).toHaveLength(0);
    expect(s.ti.log.has(/Running in dry_run mode\. job_set_id: prefix-test_run_1/)).toBe(true);
  });

  it("a template error names the field; nothing is submitted", async () => {
    const s = setup([JobState.SUCCEEDED], {
      jobRequest: { podSpec: { containers: [{ name: "main", image: "{{ params.image }}" }] } },
    });
    const err = await s.execute().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TemplateRenderError);
    expect((err as TemplateRenderError).fieldPath).toBe("job_request.podSpec.containers[0].image");
    expect(s.hook.submits).toHaveLength(0);
    expect(s.ti.pushed("job_request")).toHaveLength(0);
  });

  it("an invalid pod spec names the field; nothing is submitted", async () => {
    const s = setup([JobState.SUCCEEDED], { jobRequest: { podSpec: { containers: [{ name: "main" }] } } });
    const err = (await s.execute().catch((e: unknown) => e)) as ArmadaOperatorInputError;
    expect(err).toBeInstanceOf(ArmadaOperatorInputError);
    expect(err.field).toBe("job_request.podSpec.containers[0].image");
    expect(isTaskFatalError(err)).toBe(true);
    const none = setup([JobState.SUCCEEDED], { jobRequest: { namespace: "x" } });
    await expect(none.execute()).rejects.toThrow(/job_request.podSpec: a job needs a pod spec/);
    expect(s.hook.submits).toHaveLength(0);
    expect(none.hook.submits).toHaveLength(0);
  });

  it("an unknown container for logs names the field and the containers, in pod_spec and pod_specs", async () => {
    const s = setup([JobState.SUCCEEDED], {
      containerLogs: "nope",
      jobRequest: {
        podSpecs: [{ containers: [{ name: "a", image: "busybox" }] }, { containers: [{ name: "b", image: "busybox" }] }],
      },
    });
    await expect(s.execute()).rejects.toThrow(/containerLogs: no container named 'nope'.*available containers: a, b/);
    expect(s.hook.submits).toHaveLength(0);
    const ok = setup([JobState.SUCCEEDED], {
      containerLogs: "b",
      podLogManager: { fetchContainerLogs: async () => undefined } as never,
      jobRequest: { podSpecs: [{ containers: [{ name: "a", image: "x" }] }, { containers: [{ name: "b", image: "x" }] }] },
    });
    await ok.execute();
    expect(ok.hook.submits).toHaveLength(1);
  });

  it("rejects an unknown reattach policy and bad channel args at construction", () => {
    const base = { taskId: "t", name: "n", armadaQueue: "q", jobRequest };
    expect(() => new ArmadaOperator({ ...base, channelArgs, reattachPolicy: "invalid" })).toThrow(
      /reattachPolicy: Unknown policy type: invalid/,
    );
    expect(() => new ArmadaOperator({ ...base, channelArgs: { target: "" } })).toThrow(/^channelArgs: /);
    expect(() => new ArmadaOperator({ ...base, channelArgs, pollInterval: 0 })).toThrow(/pollInterval: must be a number/);
    expect(() => new ArmadaOperator({ ...base, channelArgs, armadaQueue: "" })).toThrow(/armadaQueue: must be a non-empty/);
  });

  it("takes the reattach policy and other options from the DAG's default args", async () => {
    const { DAG } = await import("../../src/runtime/dag.js");
    const dag = new DAG({ dagId: "d", defaultArgs: { reattachPolicy: "always", pollInterval: 9 } });
    const op = new ArmadaOperator({ dag, taskId: "t", name: "n", channelArgs, armadaQueue: "q", jobRequest });
    expect(op.reattachPolicy(JobState.FAILED, "")).toBe(true);
    expect(op.pollInterval).toBe(9);
    const own = new ArmadaOperator({ dag, taskId: "t2", name: "n", channelArgs, armadaQueue: "q", jobRequest, reattachPolicy: "never" });
    expect(own.reattachPolicy(JobState.RUNNING, "")).toBe(false);
  });

  it("its trigger ends the task on success (end_from_trigger) only where a resume would add nothing", async () => {
    /** What the deferral's watch carries for the trigger to end the task with, if anything. */
    const endOf = async (
      options: Partial<ArmadaOperatorOptions>,
      env?: NodeJS.ProcessEnv,
      Operator: typeof ArmadaOperator = ArmadaOperator,
    ) => {
      const s = setup([JobState.QUEUED], { deferrable: true, tracking: "poll", ...options }, {}, Operator);
      if (env) s.context.runtimeConfig = resolveRuntimeConfig({ env: { ...process.env, ...env } });
      const err = await s
        .run(async () => {
          await s.op.renderTemplateFields(s.context);
          return s.op.execute(s.context);
        })
        .catch((e: unknown) => e);
      expect(isTaskDeferred(err)).toBe(true);
      const watch = ((err as TaskDeferred).trigger as ArmadaPollJobTrigger).watch!;
      return watch.endOnSuccess && { ...watch.endOnSuccess, queue: watch.queue, jobSetId: watch.jobSetId };
    };
    // The result's parts: the rendered string links (the job's Lookout page comes from the watch's detailsUrl).
    expect(await endOf({ extraLinks: { docs: "http://docs/{{ ti.task_id }}" } })).toEqual({
      links: { docs: "http://docs/test_task" },
      pushResult: true,
      queue: "test_queue_1",
      jobSetId: "prefix-test_run_1",
    });
    expect(await endOf({ doXcomPush: false })).toMatchObject({ pushResult: false });
    // The task reads the container log to its end, or finds links in it: it resumes.
    expect(await endOf({ containerLogs: "alpine" })).toBeUndefined();
    expect(await endOf({ extraLinks: { grafana: /https:\/\/grafana\S+/ } })).toBeUndefined();
    // Turned off in config.
    expect(await endOf({}, { ARMADA_AIRFLOW__ARMADA_OPERATOR__END_FROM_TRIGGER: "false" })).toBeUndefined();
    // A subclass that changes how the task resumes is resumed.
    class Resumes extends ArmadaOperator {
      override async _trigger_reentry(context: Context, event?: unknown) {
        return super._trigger_reentry(context, event);
      }
    }
    expect(await endOf({}, undefined, Resumes)).toBeUndefined();
  });

  it("takes defaults from configuration", () => {
    // The config a CLI call with these settings in its env resolves, current while its DAG file loads.
    const config = resolveRuntimeConfig({
      env: {
        ...process.env,
        AIRFLOW__ARMADA_OPERATOR__DEFAULT_POLL_INTERVAL_S: "7",
        AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE: "true",
        AIRFLOW__ARMADA_OPERATOR__DEFAULT_JOB_ACKNOWLEDGEMENT_TIMEOUT_S: "12",
        AIRFLOW__ARMADA_OPERATOR__DEFAULT_DRY_RUN: "true",
        AIRFLOW__ARMADA_OPERATOR__REATTACH_POLICY: "ALWAYS",
      },
    });
    withRuntimeConfig(config, () => {
      const op = new ArmadaOperator({ taskId: "t", name: "n", channelArgs, armadaQueue: "q", jobRequest });
      expect([op.pollInterval, op.deferrable, op.jobAcknowledgementTimeout, op.dryRun]).toEqual([7, true, 12, true]);
      expect(op.reattachPolicy(JobState.FAILED, "")).toBe(true);
      expect(op.templateFields).toEqual(["job_request", "job_set_prefix"]);
      expect(op.templateFieldsRenderers).toEqual({ job_request: "py" });
    });
    const plain = new ArmadaOperator({ taskId: "t", name: "n", channelArgs, armadaQueue: "q", jobRequest });
    expect([plain.pollInterval, plain.deferrable, plain.jobAcknowledgementTimeout, plain.dryRun]).toEqual([30, false, 300, false]);
  });

  it("survives a transient status failure and keeps polling", async () => {
    const s = setup([JobState.RUNNING, JobState.SUCCEEDED]);
    const { ArmadaError } = await import("../../src/client/armada-error.js");
    const real = s.hook.getJobState.bind(s.hook);
    let failed = false;
    s.hook.getJobState = async (id) => {
      if (!failed) {
        failed = true;
        throw new ArmadaError({ code: 14, method: "GetJobStatus", details: "connection reset" });
      }
      return real(id);
    };
    const result = await s.execute();
    expect(result).toMatchObject({ job_state: "SUCCEEDED" });
    expect(s.ti.log.has(/Status check of Armada job test_job failed/)).toBe(true);
  });
});

describe("ArmadaOperator re-run of the same try (runner killed)", () => {
  it("follows the job this try already submitted (XCom job_context) instead of submitting", async () => {
    const s = setup([JobState.RUNNING, JobState.SUCCEEDED]);
    await s.run(() => s.op.renderTemplateFields(s.context));
    const ctx = new RunningJobContext({
      armadaQueue: "test_queue_1",
      jobId: "earlier_job",
      jobSetId: "prefix-test_run_1",
      submitTime: s.clock.now(),
      jobState: "RUNNING",
    });
    await s.ti.xcomPush("job_context", ctx.toXCom());
    const again = new ArmadaOperator({ ...baseOptions(s.hook) });
    const result = await s.run(async () => {
      await again.renderTemplateFields({ ...s.context, task: again });
      return again.execute({ ...s.context, task: again });
    });
    expect(s.hook.submits).toHaveLength(0);
    expect(result).toMatchObject({ job_id: "earlier_job", job_state: "SUCCEEDED" });
  });

  it("finds the job by URI and this try's client id when the runner died before recording it", async () => {
    const s = setup([JobState.SUCCEEDED]);
    await s.run(() => s.op.renderTemplateFields(s.context));
    s.hook.found = "lost_job";
    const again = new ArmadaOperator({ ...baseOptions(s.hook) });
    const result = await s.run(async () => {
      await again.renderTemplateFields({ ...s.context, task: again });
      return again.execute({ ...s.context, task: again });
    });
    expect(s.hook.submits).toHaveLength(0);
    expect(s.hook.findCalls).toHaveLength(1);
    expect(s.hook.findCalls[0]![3]).toMatch(/^airflow-[0-9a-f]{32}$/);
    expect(result).toMatchObject({ job_id: "lost_job" });
  });

  it("uses a client id that is stable within a try and differs between tries", async () => {
    const a = setup([JobState.SUCCEEDED]);
    await a.execute();
    const b = setup([JobState.SUCCEEDED]);
    await b.execute();
    const c = setup([JobState.SUCCEEDED], { retries: 1 }, { tryNumber: 2, maxTries: 1 });
    await c.execute();
    expect(a.hook.submits[0]!.item.clientId).toBe(b.hook.submits[0]!.item.clientId);
    expect(a.hook.submits[0]!.item.clientId).not.toBe(c.hook.submits[0]!.item.clientId);
  });
});

function baseOptions(hook: FakeHook): ArmadaOperatorOptions {
  return {
    taskId: "test_task",
    name: "test",
    channelArgs,
    armadaQueue: "test_queue_1",
    jobRequest,
    jobSetPrefix: "prefix-",
    pollInterval: 5,
    hookFactory: () => hook,
  };
}
