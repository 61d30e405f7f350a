/**
 * The dev server's `api.Event` service: a job set's events from a message id
 * on, and (when watching) every new one as it is appended.
 */
import { status, type ServerWritableStream, type StatusObject } from "@grpc/grpc-js";
import type { EventServer, EventStreamMessage } from "../gen/armada/event.js";
import { DevRequestError } from "./dev-armada.js";
import type { GrpcContext, GrpcHandlerFactory } from "./grpc-handlers.js";

/**
 * Sends a job set's backlog and then, when watching, its new events, until the
 * client cancels, a write fails, an injected drop cuts it, or the server stops
 * (`ctx.streams` lets it end the stream).
 */
function streamEvents(
  ctx: GrpcContext,
  call: ServerWritableStream<unknown, EventStreamMessage>,
  queue: string,
  jobSetId: string,
  fromMessageId: string,
  watch: boolean,
  errorIfMissing: boolean,
): void {
  const a = ctx.armada();
  if (!queue) throw new DevRequestError("INVALID_ARGUMENT", "queue is a required field");
  if (!jobSetId) throw new DevRequestError("INVALID_ARGUMENT", "job set id is a required field");
  if (errorIfMissing && !a.events.has(queue, jobSetId)) {
    throw new DevRequestError("NOT_FOUND", `job set "${jobSetId}" in queue "${queue}" does not exist`);
  }
  const backlog = a.events.after(queue, jobSetId, fromMessageId);
  const dropAfter = ctx.faults.takeStreamDrop();
  let sent = 0;
  let closed = false;
  let unwatch = () => {};
  const close = (err?: Partial<StatusObject>) => {
    if (closed) return;
    closed = true;
    unwatch();
    ctx.streams.delete(call as ServerWritableStream<unknown, unknown>);
    if (err) call.emit("error", err);
    else call.end();
  };
  const send = (msg: EventStreamMessage) => {
    if (closed) return;
    try {
      call.write(msg);
    } catch {
      // The client went away between two events; watchers run inside job transitions, which must not fail.
      return close();
    }
    sent++;
    if (dropAfter !== undefined && sent >= dropAfter) {
      close({
        code: status.UNAVAILABLE,
        details: `injected fault: event stream dropped after ${sent} messages`,
      });
    }
  };
  if (dropAfter === 0)
    return close({ code: status.UNAVAILABLE, details: "injected fault: event stream dropped" });
  ctx.streams.add(call as ServerWritableStream<unknown, unknown>);
  call.on("cancelled", () => close());
  for (const msg of backlog) send(msg);
  if (closed) return;
  if (!watch) return close();
  unwatch = a.events.watch(queue, jobSetId, send);
}

/** The Event handlers: `Watch` is the older form of `GetJobSetEvents` with watch on. */
export function eventService(
  ctx: GrpcContext,
  { stream }: GrpcHandlerFactory,
  health: EventServer["health"],
): EventServer {
  return {
    getJobSetEvents: stream("GetJobSetEvents", (call) => {
      const r = call.request;
      streamEvents(ctx, call, r.queue, r.id, r.fromMessageId, r.watch, r.errorIfMissing);
    }),
    watch: stream("Watch", (call) => {
      const r = call.request;
      streamEvents(ctx, call, r.queue, r.jobSetId, r.fromId, true, false);
    }),
    health,
  };
}
