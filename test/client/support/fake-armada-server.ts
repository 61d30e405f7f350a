/**
 * An in-process Armada gRPC server for client tests: in-memory jobs, queues
 * and job-set events, with hooks a test can set to misbehave (fail calls,
 * drop streams, check credentials).
 */
import {
  Server,
  ServerCredentials,
  status,
  type Metadata,
  type ServerErrorResponse,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
} from "@grpc/grpc-js";
import {
  EventService,
  type EventServer,
  type EventStreamMessage,
  type JobSetRequest,
} from "../../../src/gen/armada/event.js";
import { HealthCheckResponse_ServingStatus } from "../../../src/gen/armada/health.js";
import {
  JobsService,
  type JobsServer,
  type JobDetails,
  type JobRunDetails,
} from "../../../src/gen/armada/job.js";
import {
  JobState,
  QueueServiceService,
  SubmitService,
  type QueueServiceServer,
  type SubmitServer,
  type JobSubmitRequest,
  type JobSubmitRequestItem,
  type Queue,
} from "../../../src/gen/armada/submit.js";

/** One call as the server saw it. */
export interface SeenCall {
  method: string;
  request: unknown;
  metadata: Record<string, string>;
}

/** What a hook may answer: undefined to proceed, or an error to fail the call with. */
export type Hook = (call: SeenCall) => { code: number; details: string } | undefined;

export interface FakeJob {
  id: string;
  queue: string;
  jobSetId: string;
  item: JobSubmitRequestItem;
  state: JobState;
  error?: string;
  runs: JobRunDetails[];
}

function grpcError(code: number, details: string): ServerErrorResponse {
  return Object.assign(new Error(details), { code, details }) as ServerErrorResponse;
}

function md(m: Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.getMap())) out[k] = String(v);
  return out;
}

export class FakeArmadaServer {
  readonly server = new Server();
  readonly calls: SeenCall[] = [];
  readonly queues = new Map<string, Queue>();
  readonly jobs = new Map<string, FakeJob>();
  /** Events per `queue/jobSetId`. */
  readonly events = new Map<string, EventStreamMessage[]>();
  /** Runs before every call; return an error to fail it. */
  hook: Hook | undefined;
  /** Called while streaming events, after each message sent; return true to break the stream with UNAVAILABLE. */
  breakEventStreamAfter: ((sent: EventStreamMessage, call: SeenCall) => boolean) | undefined;
  /** Methods whose calls are parked until {@link FakeArmadaServer.release} (to test deadlines and abort). */
  readonly hold = new Set<string>();
  private parked: (() => void)[] = [];
  /** Open watch streams, woken when events are added. */
  private watchers = new Set<() => void>();
  private nextId = 1;
  port = 0;

  private see(
    method: string,
    request: unknown,
    metadata: Metadata,
  ): { seen: SeenCall; err?: ServerErrorResponse } {
    const seen = { method, request, metadata: md(metadata) };
    this.calls.push(seen);
    const r = this.hook?.(seen);
    return r ? { seen, err: grpcError(r.code, r.details) } : { seen };
  }

  private unary<Req, Res>(method: string, impl: (req: Req, seen: SeenCall) => Res) {
    return (call: ServerUnaryCall<Req, Res>, cb: sendUnaryData<Res>) => {
      const { seen, err } = this.see(method, call.request, call.metadata);
      if (err) return cb(err);
      const answer = () => {
        try {
          cb(null, impl(call.request, seen));
        } catch (e) {
          cb(e as ServerErrorResponse);
        }
      };
      if (this.hold.has(method)) this.parked.push(answer);
      else answer();
    };
  }

  private newJobId(): string {
    return `01job${String(this.nextId++).padStart(6, "0")}`;
  }

  /** Appends an event to a job set's stream, with a fresh message id. */
  addEvent(queue: string, jobSetId: string, message: EventStreamMessage["message"]): EventStreamMessage {
    const key = `${queue}/${jobSetId}`;
    const list = this.events.get(key) ?? [];
    const ev = { id: `msg-${list.length + 1}`, message };
    list.push(ev);
    this.events.set(key, list);
    for (const w of this.watchers) w();
    return ev;
  }

  private submitImpl(req: JobSubmitRequest) {
    return {
      jobResponseItems: req.jobRequestItems.map((item) => {
        if (!this.queues.has(req.queue)) return { jobId: "", error: `queue ${req.queue} does not exist` };
        const id = this.newJobId();
        this.jobs.set(id, {
          id,
          queue: req.queue,
          jobSetId: req.jobSetId,
          item,
          state: JobState.QUEUED,
          runs: [],
        });
        this.addEvent(req.queue, req.jobSetId, {
          events: {
            $case: "submitted",
            value: {
              jobId: id,
              jobSetId: req.jobSetId,
              queue: req.queue,
              created: new Date(),
              job: undefined,
            },
          },
        } as EventStreamMessage["message"]);
        return { jobId: id, error: "" };
      }),
    };
  }

  private details(j: FakeJob): JobDetails {
    return {
      jobId: j.id,
      queue: j.queue,
      jobset: j.jobSetId,
      namespace: j.item.namespace,
      state: j.state,
      submittedTs: new Date(Date.UTC(2024, 0, 1)),
      cancelTs: undefined,
      cancelReason: "",
      lastTransitionTs: new Date(Date.UTC(2024, 0, 1, 0, 1)),
      latestRunId: j.runs.at(-1)?.runId ?? "",
      jobSpec: undefined,
      jobRuns: j.runs,
      cancelUser: "",
    } as JobDetails;
  }

  private addServices(): void {
    const submit: SubmitServer = {
      submitJobs: this.unary("SubmitJobs", (r: JobSubmitRequest) => this.submitImpl(r)),
      cancelJobs: this.unary("CancelJobs", (r: { jobId: string; jobIds: string[] }) => {
        const ids = [...r.jobIds, ...(r.jobId ? [r.jobId] : [])].filter((id) => this.jobs.has(id));
        for (const id of ids) this.jobs.get(id)!.state = JobState.CANCELLED;
        return { cancelledIds: ids };
      }),
      cancelJobSet: this.unary("CancelJobSet", (r: { queue: string; jobSetId: string }) => {
        for (const j of this.jobs.values())
          if (j.queue === r.queue && j.jobSetId === r.jobSetId) j.state = JobState.CANCELLED;
        return {};
      }),
      reprioritizeJobs: this.unary("ReprioritizeJobs", (r: { jobIds: string[]; newPriority: number }) => {
        const results: Record<string, string> = {};
        for (const id of r.jobIds) {
          const j = this.jobs.get(id);
          if (j) j.item.priority = r.newPriority;
          else results[id] = "job not found";
        }
        return { reprioritizationResults: results };
      }),
      preemptJobs: this.unary("PreemptJobs", (r: { jobIds: string[] }) => {
        for (const id of r.jobIds) {
          const j = this.jobs.get(id);
          if (j) j.state = JobState.PREEMPTED;
        }
        return { preemptionResults: {} };
      }),
      health: this.unary("Health", () => ({ status: HealthCheckResponse_ServingStatus.SERVING })),
      // The legacy queue methods on Submit are not used by the client.
      createQueue: this.unary("Submit.CreateQueue", () => {
        throw grpcError(status.UNIMPLEMENTED, "use QueueService");
      }),
      createQueues: this.unary("Submit.CreateQueues", () => {
        throw grpcError(status.UNIMPLEMENTED, "use QueueService");
      }),
      updateQueue: this.unary("Submit.UpdateQueue", () => {
        throw grpcError(status.UNIMPLEMENTED, "use QueueService");
      }),
      updateQueues: this.unary("Submit.UpdateQueues", () => {
        throw grpcError(status.UNIMPLEMENTED, "use QueueService");
      }),
      deleteQueue: this.unary("Submit.DeleteQueue", () => {
        throw grpcError(status.UNIMPLEMENTED, "use QueueService");
      }),
      getQueue: this.unary("Submit.GetQueue", () => {
        throw grpcError(status.UNIMPLEMENTED, "use QueueService");
      }),
      getQueues: (call) => call.emit("error", grpcError(status.UNIMPLEMENTED, "use QueueService")),
    } as SubmitServer;
    const queues: QueueServiceServer = {
      createQueue: this.unary("CreateQueue", (q: Queue) => {
        if (this.queues.has(q.name)) throw grpcError(status.ALREADY_EXISTS, `queue ${q.name} already exists`);
        this.queues.set(q.name, q);
        return {};
      }),
      createQueues: this.unary("CreateQueues", (l: { queues: Queue[] }) => {
        const failedQueues = [];
        for (const q of l.queues) {
          if (this.queues.has(q.name)) failedQueues.push({ queue: q, error: "already exists" });
          else this.queues.set(q.name, q);
        }
        return { failedQueues };
      }),
      updateQueue: this.unary("UpdateQueue", (q: Queue) => {
        if (!this.queues.has(q.name)) throw grpcError(status.NOT_FOUND, `queue ${q.name} not found`);
        this.queues.set(q.name, q);
        return {};
      }),
      updateQueues: this.unary("UpdateQueues", (l: { queues: Queue[] }) => {
        const failedQueues = [];
        for (const q of l.queues) {
          if (!this.queues.has(q.name)) failedQueues.push({ queue: q, error: "not found" });
          else this.queues.set(q.name, q);
        }
        return { failedQueues };
      }),
      deleteQueue: this.unary("DeleteQueue", (r: { name: string }) => {
        this.queues.delete(r.name);
        return {};
      }),
      getQueue: this.unary("GetQueue", (r: { name: string }) => {
        const q = this.queues.get(r.name);
        if (!q) throw grpcError(status.NOT_FOUND, `queue ${r.name} not found`);
        return q;
      }),
      getQueues: (call) => {
        const { err } = this.see("GetQueues", call.request, call.metadata);
        if (err) return call.emit("error", err);
        for (const q of this.queues.values()) call.write({ event: { $case: "queue", value: q } });
        call.write({ event: { $case: "end", value: {} } });
        call.end();
      },
    } as QueueServiceServer;
    const jobs: JobsServer = {
      getJobStatus: this.unary("GetJobStatus", (r: { jobIds: string[] }) => ({
        jobStates: Object.fromEntries(
          r.jobIds.map((id) => [id, this.jobs.get(id)?.state ?? JobState.UNKNOWN]),
        ),
      })),
      getJobStatusUsingExternalJobUri: this.unary(
        "GetJobStatusUsingExternalJobUri",
        (r: { queue: string; jobset: string; externalJobUri: string }) => ({
          jobStates: Object.fromEntries(
            [...this.jobs.values()]
              .filter(
                (j) =>
                  j.queue === r.queue &&
                  j.jobSetId === r.jobset &&
                  j.item.externalJobUri === r.externalJobUri,
              )
              .map((j) => [j.id, j.state]),
          ),
        }),
      ),
      getJobDetails: this.unary("GetJobDetails", (r: { jobIds: string[] }) => ({
        jobDetails: Object.fromEntries(
          r.jobIds.filter((id) => this.jobs.has(id)).map((id) => [id, this.details(this.jobs.get(id)!)]),
        ),
      })),
      getJobErrors: this.unary("GetJobErrors", (r: { jobIds: string[] }) => ({
        jobErrors: Object.fromEntries(r.jobIds.map((id) => [id, this.jobs.get(id)?.error ?? ""])),
      })),
      getJobRunDetails: this.unary("GetJobRunDetails", (r: { runIds: string[] }) => {
        const all = [...this.jobs.values()].flatMap((j) => j.runs);
        return {
          jobRunDetails: Object.fromEntries(
            all.filter((run) => r.runIds.includes(run.runId)).map((run) => [run.runId, run]),
          ),
        };
      }),
      getActiveQueues: this.unary("GetActiveQueues", () => ({
        activeQueuesByPool: {
          default: {
            queues: [
              ...new Set(
                [...this.jobs.values()].filter((j) => j.state === JobState.RUNNING).map((j) => j.queue),
              ),
            ],
          },
        },
      })),
    } as JobsServer;
    const event: EventServer = {
      getJobSetEvents: (call: ServerWritableStream<JobSetRequest, EventStreamMessage>) =>
        this.streamEvents(call),
      watch: (call) => call.emit("error", grpcError(status.UNIMPLEMENTED, "deprecated")),
      health: this.unary("EventHealth", () => ({ status: HealthCheckResponse_ServingStatus.SERVING })),
    } as EventServer;
    this.server.addService(SubmitService, submit);
    this.server.addService(QueueServiceService, queues);
    this.server.addService(JobsService, jobs);
    this.server.addService(EventService, event);
  }

  private streamEvents(call: ServerWritableStream<JobSetRequest, EventStreamMessage>): void {
    const { seen, err } = this.see("GetJobSetEvents", call.request, call.metadata);
    if (err) return void call.emit("error", err);
    const r = call.request;
    const key = `${r.queue}/${r.id}`;
    let cursor = 0;
    if (r.fromMessageId) {
      const list = this.events.get(key) ?? [];
      const idx = list.findIndex((e) => e.id === r.fromMessageId);
      if (idx < 0)
        return void call.emit(
          "error",
          grpcError(status.INVALID_ARGUMENT, `unknown message id ${r.fromMessageId}`),
        );
      cursor = idx + 1;
    }
    let done = false;
    const pump = () => {
      if (done) return;
      const list = this.events.get(key) ?? [];
      while (cursor < list.length) {
        const ev = list[cursor++]!;
        call.write(ev);
        if (this.breakEventStreamAfter?.(ev, seen)) {
          done = true;
          this.watchers.delete(pump);
          call.emit("error", grpcError(status.UNAVAILABLE, "stream broken by test"));
          return;
        }
      }
      if (!r.watch) {
        done = true;
        this.watchers.delete(pump);
        call.end();
      }
    };
    call.on("cancelled", () => {
      done = true;
      this.watchers.delete(pump);
    });
    if (r.watch) this.watchers.add(pump);
    pump();
  }

  /** Answers every parked call. */
  release(): void {
    const p = this.parked;
    this.parked = [];
    for (const a of p) a();
  }

  /** Number of parked calls. */
  get parkedCalls(): number {
    return this.parked.length;
  }

  /** Number of open watch streams. */
  get openWatchers(): number {
    return this.watchers.size;
  }

  /** Binds to 127.0.0.1:0 (or `port`) and starts. */
  async start(creds: ServerCredentials = ServerCredentials.createInsecure(), port = 0): Promise<this> {
    this.addServices();
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(`127.0.0.1:${port}`, creds, (e, p) => (e ? reject(e) : resolve(p))),
    );
    return this;
  }

  get target(): string {
    return `127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    this.server.forceShutdown();
  }
}
