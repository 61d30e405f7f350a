import { describe, expect, it } from "vitest";
import { isTaskFatalError } from "../../src/runtime/errors.js";
import {
  ArmadaOperatorJobFailedError,
  ArmadaOperatorJobFailedFatalError,
  JOB_FAILED_ERROR_CLASSPATH,
  JOB_FAILED_FATAL_ERROR_CLASSPATH,
} from "../../src/operator/errors.js";
import { JobState } from "../../src/client/job-states.js";

describe("ArmadaOperatorJobFailedError", () => {
  it("keeps queue, job id, state and reason (case 11)", () => {
    const err = new ArmadaOperatorJobFailedError("q", "job-1", JobState.FAILED, "Out of memory");
    expect(err.queue).toBe("q");
    expect(err.jobId).toBe("job-1");
    expect(err.state).toBe(JobState.FAILED);
    expect(err.reason).toBe("Out of memory");
    expect(err).toBeInstanceOf(Error);
  });

  it("formats the message exactly, with and without a reason (case 12)", () => {
    expect(new ArmadaOperatorJobFailedError("q", "job-1", JobState.FAILED).message).toBe(
      "ArmadaOperator job 'job-1' in queue 'q' terminated with state 'Failed'.",
    );
    expect(new ArmadaOperatorJobFailedError("q", "job-1", JobState.FAILED, "Out of memory").message).toBe(
      "ArmadaOperator job 'job-1' in queue 'q' terminated with state 'Failed'. Termination reason: Out of memory",
    );
  });

  it("is retryable; the fatal one is both fatal and a job-failed error (case 13)", () => {
    const retryable = new ArmadaOperatorJobFailedError("q", "j", JobState.PREEMPTED);
    expect(isTaskFatalError(retryable)).toBe(false);
    const fatal = new ArmadaOperatorJobFailedFatalError("q", "j", JobState.REJECTED, "Invalid pod spec");
    expect(fatal).toBeInstanceOf(ArmadaOperatorJobFailedError);
    expect(isTaskFatalError(fatal)).toBe(true);
    expect(fatal.message.endsWith("'Rejected'. Termination reason: Invalid pod spec")).toBe(true);
  });

  it("both classes survive serialization with type and fields (case 14)", () => {
    const plain = new ArmadaOperatorJobFailedError("q", "j1", JobState.FAILED, "Out of memory");
    expect(plain.serialize()).toEqual([JOB_FAILED_ERROR_CLASSPATH, ["q", "j1", "FAILED", "Out of memory"], {}]);
    const plainBack = ArmadaOperatorJobFailedError.deserialize(JSON.parse(JSON.stringify(plain.serialize())));
    expect(plainBack).toBeInstanceOf(ArmadaOperatorJobFailedError);
    expect(plainBack).not.toBeInstanceOf(ArmadaOperatorJobFailedFatalError);
    expect([plainBack.queue, plainBack.jobId, plainBack.state, plainBack.reason]).toEqual([
      "q",
      "j1",
      JobState.FAILED,
      "Out of memory",
    ]);
    expect(plainBack.message).toBe(plain.message);

    const fatal = new ArmadaOperatorJobFailedFatalError("q", "j2", JobState.REJECTED, "");
    expect(fatal.serialize()[0]).toBe(JOB_FAILED_FATAL_ERROR_CLASSPATH);
    const fatalBack = ArmadaOperatorJobFailedError.deserialize(JSON.parse(JSON.stringify(fatal.serialize())));
    expect(fatalBack).toBeInstanceOf(ArmadaOperatorJobFailedFatalError);
    expect(isTaskFatalError(fatalBack)).toBe(true);
    expect(fatalBack.state).toBe(JobState.REJECTED);
  });

  it("rejects malformed serialized data with a message naming the problem", () => {
    expect(() => ArmadaOperatorJobFailedError.deserialize(["x", ["q", "j", "FAILED", ""], {}])).toThrow(/unknown classpath/);
    expect(() =>
      ArmadaOperatorJobFailedError.deserialize([JOB_FAILED_ERROR_CLASSPATH, ["q", "j", "EXPLODED", ""], {}]),
    ).toThrow(/not an Armada job state/);
    expect(() => ArmadaOperatorJobFailedError.deserialize({})).toThrow(/expected \[classpath/);
  });
});
