/**
 * The one wrapper every dev-server gRPC handler goes through: it counts the
 * call, checks credentials and applies injected faults before the real work,
 * and turns what the work throws into a gRPC status.
 */
import {
  status,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type Metadata,
  type ServerErrorResponse,
  type ServerWritableStream,
  type StatusObject,
} from "@grpc/grpc-js";
import type { Clock } from "../common/clock.js";
import type { JobState } from "../gen/armada/submit.js";
import {
  jobStateName as apiJobStateName,
  type JobStateName as ApiJobStateName,
} from "../client/job-states.js";
import { checkAuthorization, type DevAuthOptions } from "./auth.js";
import { DevRequestError, type DevArmada } from "./dev-armada.js";
import { UnknownMessageIdError } from "./event-log.js";
import type { CallFaults, GrpcMethodName } from "./faults.js";

/** What the handlers need from the server around them. */
export interface GrpcContext {
  /** The current state (a getter: a restart swaps it). */
  armada(): DevArmada;
  faults: CallFaults;
  counts: Map<string, number>;
  auth?: DevAuthOptions;
  clock: Clock;
  /** Open event streams, so stopping the server can end them. */
  streams: Set<ServerWritableStream<unknown, unknown>>;
}

/** Builds handlers that are admitted (counted, authorized, faulted) before they run. */
export interface GrpcHandlerFactory {
  /** A unary handler: `fn`'s result is the response, what it throws the error status. */
  unary<Req, Res>(name: GrpcMethodName, fn: (req: Req, principal: string) => Res): handleUnaryCall<Req, Res>;
  /** A server-streaming handler: `fn` writes to and ends the call; what it throws ends it with an error. */
  stream<Req, Res>(
    name: GrpcMethodName,
    fn: (call: ServerWritableStream<Req, Res>, principal: string) => void,
  ): handleServerStreamingCall<Req, Res>;
}

const CODE: Record<DevRequestError["code"], status> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  NOT_FOUND: status.NOT_FOUND,
  ALREADY_EXISTS: status.ALREADY_EXISTS,
  FAILED_PRECONDITION: status.FAILED_PRECONDITION,
  PERMISSION_DENIED: status.PERMISSION_DENIED,
};

function toStatus(err: unknown): Partial<StatusObject> {
  if (err instanceof DevRequestError) return { code: CODE[err.code], details: err.message };
  if (err instanceof UnknownMessageIdError) return { code: status.INVALID_ARGUMENT, details: err.message };
  return { code: status.INTERNAL, details: `dev server error: ${(err as Error)?.message ?? String(err)}` };
}

/** The name of a job state a request gives; a number no state has is the caller's mistake. */
export function jobStateName(state: JobState): ApiJobStateName {
  const name = apiJobStateName(state);
  if (name === "UNRECOGNIZED")
    throw new DevRequestError("INVALID_ARGUMENT", `${state} is not a JobState value`);
  return name;
}

function authHeader(md: Metadata): string | undefined {
  const v = md.get("authorization")[0];
  return v === undefined ? undefined : v.toString();
}

/** The handler builders of one server, bound to its context. */
export function grpcHandlerFactory(ctx: GrpcContext): GrpcHandlerFactory {
  const admit = async (
    name: GrpcMethodName,
    md: Metadata,
  ): Promise<{ principal: string } | Partial<StatusObject>> => {
    ctx.counts.set(name, (ctx.counts.get(name) ?? 0) + 1);
    const auth = checkAuthorization(ctx.auth, authHeader(md));
    if (!auth.ok) return { code: status.UNAUTHENTICATED, details: auth.message };
    const delay = ctx.faults.latencyOf(name);
    if (delay > 0) await ctx.clock.sleep(delay);
    const fault = ctx.faults.takeFailure(name);
    if (fault) return fault;
    return { principal: auth.principal };
  };

  return {
    unary(name, fn) {
      return (call, callback) => {
        void admit(name, call.metadata).then((a) => {
          if (!("principal" in a)) return callback(a as ServerErrorResponse);
          try {
            callback(null, fn(call.request, a.principal as string));
          } catch (err) {
            callback(toStatus(err) as ServerErrorResponse);
          }
        });
      };
    },
    stream(name, fn) {
      return (call) => {
        void admit(name, call.metadata).then((a) => {
          if (!("principal" in a)) return call.emit("error", a);
          try {
            fn(call, a.principal as string);
          } catch (err) {
            call.emit("error", toStatus(err));
          }
        });
      };
    },
  };
}
