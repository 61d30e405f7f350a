/**
 * One error family: every error the library raises on purpose is an
 * ArmadaAirflowError with a code from ErrorCode, keeps its own older fields,
 * and is recognised by `instanceof` even when made by another copy of the module.
 */
import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { ArmadaAirflowError } from "../../src/common/armada-airflow-error.js";
import { ErrorCode, errorCodeOfGrpcStatus, isErrorCode } from "../../src/common/error-code.js";
import { ArmadaError } from "../../src/client/armada-error.js";
import { ChannelConfigError } from "../../src/client/channel-preflight.js";
import { GrpcChannelArgs } from "../../src/client/channel-args.js";
import { DevRequestError } from "../../src/devserver/request-error.js";
import { JobState } from "../../src/client/job-states.js";
import {
  ArmadaOperatorCancelError,
  ArmadaOperatorInputError,
  ArmadaOperatorJobFailedError,
  ArmadaOperatorJobFailedFatalError,
  ArmadaOperatorQueueNotFoundError,
  ArmadaOperatorSubmitError,
} from "../../src/operator/errors.js";
import { reattachPolicy } from "../../src/operator/reattach-policy.js";
import {
  DagDefinitionError,
  RuntimeError,
  TaskTimeoutError,
  TemplateRenderError,
} from "../../src/runtime/errors.js";

describe("the error family", () => {
  const cause = new Error("underneath");
  const members: [ArmadaAirflowError, ErrorCode][] = [
    [new ArmadaError({ code: status.UNAVAILABLE, method: "SubmitJobs" }), ErrorCode.Unavailable],
    [new ArmadaError({ code: status.INVALID_ARGUMENT, field: "x" }), ErrorCode.InvalidArgument],
    [new ArmadaError({ code: status.UNAUTHENTICATED }), ErrorCode.Unauthenticated],
    [new ArmadaError({ code: 99 }), ErrorCode.Unknown],
    [new RuntimeError("store_too_new", "newer"), ErrorCode.StoreTooNew],
    [new DagDefinitionError("taskId", "bad"), ErrorCode.InvalidArgument],
    [new TaskTimeoutError("slow"), ErrorCode.Timeout],
    [new TemplateRenderError("a.b", "no"), ErrorCode.Template],
    [new ArmadaOperatorJobFailedError("q", "j", JobState.FAILED), ErrorCode.JobFailed],
    [new ArmadaOperatorJobFailedFatalError("q", "j", JobState.REJECTED), ErrorCode.JobFailed],
    [new ArmadaOperatorInputError("job_request", "bad"), ErrorCode.InvalidArgument],
    [new ArmadaOperatorSubmitError("q", "s", 0, "no"), ErrorCode.SubmitRefused],
    [new ArmadaOperatorQueueNotFoundError("q", "s"), ErrorCode.NotFound],
    [new ArmadaOperatorCancelError("q", "j", "RUNNING", 4, { cause }), ErrorCode.CancelFailed],
    [new DevRequestError("FAILED_PRECONDITION", "no"), ErrorCode.FailedPrecondition],
    [new ChannelConfigError("channelArgs.tls.caFile", "missing"), ErrorCode.Config],
  ];

  it("gives every member the family's base and a code", () => {
    for (const [err, code] of members) {
      expect(err, err.name).toBeInstanceOf(ArmadaAirflowError);
      expect(err, err.name).toBeInstanceOf(Error);
      expect(err.errorCode, err.name).toBe(code);
      expect(isErrorCode(err.errorCode)).toBe(true);
    }
  });

  it("keeps each member's older fields", () => {
    const armada = new ArmadaError({ code: status.DEADLINE_EXCEEDED, method: "GetJobStatus" });
    expect(armada.code).toBe(status.DEADLINE_EXCEEDED);
    expect(armada.codeName).toBe("DEADLINE_EXCEEDED");
    expect(armada.isTransient).toBe(true);
    expect(new RuntimeError("pool", "full").code).toBe("pool");
    expect(new DevRequestError("NOT_FOUND", "gone").code).toBe("NOT_FOUND");
    const cancel = new ArmadaOperatorCancelError("q", "j", "RUNNING", 4, { cause });
    expect(cancel.cause).toBe(cause);
    expect(cancel.name).toBe("ArmadaOperatorCancelError");
  });

  it("keeps instanceof exact within the family", () => {
    const failed = new ArmadaOperatorJobFailedError("q", "j", JobState.FAILED);
    expect(failed).not.toBeInstanceOf(ArmadaOperatorJobFailedFatalError);
    expect(new ArmadaOperatorJobFailedFatalError("q", "j", JobState.FAILED)).toBeInstanceOf(
      ArmadaOperatorJobFailedError,
    );
    expect(new RuntimeError("dag", "x")).not.toBeInstanceOf(ArmadaError);
    expect(new ArmadaError({ code: 2 })).not.toBeInstanceOf(RuntimeError);
    expect(new Error("plain")).not.toBeInstanceOf(ArmadaAirflowError);
    expect({ name: "ArmadaError" }).not.toBeInstanceOf(ArmadaError);
  });

  it("recognises members made by another copy of the modules", async () => {
    // A query string gives a second module instance, as dist/ and src/ (or a DAG loaded by tsx) would.
    const secondCopy = (path: string): Promise<unknown> => import(/* @vite-ignore */ `${path}?second-copy`);
    const copy = (await secondCopy(
      "../../src/runtime/errors.js",
    )) as typeof import("../../src/runtime/errors.js");
    const base = (await secondCopy(
      "../../src/common/armada-airflow-error.js",
    )) as typeof import("../../src/common/armada-airflow-error.js");
    expect(copy.RuntimeError).not.toBe(RuntimeError);
    expect(base.ArmadaAirflowError).not.toBe(ArmadaAirflowError);
    expect(new copy.TaskTimeoutError("slow")).toBeInstanceOf(RuntimeError);
    expect(new copy.TaskTimeoutError("slow")).toBeInstanceOf(TaskTimeoutError);
    expect(new copy.TaskTimeoutError("slow")).not.toBeInstanceOf(TemplateRenderError);
    expect(new base.ArmadaAirflowError(ErrorCode.Internal, "x")).toBeInstanceOf(ArmadaAirflowError);
    expect(new ArmadaError({ code: 14 })).toBeInstanceOf(base.ArmadaAirflowError);
  });

  it("maps gRPC status numbers to the family's codes", () => {
    expect(errorCodeOfGrpcStatus(status.CANCELLED)).toBe(ErrorCode.Cancelled);
    expect(errorCodeOfGrpcStatus(status.UNAVAILABLE)).toBe(ErrorCode.Unavailable);
    expect(errorCodeOfGrpcStatus(status.UNAUTHENTICATED)).toBe(ErrorCode.Unauthenticated);
    expect(errorCodeOfGrpcStatus(status.OK)).toBe(ErrorCode.Unknown);
    for (const [name, n] of Object.entries(status)) {
      if (typeof n === "number" && n > 0) expect(errorCodeOfGrpcStatus(n)).toBe(name.toLowerCase());
    }
  });

  it("gives user-facing input errors the family's class and code", () => {
    const bad = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e;
      }
      throw new Error("did not throw");
    };
    const target = bad(() => new GrpcChannelArgs({ target: "not a target::" }));
    expect(target).toBeInstanceOf(ArmadaAirflowError);
    expect((target as ArmadaAirflowError).errorCode).toBe(ErrorCode.InvalidArgument);
    const policy = bad(() => reattachPolicy("sometimes"));
    expect(policy).toBeInstanceOf(ArmadaAirflowError);
    expect((policy as ArmadaAirflowError).errorCode).toBe(ErrorCode.InvalidArgument);
    const serialized = bad(() => ArmadaOperatorJobFailedError.deserialize(["x", [], {}]));
    expect((serialized as ArmadaAirflowError).errorCode).toBe(ErrorCode.Serde);
  });
});
