/**
 * The dev server's gRPC surface: Submit, QueueService, RetryPolicyService, Jobs, Event and Health,
 * implemented on the generated grpc-js service definitions. Every handler goes
 * through one wrapper ({@link grpcHandlerFactory}) that counts the call, checks
 * credentials and applies injected faults before the real work; each service's
 * handlers are in a file of their own.
 */
import type { Server } from "@grpc/grpc-js";
import { EventService } from "../gen/armada/event.js";
import { HealthCheckResponse_ServingStatus } from "../gen/armada/health.js";
import { JobsService } from "../gen/armada/job.js";
import { QueueServiceService, RetryPolicyServiceService, SubmitService } from "../gen/armada/submit.js";
import { grpcHandlerFactory, type GrpcContext } from "./grpc-handlers.js";
import { eventService } from "./grpc-event-service.js";
import { jobsService } from "./grpc-jobs-service.js";
import { queueService } from "./grpc-queue-service.js";
import { retryPolicyService } from "./grpc-retry-policy-service.js";
import { submitService } from "./grpc-submit-service.js";

export type { GrpcContext } from "./grpc-handlers.js";

/** Registers all Armada services on `server`. */
export function addArmadaServices(server: Server, ctx: GrpcContext): void {
  const handlers = grpcHandlerFactory(ctx);
  // Submit and Event both serve the health check: one handler for the two.
  const health = handlers.unary("Health", () => ({ status: HealthCheckResponse_ServingStatus.SERVING }));
  const queues = queueService(ctx, handlers);
  server.addService(SubmitService, submitService(ctx, handlers, queues, health));
  server.addService(RetryPolicyServiceService, retryPolicyService(ctx, handlers));
  server.addService(QueueServiceService, queues);
  server.addService(JobsService, jobsService(ctx, handlers));
  server.addService(EventService, eventService(ctx, handlers, health));
}
