/** The dev server's `api.RetryPolicyService`: named retry policies that queues refer to. */
import type { RetryPolicyServiceServer } from "../gen/armada/submit.js";
import type { GrpcContext, GrpcHandlerFactory } from "./grpc-handlers.js";

/** The RetryPolicyService handlers. */
export function retryPolicyService(
  ctx: GrpcContext,
  { unary }: GrpcHandlerFactory,
): RetryPolicyServiceServer {
  return {
    createRetryPolicy: unary("CreateRetryPolicy", (p) => (ctx.armada().retryPolicies.create(p), {})),
    updateRetryPolicy: unary("UpdateRetryPolicy", (p) => (ctx.armada().retryPolicies.update(p), {})),
    deleteRetryPolicy: unary("DeleteRetryPolicy", (req) => (ctx.armada().deleteRetryPolicy(req.name), {})),
    getRetryPolicy: unary("GetRetryPolicy", (req) => ctx.armada().retryPolicies.get(req.name)),
    getRetryPolicies: unary("GetRetryPolicies", () => ({ retryPolicies: ctx.armada().retryPolicies.list() })),
  };
}
