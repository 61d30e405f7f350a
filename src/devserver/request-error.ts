/**
 * A request-level refusal: the whole gRPC call fails with this status, and
 * nothing of the request is stored (as a real Armada refuses a request).
 */

/** gRPC status names the dev server answers a refused request with. */
export type DevRequestErrorCode =
  "INVALID_ARGUMENT" | "NOT_FOUND" | "ALREADY_EXISTS" | "FAILED_PRECONDITION" | "PERMISSION_DENIED";

/** A request-level error (the whole gRPC call fails) with the gRPC status name to use. */
export class DevRequestError extends Error {
  constructor(
    readonly code: DevRequestErrorCode,
    message: string,
  ) {
    super(message);
  }
}
