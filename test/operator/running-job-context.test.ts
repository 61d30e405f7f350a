import { describe, expect, it } from "vitest";
import { JobState } from "../../src/client/job-states.js";
import { RunningJobContext } from "../../src/operator/running-job-context.js";
import { GrpcChannelArgs } from "../../src/client/channel-args.js";
import { deserializeValue, serializeValue } from "../../src/runtime/serde.js";


const base = {
  armadaQueue: "test_queue_1",
  jobId: "test_job",
  jobSetId: "prefix-test_run_1",
  submitTime: new Date("2024-01-01T00:00:00Z"),
};

describe("RunningJobContext", () => {
  it("maps the state name to the enum and round-trips through serialization (case 19)", () => {
    const ctx = new RunningJobContext({ ...base, cluster: "cluster-1", jobState: "RUNNING" });
    expect(ctx.state).toBe(JobState.RUNNING);
    const back = RunningJobContext.deserialize(JSON.parse(JSON.stringify(ctx.serialize())), 1);
    expect(back.equals(ctx)).toBe(true);
    expect(back.state).toBe(JobState.RUNNING);
  });

  it("GrpcChannelArgs with options and no compression round-trips as the operator stores it (case 19)", () => {
    const args = new GrpcChannelArgs({ target: "armada:50051", options: [["key-1", 10], ["key-2", "value-2"]] });
    const stored = JSON.parse(JSON.stringify(args.serialize()));
    expect(stored).toEqual({ target: "armada:50051", options: [["key-1", 10], ["key-2", "value-2"]], compression: null, auth: null });
    expect(GrpcChannelArgs.deserialize(stored, 1).equals(args)).toBe(true);
    expect(() => GrpcChannelArgs.deserialize(stored, 2)).toThrow();
  });

  it("round-trips through the runtime's serde envelope", () => {
    const ctx = new RunningJobContext({ ...base, lastLogTime: "2024-01-01T00:00:01.123456789Z", jobState: "RUNNING" });
    const text = serializeValue(ctx);
    expect(JSON.parse(text)).toMatchObject({ __classname__: RunningJobContext.classname, __version__: 1 });
    const back = deserializeValue(text) as RunningJobContext;
    expect(back).toBeInstanceOf(RunningJobContext);
    expect(back.equals(ctx)).toBe(true);
  });

  it("refuses a newer serialized version", () => {
    expect(() => RunningJobContext.deserialize({}, 2)).toThrow(/newer/);
  });

  it("is immutable; with() makes a changed copy", () => {
    const ctx = new RunningJobContext(base);
    expect(ctx.jobState).toBe("UNKNOWN");
    expect(() => {
      (ctx as unknown as { jobId: string }).jobId = "x";
    }).toThrow();
    const next = ctx.with({ jobState: JobState.SUCCEEDED, cluster: "c" });
    expect(next.jobState).toBe("SUCCEEDED");
    expect(next.cluster).toBe("c");
    expect(ctx.jobState).toBe("UNKNOWN");
  });

  it("has the XCom shape with snake_case keys and reads it back", () => {
    const ctx = new RunningJobContext({ ...base, jobState: "QUEUED", lastLogTime: "2024-01-01T00:00:01.5Z" });
    const x = ctx.toXCom();
    expect(x).toEqual({
      armada_queue: "test_queue_1",
      armada_job_id: "test_job",
      armada_job_set_id: "prefix-test_run_1",
      armada_job_submit_time: "2024-01-01T00:00:00.000Z",
      armada_job_state: "QUEUED",
      armada_job_last_log_time: "2024-01-01T00:00:01.5Z",
    });
    const back = RunningJobContext.fromXCom(x);
    expect(back.toXCom()).toEqual(x);
    expect(() => RunningJobContext.fromXCom({ ...x, armada_job_id: "" })).toThrow(/job_context.armada_job_id/);
    expect(() => RunningJobContext.fromXCom({ ...x, armada_job_state: "NOPE" })).toThrow(/not an Armada job state/);
  });

  it("carries the followed run (id, cluster, number) through XCom once known, and refuses a wrong type", () => {
    const ctx = new RunningJobContext({ ...base, jobState: "RUNNING", runId: "r2", runNumber: 2, cluster: "cluster-2" });
    const x = ctx.toXCom();
    expect(x).toMatchObject({ armada_job_run_id: "r2", armada_job_cluster: "cluster-2", armada_job_run_number: 2 });
    const back = RunningJobContext.fromXCom(x);
    expect([back.runId, back.runNumber, back.cluster]).toEqual(["r2", 2, "cluster-2"]);
    expect(RunningJobContext.deserialize(ctx.serialize(), 1).equals(ctx)).toBe(true);
    expect(() => RunningJobContext.fromXCom({ ...x, armada_job_run_number: "2" })).toThrow(
      /job_context.armada_job_run_number: expected a number or null/,
    );
  });
});
