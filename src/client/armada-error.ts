import { status as GrpcStatus } from "@grpc/grpc-js";
import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { errorCodeOfGrpcStatus } from "../common/error-code.js";
import { redactSecrets } from "../common/secrets-masker.js";

/** Where a failed call was going; used to write an actionable message. */
export interface ArmadaErrorContext {
  /** RPC name, e.g. `SubmitJobs`. */
  method?: string;
  /** The channel target, e.g. `armada.example.com:50051`. */
  target?: string;
  /** The deadline the call had, in milliseconds, if any. */
  deadlineMs?: number;
  /** Strings that must never appear in the message (tokens, passwords). */
  secrets?: readonly string[];
}

/** Fields of an {@link ArmadaError}. */
export interface ArmadaErrorInit extends ArmadaErrorContext {
  /** The gRPC status code (`@grpc/grpc-js` `status`). */
  code: number;
  /** What the server or transport said, secrets removed. */
  details?: string;
  /** The underlying error. */
  cause?: unknown;
  /** Whole message to use instead of the generated one (still scrubbed of secrets). */
  message?: string;
  /** Path of the offending input value, for INVALID_ARGUMENT raised by the client itself. */
  field?: string;
}

const codeNames: Record<number, string> = Object.fromEntries(
  Object.entries(GrpcStatus)
    .filter(([, v]) => typeof v === "number")
    .map(([k, v]) => [v as number, k]),
);

/** The name of a gRPC status code (`14` -> `UNAVAILABLE`). */
export function grpcCodeName(code: number): string {
  return codeNames[code] ?? `CODE_${code}`;
}

/** `text` without any secret: the registered ones, `secrets`, and any echoed Authorization value. */
function scrub(text: string, secrets: readonly string[] | undefined): string {
  return redactSecrets(text, { also: secrets, authorizationValues: true });
}

function hint(code: number, ctx: ArmadaErrorContext): string {
  const target = ctx.target ?? "the Armada server";
  switch (code) {
    case GrpcStatus.UNAVAILABLE:
      return `Armada server ${target} is unavailable. Check that the target host and port are right, the server is running and reachable from here, and that TLS is used only if the server expects it.`;
    case GrpcStatus.UNAUTHENTICATED:
      return `Armada server ${target} rejected the credentials. Check that the token or password is current and belongs to this server (a bearer token may have expired; refresh it or use a TokenRetriever or OIDC auth that refreshes it).`;
    case GrpcStatus.PERMISSION_DENIED:
      return `The credentials are valid but not allowed to do this on ${target}; ask the queue owner for permission.`;
    case GrpcStatus.DEADLINE_EXCEEDED:
      return ctx.deadlineMs !== undefined
        ? `No answer from ${target} within the deadline of ${ctx.deadlineMs} ms. Raise deadlineMs or check the server's load.`
        : `No answer from ${target} before the deadline. Raise deadlineMs or check the server's load.`;
    case GrpcStatus.CANCELLED:
      return "The call was cancelled before it finished.";
    case GrpcStatus.UNIMPLEMENTED:
      return `${target} does not implement this method; check that the target is an Armada server of a compatible version.`;
    case GrpcStatus.RESOURCE_EXHAUSTED:
      return `${target} is rate limiting or the message is too large (see the grpc.max_receive_message_length channel option).`;
    default:
      return "";
  }
}

function isGrpcStatusError(e: unknown): e is { code: number; details?: string; message?: string } {
  return typeof e === "object" && e !== null && typeof (e as { code?: unknown }).code === "number";
}

/**
 * The one error type of the Armada client: a gRPC status code with the method
 * and target it concerns and a message a person can act on. Secrets never
 * appear in the message or `details`. A member of the
 * {@link ArmadaAirflowError} family: `errorCode` is the status in the family's
 * spelling (`14` -> `unavailable`), and whether a retry may help is decided
 * here, in the client, by {@link ArmadaError.isTransient}.
 */
export class ArmadaError extends ArmadaAirflowError {
  /** gRPC status code (see `@grpc/grpc-js` `status`). */
  readonly code: number;
  /** Name of {@link ArmadaError.code}, e.g. `UNAVAILABLE`. */
  readonly codeName: string;
  /** RPC name, when the error came from a call. */
  readonly method: string | undefined;
  /** Channel target, when known. */
  readonly target: string | undefined;
  /** The server's or transport's own words, secrets removed. */
  readonly details: string;
  /** Path of the offending input value (client-side validation errors only). */
  readonly field: string | undefined;

  constructor(init: ArmadaErrorInit) {
    const codeName = grpcCodeName(init.code);
    const details = scrub(init.details ?? "", init.secrets);
    const where = init.method ? `${init.method}` : "Armada call";
    const parts = [`${where} failed: ${codeName}`];
    if (details) parts[0] += `: ${details}`;
    const h = hint(init.code, init);
    if (h) parts.push(h);
    const message =
      init.message !== undefined ? scrub(init.message, init.secrets) : parts.join(". ").replace(/\.\./g, ".");
    super(errorCodeOfGrpcStatus(init.code), message, { cause: init.cause });
    this.name = "ArmadaError";
    this.code = init.code;
    this.codeName = codeName;
    this.method = init.method;
    this.target = init.target;
    this.details = details;
    this.field = init.field;
  }

  /**
   * Whether the same call may well succeed if made again a little later:
   * the server was unreachable (UNAVAILABLE), slow (DEADLINE_EXCEEDED) or
   * rate limiting (RESOURCE_EXHAUSTED, but not a message over the size limit,
   * which stays over it). Says nothing about whether a write took effect; see
   * {@link isAmbiguousSubmitFailure} for that.
   */
  get isTransient(): boolean {
    if (this.code === GrpcStatus.RESOURCE_EXHAUSTED) return !/larger than max/i.test(this.details);
    return this.code === GrpcStatus.UNAVAILABLE || this.code === GrpcStatus.DEADLINE_EXCEEDED;
  }

  /** {@link ArmadaError.isTransient} of `err` when it is an ArmadaError; false for anything else. */
  static isTransient(err: unknown): boolean {
    return err instanceof ArmadaError && err.isTransient;
  }

  /**
   * Converts anything thrown by the transport into an ArmadaError. An
   * ArmadaError passes through unchanged; a gRPC status error keeps its code;
   * an abort becomes CANCELLED; anything else becomes UNKNOWN.
   */
  static from(err: unknown, ctx: ArmadaErrorContext = {}): ArmadaError {
    if (err instanceof ArmadaError) return err;
    if (isGrpcStatusError(err) && err.code >= 0 && err.code <= 16) {
      return new ArmadaError({ ...ctx, code: err.code, details: err.details ?? err.message, cause: err });
    }
    if (err instanceof Error && (err.name === "AbortError" || err.name === "TimeoutError")) {
      return new ArmadaError({
        ...ctx,
        code: GrpcStatus.CANCELLED,
        details: "aborted by the caller",
        cause: err,
      });
    }
    const msg = err instanceof Error ? err.message : String(err);
    return new ArmadaError({ ...ctx, code: GrpcStatus.UNKNOWN, details: msg, cause: err });
  }
}

/** Transport messages meaning no connection was ever made, so the request cannot have been sent. */
const NOT_SENT =
  /No connection established|Name resolution failed|failed to connect|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|waiting for LB pick|Getting metadata from plugin failed/i;

/**
 * Whether a failed `submitJobs` may nevertheless have created jobs on the
 * server. Such a failure must not be answered by submitting again blindly:
 * look the job up by its external job URI first. DEADLINE_EXCEEDED,
 * CANCELLED, UNKNOWN and INTERNAL are ambiguous, and so is UNAVAILABLE unless
 * the transport says it never connected.
 */
export function isAmbiguousSubmitFailure(err: unknown): boolean {
  if (!(err instanceof ArmadaError)) return err !== undefined && err !== null;
  switch (err.code) {
    case GrpcStatus.DEADLINE_EXCEEDED:
    case GrpcStatus.CANCELLED:
    case GrpcStatus.UNKNOWN:
    case GrpcStatus.INTERNAL:
      return true;
    case GrpcStatus.UNAVAILABLE:
      return !NOT_SENT.test(err.details);
    default:
      return false;
  }
}
