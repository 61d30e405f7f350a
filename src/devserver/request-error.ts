import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { ErrorCode } from "../common/error-code.js";

/**
 * A request-level refusal: the whole gRPC call fails with this status, and
 * nothing of the request is stored (as a real Armada refuses a request).
 */

/** gRPC status names the dev server answers a refused request with. */
export type DevRequestErrorCode =
  "INVALID_ARGUMENT" | "NOT_FOUND" | "ALREADY_EXISTS" | "FAILED_PRECONDITION" | "PERMISSION_DENIED";

const FAMILY_CODE: Record<DevRequestErrorCode, ErrorCode> = {
  INVALID_ARGUMENT: ErrorCode.InvalidArgument,
  NOT_FOUND: ErrorCode.NotFound,
  ALREADY_EXISTS: ErrorCode.AlreadyExists,
  FAILED_PRECONDITION: ErrorCode.FailedPrecondition,
  PERMISSION_DENIED: ErrorCode.PermissionDenied,
};

/** A request-level error (the whole gRPC call fails) with the gRPC status name to use. */
export class DevRequestError extends ArmadaAirflowError {
  constructor(
    /** The gRPC status name the call fails with (`errorCode` is the same, in the family's spelling). */
    readonly code: DevRequestErrorCode,
    message: string,
  ) {
    super(FAMILY_CODE[code], message);
    this.name = "DevRequestError";
  }
}
