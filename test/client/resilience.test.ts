import { createServer as createTcpServer, type Server as TcpServer, type Socket } from "node:net";
import { status } from "@grpc/grpc-js";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import {
  ArmadaClient,
  ArmadaError,
  GrpcChannelArgs,
  isAmbiguousSubmitFailure,
} from "../../src/client/index.js";
import type { EventStreamMessage } from "../../src/gen/armada/event.js";
import { Queue } from "../../src/gen/armada/submit.js";
import { sleepUntil } from "../support/sleep-until.js";
import { FakeArmadaServer } from "./support/fake-armada-server.js";
import { TcpProxy } from "./support/tcp-proxy.js";

async function errorOf(p: Promise<unknown>): Promise<ArmadaError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(ArmadaError);
  return e as ArmadaError;
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = createTcpServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Keeps waking the client's backoff sleeps, as time passing would. */
function autoAdvance(clock: ManualClock): () => void {
  const timer = setInterval(() => {
    if (clock.pendingSleepers > 0) clock.advance(10_000);
  }, 1);
  return () => clearInterval(timer);
}

let server: FakeArmadaServer;
const cleanups: (() => unknown)[] = [];

beforeEach(async () => {
  server = await new FakeArmadaServer().start();
  server.queues.set("q", Queue.fromPartial({ name: "q" }));
});
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
  await server.stop();
});

function client(target = server.target, opts?: ConstructorParameters<typeof ArmadaClient>[1]): ArmadaClient {
  const c = new ArmadaClient(new GrpcChannelArgs({ target }), opts);
  cleanups.push(() => c.close());
  return c;
}

describe("bad weather", () => {
  it("fails fast with UNAVAILABLE naming the target when nothing listens", async () => {
    const target = `127.0.0.1:${await closedPort()}`;
    const c = client(target, { retry: { initialBackoffMs: 20, maxBackoffMs: 40 } });
    const started = Date.now();
    const e = await errorOf(c.getJobStatus({ jobIds: ["a"] }, { deadlineMs: 3_000 }));
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(e.code).toBe(status.UNAVAILABLE);
    expect(e.target).toBe(target);
    expect(e.message).toContain(`Armada server ${target} is unavailable`);
    // Never connected, so a submit cannot have reached a server.
    const s = await errorOf(
      c.submitJobs({ queue: "q", jobSetId: "s", jobRequestItems: [{}] }, { deadlineMs: 3_000 }),
    );
    expect(isAmbiguousSubmitFailure(s)).toBe(false);
  });

  it("reports DEADLINE_EXCEEDED with the deadline when the server never answers", async () => {
    const sockets: Socket[] = [];
    const silent: TcpServer = createTcpServer((sock) => void sockets.push(sock));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    cleanups.push(() => {
      for (const sock of sockets) sock.destroy();
      return new Promise<void>((r) => silent.close(() => r()));
    });
    const c = client(`127.0.0.1:${(silent.address() as { port: number }).port}`);
    const started = Date.now();
    const e = await errorOf(c.health({ deadlineMs: 300 }));
    expect(Date.now() - started).toBeLessThan(2_500);
    expect(e.code).toBe(status.DEADLINE_EXCEEDED);
    expect(e.message).toContain("within the deadline of 300 ms");
    expect(e.method).toBe("Health");
  });

  it("times out a call the server holds, and that submit failure is ambiguous", async () => {
    server.hold.add("SubmitJobs");
    const c = client();
    const e = await errorOf(
      c.submitJobs({ queue: "q", jobSetId: "s", jobRequestItems: [{}] }, { deadlineMs: 200 }),
    );
    expect(e.code).toBe(status.DEADLINE_EXCEEDED);
    expect(isAmbiguousSubmitFailure(e)).toBe(true);
    server.release();
  });

  it("classifies submit failures", () => {
    const err = (code: number, details = "") => new ArmadaError({ code, details });
    expect(isAmbiguousSubmitFailure(err(status.DEADLINE_EXCEEDED))).toBe(true);
    expect(isAmbiguousSubmitFailure(err(status.CANCELLED))).toBe(true);
    expect(isAmbiguousSubmitFailure(err(status.UNKNOWN))).toBe(true);
    expect(isAmbiguousSubmitFailure(err(status.INTERNAL))).toBe(true);
    expect(isAmbiguousSubmitFailure(err(status.UNAVAILABLE, "Connection dropped"))).toBe(true);
    expect(
      isAmbiguousSubmitFailure(
        err(status.UNAVAILABLE, "No connection established. Last error: connect ECONNREFUSED"),
      ),
    ).toBe(false);
    expect(isAmbiguousSubmitFailure(err(status.INVALID_ARGUMENT))).toBe(false);
    expect(isAmbiguousSubmitFailure(err(status.PERMISSION_DENIED))).toBe(false);
  });

  it("fails calls on a closed client clearly", async () => {
    const c = client();
    c.close();
    const e = await errorOf(c.health());
    expect(e.code).toBe(status.FAILED_PRECONDITION);
    expect(e.message).toContain("closed");
  });
});

describe("retries", () => {
  it("retries a read through transient UNAVAILABLE with backoff on the injected clock", async () => {
    let failures = 2;
    server.hook = (call) =>
      call.method === "GetJobStatus" && failures-- > 0
        ? { code: status.UNAVAILABLE, details: "overloaded" }
        : undefined;
    const clock = new ManualClock();
    const retries: string[] = [];
    const c = client(server.target, {
      clock,
      retry: { jitter: 0, initialBackoffMs: 100 },
      onRetry: (i) => retries.push(`${i.method}#${i.failures} ${i.delayMs}ms ${i.error.codeName}`),
    });
    const p = c.getJobStatus({ jobIds: ["x"] });
    await sleepUntil(() => clock.pendingSleepers === 1, "first backoff");
    expect(server.calls).toHaveLength(1);
    clock.advance(99);
    expect(clock.pendingSleepers).toBe(1); // not yet: the first wait is 100 ms
    clock.advance(1);
    await sleepUntil(() => clock.pendingSleepers === 1 && server.calls.length === 2, "second backoff");
    clock.advance(200); // doubled
    expect((await p).jobStates).toEqual({ x: 5 });
    expect(server.calls.map((x) => x.method)).toEqual(["GetJobStatus", "GetJobStatus", "GetJobStatus"]);
    expect(retries).toEqual(["GetJobStatus#1 100ms UNAVAILABLE", "GetJobStatus#2 200ms UNAVAILABLE"]);
  });

  it("gives up after maxAttempts with the last error", async () => {
    server.hook = () => ({ code: status.RESOURCE_EXHAUSTED, details: "rate limited" });
    const clock = new ManualClock();
    cleanups.push(autoAdvance(clock));
    const c = client(server.target, { clock, retry: { maxAttempts: 3 } });
    const e = await errorOf(c.getJobDetails({ jobIds: ["x"] }));
    expect(e.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(e.details).toBe("rate limited");
    expect(server.calls).toHaveLength(3);
  });

  it("never retries SubmitJobs, and flags a post-send UNAVAILABLE as ambiguous", async () => {
    server.hook = (call) =>
      call.method === "SubmitJobs" ? { code: status.UNAVAILABLE, details: "transport closing" } : undefined;
    const clock = new ManualClock();
    cleanups.push(autoAdvance(clock));
    const c = client(server.target, { clock });
    const e = await errorOf(
      c.submitJobs({ queue: "q", jobSetId: "s", jobRequestItems: [{ namespace: "default" }] }),
    );
    expect(e.code).toBe(status.UNAVAILABLE);
    expect(e.method).toBe("SubmitJobs");
    expect(server.calls).toHaveLength(1);
    expect(isAmbiguousSubmitFailure(e)).toBe(true);
  });

  it("retries getQueues before the first queue arrives", async () => {
    let failures = 1;
    server.hook = (call) =>
      call.method === "GetQueues" && failures-- > 0
        ? { code: status.UNAVAILABLE, details: "starting" }
        : undefined;
    const clock = new ManualClock();
    cleanups.push(autoAdvance(clock));
    const names: string[] = [];
    for await (const q of client(server.target, { clock }).getQueues()) names.push(q.name);
    expect(names).toEqual(["q"]);
    expect(server.calls.map((x) => x.method)).toEqual(["GetQueues", "GetQueues"]);
  });

  it("does not retry non-transient errors", async () => {
    server.hook = () => ({ code: status.PERMISSION_DENIED, details: "not your queue" });
    const c = client();
    const e = await errorOf(c.getJobErrors({ jobIds: ["x"] }));
    expect(e.code).toBe(status.PERMISSION_DENIED);
    expect(e.message).toMatch(/not allowed/);
    expect(server.calls).toHaveLength(1);
  });
});

describe("abort", () => {
  it("rejects a unary call with CANCELLED when its signal aborts", async () => {
    server.hold.add("GetJobStatus");
    const c = client();
    const ac = new AbortController();
    const p = c.getJobStatus({ jobIds: ["x"] }, { signal: ac.signal });
    await sleepUntil(() => server.parkedCalls === 1, "call parked");
    ac.abort();
    const e = await errorOf(p);
    expect(e.code).toBe(status.CANCELLED);
    expect(e.message).toContain("aborted by the caller");
    server.release();
  });

  it("does not start a call whose signal is already aborted", async () => {
    const c = client();
    const e = await errorOf(c.health({ signal: AbortSignal.abort() }));
    expect(e.code).toBe(status.CANCELLED);
    expect(server.calls).toHaveLength(0);
  });

  it("aborts a backoff wait", async () => {
    server.hook = () => ({ code: status.UNAVAILABLE, details: "down" });
    const clock = new ManualClock();
    const c = client(server.target, { clock });
    const ac = new AbortController();
    const p = c.getJobStatus({ jobIds: ["x"] }, { signal: ac.signal });
    await sleepUntil(() => clock.pendingSleepers === 1, "backoff");
    ac.abort();
    expect((await errorOf(p)).code).toBe(status.CANCELLED);
  });

  it("rejects getQueues with CANCELLED on abort", async () => {
    server.hook = (call) =>
      call.method === "GetQueues" ? { code: status.UNAVAILABLE, details: "down" } : undefined;
    const clock = new ManualClock();
    const c = client(server.target, { clock });
    const ac = new AbortController();
    const it = c.getQueues({}, { signal: ac.signal });
    const p = it.next();
    await sleepUntil(() => clock.pendingSleepers === 1, "backoff");
    ac.abort();
    expect((await errorOf(p)).code).toBe(status.CANCELLED);
  });
});

describe("compression", () => {
  it("gzips messages when asked (fewer bytes on the wire, same result)", async () => {
    const sizes: Record<string, number> = {};
    for (const compression of [null, "gzip"] as const) {
      const proxy = await new TcpProxy(server.port).start();
      cleanups.push(() => proxy.stop());
      const c = new ArmadaClient(new GrpcChannelArgs({ target: proxy.target, compression }));
      cleanups.push(() => c.close());
      const big = "x".repeat(200_000);
      await c.createQueue({ name: `big-${compression}`, labels: { big } });
      expect(server.queues.get(`big-${compression}`)!.labels["big"]).toBe(big);
      sizes[String(compression)] = proxy.bytesFromClients;
    }
    expect(sizes["null"]).toBeGreaterThan(200_000);
    expect(sizes["gzip"]).toBeLessThan(20_000);
  });
});

describe("job-set event stream", () => {
  function addEvents(n: number, queue = "q", jobSet = "s"): void {
    for (let i = 0; i < n; i++) {
      server.addEvent(queue, jobSet, {
        events: {
          $case: "queued",
          value: { jobId: `job-${i}`, jobSetId: jobSet, queue, created: new Date(0) },
        },
      } as never);
    }
  }
  const ids = (evs: EventStreamMessage[]) => evs.map((e) => e.id);

  it("reads a finished job set to the end", async () => {
    addEvents(5);
    const got: EventStreamMessage[] = [];
    for await (const e of client().getJobSetEvents({ queue: "q", id: "s" })) got.push(e);
    expect(ids(got)).toEqual(["msg-1", "msg-2", "msg-3", "msg-4", "msg-5"]);
  });

  it("resumes after the connection breaks mid-stream: no event lost, none repeated", async () => {
    addEvents(3);
    const proxy = await new TcpProxy(server.port).start();
    cleanups.push(() => proxy.stop());
    const clock = new ManualClock();
    cleanups.push(autoAdvance(clock));
    const c = new ArmadaClient(new GrpcChannelArgs({ target: proxy.target }), { clock });
    cleanups.push(() => c.close());
    const ac = new AbortController();
    const got: EventStreamMessage[] = [];
    const done = (async () => {
      for await (const e of c.getJobSetEvents({ queue: "q", id: "s", watch: true }, { signal: ac.signal }))
        got.push(e);
    })();
    await sleepUntil(() => got.length === 3, "first events");
    proxy.dropAll();
    addEvents(4); // happen while the client is disconnected
    await sleepUntil(() => got.length === 7, "events after reconnect");
    addEvents(2);
    await sleepUntil(() => got.length === 9, "live events");
    ac.abort();
    await done; // ends cleanly
    expect(ids(got)).toEqual(Array.from({ length: 9 }, (_, i) => `msg-${i + 1}`));
    expect(proxy.connections).toBeGreaterThanOrEqual(2);
    const reopened = server.calls
      .filter((x) => x.method === "GetJobSetEvents")
      .map((x) => (x.request as { fromMessageId: string }).fromMessageId);
    expect(reopened[0]).toBe("");
    expect(reopened.at(-1)).toBe("msg-3");
    await sleepUntil(() => server.openWatchers === 0, "server stream closed");
  });

  it("resumes after the server ends the stream with UNAVAILABLE", async () => {
    addEvents(6);
    let broken = false;
    server.breakEventStreamAfter = (ev) => !broken && ev.id === "msg-2" && (broken = true);
    const clock = new ManualClock();
    cleanups.push(autoAdvance(clock));
    const got: EventStreamMessage[] = [];
    for await (const e of client(server.target, { clock }).getJobSetEvents({
      queue: "q",
      id: "s",
      fromMessageId: "",
    }))
      got.push(e);
    expect(ids(got)).toEqual(["msg-1", "msg-2", "msg-3", "msg-4", "msg-5", "msg-6"]);
    expect(server.calls.map((x) => (x.request as { fromMessageId: string }).fromMessageId)).toEqual([
      "",
      "msg-2",
    ]);
  });

  it("with resume: false, a broken stream throws UNAVAILABLE", async () => {
    addEvents(3);
    server.breakEventStreamAfter = (ev) => ev.id === "msg-1";
    const got: EventStreamMessage[] = [];
    const e = await errorOf(
      (async () => {
        for await (const ev of client().getJobSetEvents({ queue: "q", id: "s" }, { resume: false }))
          got.push(ev);
      })(),
    );
    expect(e.code).toBe(status.UNAVAILABLE);
    expect(e.method).toBe("GetJobSetEvents");
    expect(ids(got)).toEqual(["msg-1"]);
  });

  it("starts after fromMessageId and ends cleanly when aborted while waiting", async () => {
    addEvents(3);
    const ac = new AbortController();
    const got: EventStreamMessage[] = [];
    const done = (async () => {
      for await (const e of client().getJobSetEvents(
        { queue: "q", id: "s", watch: true, fromMessageId: "msg-1" },
        { signal: ac.signal },
      ))
        got.push(e);
    })();
    await sleepUntil(() => got.length === 2, "events");
    ac.abort();
    await expect(done).resolves.toBeUndefined();
    expect(ids(got)).toEqual(["msg-2", "msg-3"]);
  });

  it("stops the server stream when the consumer breaks out of the loop", async () => {
    addEvents(3);
    for await (const e of client().getJobSetEvents({ queue: "q", id: "s", watch: true })) {
      if (e.id === "msg-2") break;
    }
    await sleepUntil(() => server.openWatchers === 0, "server stream closed");
  });

  it("bounds a watch stream by its deadline", async () => {
    addEvents(1);
    const got: EventStreamMessage[] = [];
    const e = await errorOf(
      (async () => {
        for await (const ev of client().getJobSetEvents(
          { queue: "q", id: "s", watch: true },
          { deadlineMs: 300 },
        ))
          got.push(ev);
      })(),
    );
    expect(e.code).toBe(status.DEADLINE_EXCEEDED);
    expect(e.message).toContain("300 ms");
    expect(ids(got)).toEqual(["msg-1"]);
  });

  it("does not resume on a non-transient error", async () => {
    const e = await errorOf(
      (async () => {
        for await (const _ of client().getJobSetEvents({ queue: "q", id: "s", fromMessageId: "no-such-id" }))
          void _;
      })(),
    );
    expect(e.code).toBe(status.INVALID_ARGUMENT);
    expect(server.calls).toHaveLength(1);
  });
});

afterAll(() => undefined);

describe("channel options", () => {
  it("passes gRPC channel options to grpc-js (a receive limit makes a big answer fail, once)", async () => {
    server.queues.set("big", Queue.fromPartial({ name: "big", labels: { blob: "y".repeat(50_000) } }));
    const c = new ArmadaClient(
      new GrpcChannelArgs({ target: server.target, options: [["grpc.max_receive_message_length", 10_000]] }),
    );
    cleanups.push(() => c.close());
    const e = await errorOf(c.getQueue({ name: "big" }));
    expect(e.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(e.message).toContain("grpc.max_receive_message_length");
    expect(server.calls.filter((x) => x.method === "GetQueue")).toHaveLength(1);
    const roomy = new ArmadaClient(
      new GrpcChannelArgs({ target: server.target, options: [["grpc.max_receive_message_length", 1 << 20]] }),
    );
    cleanups.push(() => roomy.close());
    expect((await roomy.getQueue({ name: "big" })).labels["blob"]).toHaveLength(50_000);
  });
});
