/**
 * The codes of the armada-airflow error family. The first sixteen are gRPC's
 * status codes (spelled as gRPC names them, in lower case), so an error from
 * the Armada API and one raised here for the same reason share a code; the
 * rest name what only this library does (configuration, templates, the task
 * store, Armada jobs that did not succeed).
 */
export const ErrorCode = {
  /** The operation was cancelled, usually by the caller. */
  Cancelled: "cancelled",
  /** An error with no better code (an unexpected value thrown, an unknown gRPC status). */
  Unknown: "unknown",
  /** The caller gave a value that can never work; the message names it and the fix. */
  InvalidArgument: "invalid_argument",
  /** The deadline passed before the operation finished. */
  DeadlineExceeded: "deadline_exceeded",
  /** Something named does not exist (a job, a queue, a task instance). */
  NotFound: "not_found",
  /** Something to create exists already. */
  AlreadyExists: "already_exists",
  /** The caller is not allowed to do this. */
  PermissionDenied: "permission_denied",
  /** A quota, rate or size limit was hit. */
  ResourceExhausted: "resource_exhausted",
  /** The system is not in a state the operation needs (a stopped server, a file in use). */
  FailedPrecondition: "failed_precondition",
  /** The operation was aborted, typically by a concurrent one. */
  Aborted: "aborted",
  /** A value outside its valid range. */
  OutOfRange: "out_of_range",
  /** The operation is not implemented or not supported. */
  Unimplemented: "unimplemented",
  /** An invariant broke: a bug here or in the server. */
  Internal: "internal",
  /** The service cannot be reached now; trying again later may work. */
  Unavailable: "unavailable",
  /** Data was lost or corrupted. */
  DataLoss: "data_loss",
  /** The credentials are missing, wrong or expired. */
  Unauthenticated: "unauthenticated",

  /** Configuration (environment, config file, options) that cannot be used. */
  Config: "config",
  /** A template could not be rendered. */
  Template: "template",
  /** A value could not be serialized or deserialized. */
  Serde: "serde",
  /** A DAG could not be defined or loaded. */
  Dag: "dag",
  /** The task store failed. */
  Store: "store",
  /** The task store's schema is newer than this code. */
  StoreTooNew: "store_too_new",
  /** A task ran out of time. */
  Timeout: "timeout",
  /** A task was killed. */
  Killed: "killed",
  /** A concurrent change won (a compare-and-set lost). */
  Conflict: "conflict",
  /** A pool has no room, or does not exist. */
  Pool: "pool",
  /** An Armada job ended in a state other than SUCCEEDED. */
  JobFailed: "job_failed",
  /** Armada refused a submitted job (a definite answer: the same request is refused again). */
  SubmitRefused: "submit_refused",
  /** An Armada job could not be cancelled. */
  CancelFailed: "cancel_failed",
} as const;

/** One of the {@link ErrorCode} values. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const ALL_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

/** True when `value` is one of the {@link ErrorCode} values. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && ALL_CODES.has(value);
}

// gRPC status numbers 1..16, in order; 0 (OK) is not an error.
const GRPC_CODES: readonly ErrorCode[] = [
  ErrorCode.Cancelled,
  ErrorCode.Unknown,
  ErrorCode.InvalidArgument,
  ErrorCode.DeadlineExceeded,
  ErrorCode.NotFound,
  ErrorCode.AlreadyExists,
  ErrorCode.PermissionDenied,
  ErrorCode.ResourceExhausted,
  ErrorCode.FailedPrecondition,
  ErrorCode.Aborted,
  ErrorCode.OutOfRange,
  ErrorCode.Unimplemented,
  ErrorCode.Internal,
  ErrorCode.Unavailable,
  ErrorCode.DataLoss,
  ErrorCode.Unauthenticated,
];

/** The code of a gRPC status number (`14` -> `unavailable`); `unknown` for 0 and numbers gRPC does not define. */
export function errorCodeOfGrpcStatus(status: number): ErrorCode {
  return GRPC_CODES[status - 1] ?? ErrorCode.Unknown;
}
