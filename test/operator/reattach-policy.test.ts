import { describe, expect, it } from "vitest";
import { ALL_JOB_STATES, JobState } from "../../src/client/job-states.js";
import { externalJobUri, reattachPolicy, resolveReattachPolicy } from "../../src/operator/reattach-policy.js";

describe("reattach policies", () => {
  it("builds the external job URI (case 15)", () => {
    expect(externalJobUri({ dagId: "example_dag", taskId: "example_task", runId: "test_run_123", mapIndex: 42 })).toBe(
      "airflow://example_dag/example_task/test_run_123/42",
    );
  });

  it("never is false and always is true for all 11 states (case 16)", () => {
    expect(ALL_JOB_STATES).toHaveLength(11);
    for (const s of ALL_JOB_STATES) {
      expect(reattachPolicy("never")(s, "")).toBe(false);
      expect(reattachPolicy("always")(s, "")).toBe(true);
    }
  });

  it("running_or_succeeded refuses only FAILED and REJECTED (case 17)", () => {
    const p = reattachPolicy("running_or_succeeded");
    expect(p(JobState.RUNNING, "")).toBe(true);
    expect(p(JobState.SUCCEEDED, "")).toBe(true);
    expect(p(JobState.CANCELLED, "")).toBe(true);
    expect(p(JobState.FAILED, "oom")).toBe(false);
    expect(p(JobState.REJECTED, "")).toBe(false);
  });

  it("names are case-insensitive and unknown names fail (case 18)", () => {
    expect(reattachPolicy("ALWAYS")(JobState.FAILED, "")).toBe(true);
    expect(() => reattachPolicy("invalid")).toThrow("Unknown policy type: invalid");
  });

  it("resolves argument, then default args, then config, else never; functions pass through", () => {
    const fn = (s: JobState) => s === JobState.QUEUED;
    expect(resolveReattachPolicy(fn, "always")).toBe(fn);
    expect(resolveReattachPolicy(undefined, "always", "never")(JobState.FAILED, "")).toBe(true);
    expect(resolveReattachPolicy(undefined, undefined, "always")(JobState.FAILED, "")).toBe(true);
    expect(resolveReattachPolicy(undefined, null, "")(JobState.RUNNING, "")).toBe(false);
    expect(() => resolveReattachPolicy(undefined, undefined, "bogus")).toThrow("Unknown policy type: bogus");
  });
});
