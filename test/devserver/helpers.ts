/** Shared helpers of the dev server tests: raw generated gRPC clients and job builders. */
import { credentials, Metadata, type ChannelCredentials, type ClientReadableStream } from "@grpc/grpc-js";
import type { HealthCheckResponse } from "../../src/gen/armada/health.js";
import { EventClient, type EventStreamMessage, type JobSetRequest } from "../../src/gen/armada/event.js";
import { JobsClient } from "../../src/gen/armada/job.js";
import {
  JobSubmitRequestItem,
  QueueServiceClient,
  SubmitClient,
  type DeepPartial,
} from "../../src/gen/armada/submit.js";
import { Container, PodSpec } from "../../src/gen/k8s.io/api/core/v1/generated.js";

/** Promisifies a generated unary method. */
export function call<Req, Res>(client: object, method: string, req: Req, metadata?: Metadata): Promise<Res> {
  return new Promise((resolve, reject) => {
    const fn = (client as Record<string, (...a: unknown[]) => unknown>)[method].bind(client);
    const cb = (err: Error | null, res: Res) => (err ? reject(err) : resolve(res));
    if (metadata) fn(req, metadata, cb);
    else fn(req, cb);
  });
}

/** Generated clients for one target. */
export function clients(target: string, creds: ChannelCredentials = credentials.createInsecure()) {
  const submit = new SubmitClient(target, creds);
  const jobs = new JobsClient(target, creds);
  const events = new EventClient(target, creds);
  const queues = new QueueServiceClient(target, creds);
  return {
    submit,
    jobs,
    events,
    queues,
    close() {
      submit.close();
      jobs.close();
      events.close();
      queues.close();
    },
  };
}

/**
 * Resolves once the server behind `c` answers a Health call: the readiness
 * signal to wait for after a (re)start, before the calls a test makes. The
 * call waits for the channel to connect (`waitForReady`) instead of failing
 * fast, so a channel still backing off from the restart gap reconnects first.
 * The deadline is only a safety net for a server that never comes up.
 */
export function untilServing(
  c: ReturnType<typeof clients>,
  safetyNetMs = 60_000,
): Promise<HealthCheckResponse> {
  return new Promise((resolve, reject) =>
    c.submit.health(
      {},
      // grpc-js takes waitForReady as a metadata option, not a call option.
      new Metadata({ waitForReady: true }),
      { deadline: Date.now() + safetyNetMs },
      (err: Error | null, res: HealthCheckResponse) => (err ? reject(err) : resolve(res)),
    ),
  );
}

/** A container spec in the proto form (1 CPU, 1Gi requested unless overridden). */
export function container(name: string, command: string[], extra: DeepPartial<Container> = {}): Container {
  return Container.fromPartial({
    name,
    image: "busybox:latest",
    command,
    resources: {
      requests: { cpu: { string: "1" }, memory: { string: "1Gi" } },
      limits: { cpu: { string: "1" }, memory: { string: "1Gi" } },
    },
    ...extra,
  });
}

/** A job request item with one pod (override anything). */
export function jobItem(
  overrides: DeepPartial<JobSubmitRequestItem> = {},
  containers: Container[] = [container("main", ["sh", "-c", "echo hello && sleep 5"])],
): JobSubmitRequestItem {
  return JobSubmitRequestItem.fromPartial({
    namespace: "default",
    podSpecs: [PodSpec.fromPartial({ containers })],
    ...overrides,
  });
}

/** Reads a whole (non-watch) event stream. */
export function readEvents(events: EventClient, req: Partial<JobSetRequest>): Promise<EventStreamMessage[]> {
  return new Promise((resolve, reject) => {
    const out: EventStreamMessage[] = [];
    const s: ClientReadableStream<EventStreamMessage> = events.getJobSetEvents({
      id: "",
      watch: false,
      fromMessageId: "",
      queue: "",
      errorIfMissing: false,
      ...req,
    });
    s.on("data", (m: EventStreamMessage) => out.push(m));
    s.on("error", reject);
    s.on("end", () => resolve(out));
  });
}

/** The `$case` names of a list of events. */
export function kinds(events: EventStreamMessage[]): string[] {
  return events.map((e) => e.message?.events?.$case ?? "?");
}
