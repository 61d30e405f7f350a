/**
 * JobSetWatches on a scripted stream source: where a broken stream resumes,
 * when it is given up, the per-process cap, and refcounted closing.
 */
import { status } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import { ArmadaError } from "../../src/client/armada-error.js";
import type { EventStreamMessage } from "../../src/gen/armada/event.js";
import { JobSetWatches, type OpenJobSetStream } from "../../src/operator/job-set-watch.js";
import { JobState } from "../../src/client/job-states.js";
import { sleepUntil } from "../support/sleep-until.js";

/** One opened stream: the test pushes events into it, breaks or ends it. */
class ScriptedStream implements AsyncIterable<EventStreamMessage> {
  private queue: (EventStreamMessage | Error | "end")[] = [];
  private wake: (() => void) | undefined;
  constructor(
    readonly queueName: string,
    readonly jobSetId: string,
    readonly fromMessageId: string,
    private readonly signal: AbortSignal,
  ) {
    signal.addEventListener("abort", () => this.wake?.());
  }
  push(item: EventStreamMessage | Error | "end"): void {
    this.queue.push(item);
    this.wake?.();
  }
  async *[Symbol.asyncIterator](): AsyncIterator<EventStreamMessage> {
    for (;;) {
      if (this.signal.aborted) return;
      const item = this.queue.shift();
      if (item === undefined) {
        await new Promise<void>((r) => (this.wake = r));
        continue;
      }
      if (item === "end") return;
      if (item instanceof Error) throw item;
      yield item;
    }
  }
}

let seq = 0;
function event(jobId: string, kind: "leased" | "running" | "succeeded"): EventStreamMessage {
  const base = { jobId, jobSetId: "js", queue: "q", created: undefined };
  const events =
    kind === "succeeded"
      ? {
          $case: "succeeded" as const,
          value: {
            ...base,
            clusterId: "",
            kubernetesId: "",
            nodeName: "",
            podNumber: 0,
            podName: "",
            podNamespace: "",
          },
        }
      : kind === "running"
        ? {
            $case: "running" as const,
            value: {
              ...base,
              clusterId: "",
              kubernetesId: "",
              nodeName: "",
              podNumber: 0,
              podName: "",
              podNamespace: "",
              pool: "",
            },
          }
        : {
            $case: "leased" as const,
            value: {
              ...base,
              clusterId: "",
              pool: "",
              podRequirementsOverlay: undefined,
              node: "",
              hasScheduledNode: false,
            },
          };
  return { id: `${++seq}-0`, message: { events } as EventStreamMessage["message"] };
}

const unavailable = () =>
  new ArmadaError({ code: status.UNAVAILABLE, method: "GetJobSetEvents", details: "dropped" });

class Notices {
  lines: string[] = [];
  info = (m: string) => void this.lines.push(m);
  warn = (m: string) => void this.lines.push(m);
  error = (m: string) => void this.lines.push(m);
}

const registries: JobSetWatches[] = [];
afterEach(() => {
  for (const r of registries.splice(0)) r.closeAll();
});

function setup(o: { max?: number; lingerMs?: number; retryBudget?: number } = {}) {
  const clock = new ManualClock();
  const opened: ScriptedStream[] = [];
  const open: OpenJobSetStream = (queue, jobSetId, from, signal) => {
    const s = new ScriptedStream(queue, jobSetId, from, signal);
    opened.push(s);
    return s;
  };
  const log = new Notices();
  const watches = new JobSetWatches(open, {
    clock,
    log,
    target: "armada:50051",
    maxStreams: () => o.max ?? 100,
    lingerMs: o.lingerMs ?? 0,
    retryBudget: o.retryBudget ?? 5,
    backoffMs: 500,
  });
  registries.push(watches);
  return { clock, opened, log, watches };
}

describe("JobSetWatches", () => {
  it("wakes a job's subscribers on its events only, with the state the latest event implies", async () => {
    const { opened, watches } = setup();
    const a = watches.subscribe("q", "js", "job-a")!;
    const b = watches.subscribe("q", "js", "job-b")!;
    expect(opened).toHaveLength(1);
    let bWoke = false;
    void b.next().then(() => (bWoke = true));
    opened[0]!.push(event("job-a", "leased"));
    opened[0]!.push(event("job-a", "running"));
    await a.next();
    expect(a.eventState).toBe(JobState.RUNNING);
    expect(b.eventState).toBeUndefined();
    expect(bWoke).toBe(false);
  });

  it("onNext calls its callback once per wake-up, as next() resolves: at once for an event already read, a later call replacing an earlier one", async () => {
    const { opened, watches } = setup();
    const a = watches.subscribe("q", "js", "job-a")!;
    const woke: string[] = [];
    a.onNext(() => woke.push("first"));
    a.onNext(() => woke.push("second")); // replaces the first, not yet called
    opened[0]!.push(event("job-a", "leased"));
    await sleepUntil(() => woke.length > 0, "the first wake-up");
    expect(woke).toEqual(["second"]);
    // Events read while nobody waited wake the next waiter a microtask later, not inside the call.
    opened[0]!.push(event("job-a", "running"));
    await sleepUntil(() => a.eventState === JobState.RUNNING, "the second event read");
    a.onNext(() => woke.push("third"));
    expect(woke).toEqual(["second"]);
    await Promise.resolve();
    expect(woke).toEqual(["second", "third"]);
    expect(a.eventState).toBe(JobState.RUNNING);
    // Nothing new since: the next waiter waits.
    a.onNext(() => woke.push("fourth"));
    await new Promise((r) => setImmediate(r));
    expect(woke).toEqual(["second", "third"]);
  });

  it("re-opens a broken stream after its backoff from the last message id, and hears what came meanwhile", async () => {
    const { clock, opened, watches } = setup();
    const sub = watches.subscribe("q", "js", "job-a")!;
    const first = event("job-a", "leased");
    opened[0]!.push(first);
    await sub.next();
    opened[0]!.push(unavailable());
    await sleepUntil(() => watches.streamFailures === 1, "the break");
    expect(opened).toHaveLength(1); // waiting out the backoff on the clock
    clock.advance(500);
    await sleepUntil(() => opened.length === 2, "the re-open");
    expect(opened[1]!.fromMessageId).toBe(first.id);
    opened[1]!.push(event("job-a", "succeeded"));
    await sub.next();
    expect(sub.eventState).toBe(JobState.SUCCEEDED);
    expect(sub.fallenBack).toBe(false);
  });

  it("gives a stream up after more consecutive failures than its budget, saying so once, and its waiters poll", async () => {
    const { clock, opened, log, watches } = setup({ retryBudget: 2 });
    const sub = watches.subscribe("q", "js", "job-a")!;
    for (let i = 0; i < 3; i++) {
      await sleepUntil(() => opened.length === i + 1, `stream ${i + 1}`);
      opened[i]!.push(unavailable());
      await sleepUntil(() => watches.streamFailures === i + 1, `failure ${i + 1}`);
      clock.advance(10_000);
    }
    await sub.next();
    expect(sub.fallenBack).toBe(true);
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]).toMatch(
      /Gave up the event stream of job set js \(queue q\) after 3 failure\(s\).*polling/,
    );
    // While its waiters remain, the job set is polled: no new stream, nothing said again.
    expect(watches.subscribe("q", "js", "job-b")).toBeUndefined();
    expect(opened).toHaveLength(3);
    expect(log.lines).toHaveLength(1);
  });

  it("opens at most max_event_streams streams per process; beyond it, subscribers poll and the log says so once", () => {
    const { opened, log, watches } = setup({ max: 2 });
    expect(watches.subscribe("q", "js-1", "a")).toBeDefined();
    expect(watches.subscribe("q", "js-2", "b")).toBeDefined();
    expect(watches.subscribe("q", "js-1", "c")).toBeDefined(); // joins an open stream
    expect(watches.subscribe("q", "js-3", "d")).toBeUndefined();
    expect(watches.subscribe("q", "js-4", "e")).toBeUndefined();
    expect(opened).toHaveLength(2);
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]).toMatch(/max_event_streams \(2\)/);
  });

  it("closes a stream when its last subscriber leaves (after the linger), and re-opens it from where it was", async () => {
    const { clock, opened, watches } = setup({ lingerMs: 5000 });
    const a = watches.subscribe("q", "js", "a")!;
    const b = watches.subscribe("q", "js", "b")!;
    const last = event("a", "running");
    opened[0]!.push(last);
    await a.next();
    a.close({ linger: true });
    b.close({ linger: true });
    expect(watches.openStreams).toBe(1); // lingering
    const again = watches.subscribe("q", "js", "a")!; // a task that deferred again keeps it
    again.close({ linger: true });
    clock.advance(5000);
    await sleepUntil(() => watches.openStreams === 0, "the close");
    const back = watches.subscribe("q", "js", "a")!;
    expect(opened).toHaveLength(2);
    expect(opened[1]!.fromMessageId).toBe(last.id);
    // Left without linger (its job ended): closed at once, no clock needed.
    back.close();
    await sleepUntil(() => watches.openStreams === 0, "the close without linger");
  });

  it("keeps the stream for a waiter that will be back even when the others then leave for good, and says when a stream missed earlier events", async () => {
    const { clock, opened, watches } = setup({ lingerMs: 5000 });
    const a = watches.subscribe("q", "js", "a")!;
    const b = watches.subscribe("q", "js", "b")!;
    expect(a.sawEveryEvent).toBe(true); // read from the job set's start
    a.close({ linger: true }); // a's task resumes on a move and will defer again
    opened[0]!.push(event("a", "succeeded")); // a's job ends before its trigger is back
    b.close(); // b's job ended: b leaves for good, the last to leave
    await sleepUntil(() => watches.subscribers === 0, "both left");
    expect(watches.openStreams).toBe(1); // kept for a
    const back = watches.subscribe("q", "js", "a")!;
    await sleepUntil(() => back.eventState === JobState.SUCCEEDED, "a's end, read while it was away");
    expect(opened).toHaveLength(1);
    back.close({ linger: true });
    clock.advance(5000);
    await sleepUntil(() => watches.openStreams === 0, "the close after the linger");
    // Re-opened from its resume point: what it read before is not known to the new stream.
    const later = watches.subscribe("q", "js", "a")!;
    expect(opened).toHaveLength(2);
    expect(later.sawEveryEvent).toBe(false);
    expect(later.eventState).toBeUndefined();
    later.close();
  });
});
