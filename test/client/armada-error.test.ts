import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { ArmadaError, grpcCodeName } from "../../src/client/index.js";

describe("ArmadaError", () => {
  it("keeps a gRPC status error's code, and says what to do", () => {
    const grpcErr = Object.assign(new Error("14 UNAVAILABLE: connect ECONNREFUSED"), {
      code: status.UNAVAILABLE,
      details: "connect ECONNREFUSED",
    });
    const e = ArmadaError.from(grpcErr, { method: "GetJobStatus", target: "armada:50051" });
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe("ArmadaError");
    expect(e.code).toBe(status.UNAVAILABLE);
    expect(e.codeName).toBe("UNAVAILABLE");
    expect(e.method).toBe("GetJobStatus");
    expect(e.target).toBe("armada:50051");
    expect(e.cause).toBe(grpcErr);
    expect(e.message).toBe(
      "GetJobStatus failed: UNAVAILABLE: connect ECONNREFUSED. Armada server armada:50051 is unavailable. Check that the target host and port are right, the server is running and reachable from here, and that TLS is used only if the server expects it.",
    );
  });

  it("passes an ArmadaError through and wraps anything else as UNKNOWN or CANCELLED", () => {
    const a = new ArmadaError({ code: status.NOT_FOUND, details: "x" });
    expect(ArmadaError.from(a)).toBe(a);
    expect(ArmadaError.from("boom").code).toBe(status.UNKNOWN);
    expect(ArmadaError.from(new DOMException("stop", "AbortError")).code).toBe(status.CANCELLED);
    expect(ArmadaError.from({ code: 99 }).code).toBe(status.UNKNOWN);
  });

  it("states the deadline of DEADLINE_EXCEEDED", () => {
    expect(
      ArmadaError.from(
        { code: status.DEADLINE_EXCEEDED, details: "Deadline exceeded" },
        { deadlineMs: 1500, target: "a:1" },
      ).message,
    ).toContain("within the deadline of 1500 ms");
  });

  it("removes secrets and any Authorization value from messages", () => {
    const token = "eyJhbGciOiJIUzI1NiJ9.payload.sig";
    const e = ArmadaError.from(
      {
        code: status.UNAUTHENTICATED,
        details: `token ${token} expired; header was Bearer ${token} / Basic YWxpY2U6cHc=`,
      },
      { secrets: [token], target: "a:1" },
    );
    expect(e.message).not.toContain(token);
    expect(e.message).not.toContain("YWxpY2U6cHc=");
    expect(e.details).toContain("***");
    expect(e.message).toMatch(/rejected the credentials/);
  });

  it("names codes", () => {
    expect(grpcCodeName(status.RESOURCE_EXHAUSTED)).toBe("RESOURCE_EXHAUSTED");
    expect(grpcCodeName(42)).toBe("CODE_42");
  });

  it.each([
    [status.UNAVAILABLE, "connection reset", true],
    [status.DEADLINE_EXCEEDED, "Deadline exceeded", true],
    [status.RESOURCE_EXHAUSTED, "rate limited", true],
    [status.RESOURCE_EXHAUSTED, "Received message larger than max (5000000 vs. 4194304)", false],
    [status.INVALID_ARGUMENT, "bad", false],
    [status.PERMISSION_DENIED, 'could not find queue "q"', false],
    [status.INTERNAL, "boom", false],
    [status.UNKNOWN, "?", false],
  ])("isTransient of code %i (%s) is %s", (code, details, transient) => {
    const e = new ArmadaError({ code, details });
    expect(e.isTransient).toBe(transient);
    expect(ArmadaError.isTransient(e)).toBe(transient);
  });

  it("isTransient is false for anything that is not an ArmadaError", () => {
    expect(ArmadaError.isTransient(Object.assign(new Error("x"), { code: status.UNAVAILABLE }))).toBe(false);
    expect(ArmadaError.isTransient(undefined)).toBe(false);
  });
});
