/**
 * The dev server's `api.QueueService`: queue CRUD, cordoning, and
 * preempting or cancelling every job of a queue.
 */
import type { Queue, QueueServiceServer, StreamingQueueMessage } from "../gen/armada/submit.js";
import { jobStateName, type GrpcContext, type GrpcHandlerFactory } from "./grpc-handlers.js";

/**
 * Applies `apply` to each queue of a batch request; as in Armada, one queue's
 * failure is reported beside it and does not stop the others.
 */
function eachQueue(queues: Queue[], apply: (q: Queue) => void): { queue: Queue; error: string }[] {
  return queues.flatMap((q) => {
    try {
      apply(q);
      return [];
    } catch (err) {
      return [{ queue: q, error: (err as Error).message }];
    }
  });
}

/** The QueueService handlers (the Submit service serves the CRUD ones again under its own name). */
export function queueService(ctx: GrpcContext, { unary, stream }: GrpcHandlerFactory): QueueServiceServer {
  return {
    createQueue: unary("CreateQueue", (q) => (ctx.armada().createQueue(q), {})),
    createQueues: unary("CreateQueues", (list) => ({
      failedQueues: eachQueue(list.queues, (q) => ctx.armada().createQueue(q)),
    })),
    updateQueue: unary("UpdateQueue", (q) => (ctx.armada().updateQueue(q), {})),
    updateQueues: unary("UpdateQueues", (list) => ({
      failedQueues: eachQueue(list.queues, (q) => ctx.armada().updateQueue(q)),
    })),
    deleteQueue: unary("DeleteQueue", (req) => (ctx.armada().deleteQueue(req.name), {})),
    getQueue: unary("GetQueue", (req) => ctx.armada().getQueue(req.name)),
    getQueues: stream("GetQueues", (call) => {
      const all = ctx.armada().listQueues();
      const n = call.request.num > 0 ? Math.min(call.request.num, all.length) : all.length;
      for (let i = 0; i < n; i++)
        call.write({ event: { $case: "queue", value: all[i] } } satisfies StreamingQueueMessage);
      call.write({ event: { $case: "end", value: {} } } satisfies StreamingQueueMessage);
      call.end();
    }),
    cordonQueue: unary("CordonQueue", (req) => {
      const q = ctx.armada().getQueue(req.name);
      ctx.armada().updateQueue({ ...q, cordoned: true });
      return {};
    }),
    uncordonQueue: unary("UncordonQueue", (req) => {
      const q = ctx.armada().getQueue(req.name);
      ctx.armada().updateQueue({ ...q, cordoned: false });
      return {};
    }),
    preemptOnQueue: unary("PreemptOnQueue", (req, principal) => {
      const a = ctx.armada();
      a.getQueue(req.name);
      const ids = a
        .allJobs()
        .filter(
          (j) =>
            j.queue === req.name && (j.state === "LEASED" || j.state === "PENDING" || j.state === "RUNNING"),
        )
        .map((j) => j.id);
      a.preempt(ids, "preempted on queue request", principal);
      return {};
    }),
    cancelOnQueue: unary("CancelOnQueue", (req, principal) => {
      const a = ctx.armada();
      a.getQueue(req.name);
      const states = new Set(req.jobStates.map((s) => jobStateName(s)));
      const ids = a
        .allJobs()
        .filter((j) => j.queue === req.name && (states.size === 0 ? true : states.has(j.state)))
        .map((j) => j.id);
      a.cancel(ids, "cancelled on queue request", principal);
      return {};
    }),
  };
}
