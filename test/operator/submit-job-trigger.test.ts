import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import { GrpcChannelArgs } from "../../src/client/channel-args.js";
import { JobState } from "../../src/client/job-states.js";
import { JobSubmitRequestItem } from "../../src/gen/armada/submit.js";
import { jobRequestFromJson } from "../../src/operator/job-request.js";
import {
  ArmadaSubmitJobTrigger,
  SUBMIT_JOB_TRIGGER_CLASSPATH,
  type ArmadaJobSubmission,
} from "../../src/operator/submit-job-trigger.js";
import { RunningJobContext } from "../../src/operator/running-job-context.js";
import { createTrigger, TaskEndEvent, type TriggerEvent } from "../../src/runtime/trigger.js";
import { createTaskLogger } from "../../src/runtime/task-logger.js";
import type { TaskInstanceState } from "../../src/runtime/state.js";
import type { ExistingJob } from "../../src/operator/hook.js";
import { FakeHook } from "./support.js";

const start = new Date("2024-01-01T00:00:00Z");

const item = (): JobSubmitRequestItem => {
  const i = jobRequestFromJson({
    priority: 2,
    namespace: "team-a",
    labels: { app: "x" },
    annotations: { "armadaproject.io/externalJobUri": "airflow://d/t/r/-1" },
    podSpec: {
      containers: [
        {
          name: "main",
          image: "busybox",
          args: ["sleep", "10"],
          env: [{ name: "A", value: "1" }],
          resources: { requests: { cpu: "100m", memory: "64Mi" }, limits: { cpu: "100m", memory: "64Mi" } },
        },
      ],
      tolerations: [{ key: "gpu", operator: "Exists", effect: "NoSchedule" }],
    },
  });
  i.clientId = "airflow-0123";
  i.externalJobUri = "airflow://d/t/r/-1";
  return i;
};

const submission: ArmadaJobSubmission = {
  queue: "q",
  jobSetId: "js",
  externalJobUri: "airflow://d/t/r/-1",
  plan: { pollIntervalS: 10, ackTimeoutS: 300, lookoutUrlTemplate: "http://lookout/jobs/<job_id>" },
};

/** A trigger on a manual clock with a fake hook and an in-memory task instance (XComs as stored). */
function setUp(
  o: { states?: JobState[]; taskState?: TaskInstanceState; submitFails?: Error; endOnSuccess?: boolean } = {},
) {
  const hook = new FakeHook(o.states ?? [JobState.QUEUED], "job-1");
  if (o.submitFails) hook.submitJob = async () => Promise.reject(o.submitFails);
  const s = o.endOnSuccess
    ? { ...submission, plan: { ...submission.plan, endOnSuccess: { links: {}, pushResult: true } } }
    : submission;
  const trigger = new ArmadaSubmitJobTrigger(s, item(), { hookFactory: () => hook });
  const clock = new ManualClock(start);
  trigger.clock = clock;
  const logged: string[] = [];
  trigger.log = createTaskLogger((level, message) => logged.push(`${level} ${message}`));
  const xcom: Record<string, unknown> = {
    channel_args: new GrpcChannelArgs({ target: "127.0.0.1:1" }).serialize(),
  };
  const state = { value: o.taskState ?? ("deferred" as TaskInstanceState) };
  trigger.taskInstance = {
    dagId: "d",
    taskId: "t",
    runId: "r",
    mapIndex: -1,
    tryNumber: 1,
    currentState: async () => state.value,
    xcomPull: async ({ key }) => xcom[key],
    xcomPush: async (key, value) => {
      xcom[key] = JSON.parse(JSON.stringify(value));
    },
  };
  return { trigger, hook, clock, logged, xcom, state };
}

/** Advances the clock 10 s at a time until the trigger fires. */
async function fire(t: ReturnType<typeof setUp>): Promise<TriggerEvent> {
  let event: TriggerEvent | undefined;
  const done = t.trigger.firstEvent().then((e) => (event = e));
  for (let i = 0; i < 50 && !event; i++) {
    await new Promise((r) => setImmediate(r));
    if (!event) t.clock.advance(10_000);
  }
  await done;
  return event!;
}

describe("ArmadaSubmitJobTrigger", () => {
  it("serializes its submission and item, and is re-created equal from the stored JSON", () => {
    const t = new ArmadaSubmitJobTrigger(submission, item());
    const [classpath, kwargs] = t.serialize();
    expect(classpath).toBe(SUBMIT_JOB_TRIGGER_CLASSPATH);
    const back = createTrigger(classpath, JSON.parse(JSON.stringify(kwargs)));
    expect(back).toBeInstanceOf(ArmadaSubmitJobTrigger);
    expect((back as ArmadaSubmitJobTrigger).equals(t)).toBe(true);
    // The item survives its JSON form whole: what is submitted after a restart is what the task rendered.
    expect(JobSubmitRequestItem.fromJSON(JSON.parse(JSON.stringify(kwargs.item)))).toEqual(item());
  });

  it("refuses a submission without a queue, naming the field", () => {
    expect(() => new ArmadaSubmitJobTrigger({ ...submission, queue: "" }, item())).toThrow(
      /submission\.queue/,
    );
  });

  it("submits, writes the job's context and link to XCom, then watches the job and fires at its end", async () => {
    const t = setUp({ states: [JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED] });
    const event = await fire(t);
    expect(t.hook.submits).toHaveLength(1);
    expect(t.hook.submits[0]!.item.clientId).toBe("airflow-0123");
    expect(t.hook.submits[0]!.queue).toBe("q");
    expect(event.payload).toMatchObject({ job_state: "SUCCEEDED" });
    const ctx = RunningJobContext.fromXCom(t.xcom.job_context);
    expect([ctx.jobId, ctx.armadaQueue, ctx.jobSetId]).toEqual(["job-1", "q", "js"]);
    expect(t.xcom.armada_lookout_url).toBe("http://lookout/jobs/job-1");
    expect(t.logged.join("\n")).toMatch(
      /Submitted job to Armada with job-id job-1\. Job details available at/,
    );
    expect(t.logged.join("\n")).toMatch(/job-1 is in state: QUEUED/);
    // One check after the submit, then one per poll until the end: never a resume for QUEUED to RUNNING.
    expect(t.hook.statusChecks.length).toBeGreaterThanOrEqual(3);
  });

  it("re-created after its runner died once the job was written down, follows that job and submits nothing", async () => {
    const t = setUp({ states: [JobState.RUNNING, JobState.SUCCEEDED] });
    t.xcom.job_context = new RunningJobContext({
      armadaQueue: "q",
      jobId: "job-0",
      jobSetId: "js",
      submitTime: start,
      jobState: "QUEUED",
    }).toXCom();
    const event = await fire(t);
    expect(t.hook.submits).toEqual([]);
    expect(event.payload).toMatchObject({ job_state: "SUCCEEDED" });
    expect(t.hook.statusChecks.every((id) => id === "job-0")).toBe(true);
    expect(t.logged.join("\n")).toMatch(/Following Armada job job-0, submitted earlier by this try/);
  });

  it("fires at once when the job has ended by its first check", async () => {
    const t = setUp({ states: [JobState.SUCCEEDED] });
    const event = await t.trigger.firstEvent();
    expect(event!.payload).toMatchObject({ job_state: "SUCCEEDED" });
    expect(t.hook.statusChecks).toEqual(["job-1"]);
  });

  it("with endOnSuccess, ends the task with the operator's result when the job succeeds, later or at its first check; its cleanup cancels nothing", async () => {
    const result = {
      armada_queue: "q",
      job_id: "job-1",
      job_set_id: "js",
      job_state: "SUCCEEDED",
      links: { lookout: "http://lookout/jobs/job-1" },
    };
    for (const states of [[JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED], [JobState.SUCCEEDED]]) {
      const t = setUp({ states, endOnSuccess: true });
      const event = await fire(t);
      expect(TaskEndEvent.isEnd(event)).toBe(true);
      expect((event as TaskEndEvent).xcoms).toEqual({ return_value: result });
      // Its context was written before: a cleanup or a later reader finds the job.
      expect(RunningJobContext.fromXCom(t.xcom.job_context).jobId).toBe("job-1");
      expect(t.logged.at(-1)).toBe("info Armada job job-1 terminated with state: SUCCEEDED");
      expect(t.hook.forgotten).toEqual(["job-1"]);
      t.state.value = "success";
      await t.trigger.cleanup();
      expect(t.hook.cancels).toEqual([]);
    }
    // A job that failed resumes the task.
    const failed = await fire(setUp({ states: [JobState.FAILED], endOnSuccess: true }));
    expect([TaskEndEvent.isEnd(failed), failed.payload]).toMatchObject([false, { job_state: "FAILED" }]);
  });

  it("fires submit_failed, writing no job, when its submit fails: the task then submits itself", async () => {
    const t = setUp({ submitFails: new Error("boom") });
    const event = await t.trigger.firstEvent();
    expect(event!.payload).toEqual({ submit_failed: "boom" });
    expect(t.xcom.job_context).toBeUndefined();
    expect(t.logged.join("\n")).toMatch(/Submitting from the triggerer failed \(boom\)/);
  });

  it("removed before its submit went out (a mark-failed as it starts), submits nothing", async () => {
    const t = setUp({ taskState: "failed" });
    const event = t.trigger.firstEvent();
    t.trigger.cancel(new Error("removed"));
    await expect(event).rejects.toThrow("removed");
    await t.trigger.cleanup();
    expect(t.hook.submits).toEqual([]);
  });

  it("cleanup after a mark-failed cancels the job it submitted", async () => {
    const t = setUp({ states: [JobState.RUNNING] });
    const event = t.trigger.firstEvent().catch(() => undefined);
    for (let i = 0; i < 5 && t.xcom.job_context === undefined; i++) await new Promise((r) => setImmediate(r));
    t.state.value = "failed";
    t.trigger.cancel(new Error("removed"));
    await t.trigger.cleanup();
    await event;
    expect(t.hook.cancels.map((c) => c.jobId)).toEqual(["job-1"]);
  });

  it("cleanup of a trigger re-created after its runner died cancels the live jobs of its task instance", async () => {
    const t = setUp({ taskState: "failed" });
    const live: ExistingJob = {
      jobId: "job-9",
      state: JobState.RUNNING,
      namespace: "team-a",
      submittedAt: undefined,
    };
    t.hook.existing = live;
    await t.trigger.cleanup();
    expect(t.hook.uriLookups).toEqual([["q", "js", "airflow://d/t/r/-1"]]);
    expect(t.hook.cancels.map((c) => c.jobId)).toEqual(["job-9"]);
    expect(t.hook.submits).toEqual([]);
  });

  it("cleanup cancels nothing while the task is deferred (a hand-over) or up for retry", async () => {
    for (const taskState of ["deferred", "up_for_retry"] as const) {
      const t = setUp({ taskState });
      t.hook.existing = {
        jobId: "job-9",
        state: JobState.RUNNING,
        namespace: "team-a",
        submittedAt: undefined,
      };
      await t.trigger.cleanup();
      expect(t.hook.cancels).toEqual([]);
    }
  });
});
