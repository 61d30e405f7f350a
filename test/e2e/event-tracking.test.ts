/**
 * Event-stream tracking (operator option `tracking: "events"`) against the
 * dev server: deferred tasks wake on their job's events through one shared
 * `GetJobSetEvents` watch per job set, confirm with one batched status call,
 * survive a broken stream, fall back to polling on a server without watch,
 * and never end on a wrong or lost event. Time is the harness's ManualClock,
 * moved by hand; RPCs are counted on the dev server.
 */
import { status } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { ArmadaHook, closeArmadaHookClients } from "../../src/operator/hook.js";
import type { ArmadaOperatorOptions } from "../../src/operator/armada-operator.js";
import type { JobSetWatches } from "../../src/operator/job-set-watch.js";
import type { LogSink } from "../../src/operator/task-log.js";
import { DAG } from "../../src/runtime/dag.js";
import { sleepUntil } from "../support/sleep-until.js";
import { startEnv, type Env } from "./harness.js";

let env: Env | undefined;
afterEach(async () => {
  await env?.stop();
  env = undefined;
  // Streams of a stopped server would keep retrying on a clock nobody moves.
  closeArmadaHookClients();
});

/** Records channel-wide notices (fallbacks) of the hook. */
class NoticeLog implements LogSink {
  lines: string[] = [];
  info = (m: string) => void this.lines.push(`INFO ${m}`);
  warn = (m: string) => void this.lines.push(`WARN ${m}`);
  error = (m: string) => void this.lines.push(`ERROR ${m}`);
}

const PARKED = new Set(["deferred", "success", "failed", "upstream_failed", "skipped"]);
const POLL_S = 60;

interface Started {
  e: Env;
  dag: DAG;
  notices: NoticeLog;
  finished: () => string | undefined;
  watches: JobSetWatches;
  done: Promise<string>;
  calls: (method: string) => number;
  states: () => Promise<string[]>;
  /**
   * Waits until every task is deferred, its trigger waits (on its job set's
   * stream, unless `polling`) and the RPC counts stay put.
   */
  settled: (what: string, polling?: boolean) => Promise<void>;
}

/**
 * Starts one DAG run of `n` deferrable tasks with event tracking; jobs run
 * `jobS` seconds. Time stands still until the test moves it.
 */
async function start(
  n: number,
  o: {
    jobS?: number;
    overrides?: (i: number) => Partial<ArmadaOperatorOptions>;
    faults?: (e: Env) => void;
  } = {},
): Promise<Started> {
  const notices = new NoticeLog();
  const e = (env = await startEnv({ hook: { log: notices } }));
  o.faults?.(e);
  const dag = new DAG({ dagId: "events" });
  for (let i = 0; i < n; i++) {
    e.operator(`t${i}`, dag, {
      deferrable: true,
      tracking: "events",
      pollInterval: POLL_S,
      jobRequest: {
        podSpec: {
          containers: [
            {
              name: "main",
              image: "busybox",
              args: ["sleep", String(o.jobS ?? 3)],
              resources: { requests: { cpu: "10m", memory: "8Mi" } },
            },
          ],
        },
      },
      ...o.overrides?.(i),
    });
  }
  await e.runner.createDagRun(dag, { runId: "r1" });
  let finished: string | undefined;
  const done = e.runner.runDagRun(dag, "r1").then((s) => (finished = s));
  const calls = (m: string) => e.server.callCounts()[m] ?? 0;
  const states = async () => (await e.store.listTaskInstances("events", "r1")).map((t) => t.state);
  // The channel is shared: this hook and the operators' (in the runner's pool) reach the same streams (and
  // notices go to `notices`).
  const watches = new ArmadaHook(e.channelArgs, { pool: e.pool, clock: e.clock, log: notices }).eventStreams;
  const settled = async (what: string, polling = false) => {
    let last = "";
    // Settled: every task parked, and the RPC counts unchanged across two looks (no confirmation in flight).
    await sleepUntil(
      async () => {
        if (finished !== undefined) return true;
        const s = await states();
        const now = JSON.stringify([
          calls("GetJobStatus"),
          calls("GetJobSetEvents"),
          e.clock.pendingSleepers,
          s,
        ]);
        // Watching: every deferred task's trigger joined, and the stream's call reached the server.
        const waiting =
          polling ||
          (watches.subscribers === s.filter((x) => x === "deferred").length && calls("GetJobSetEvents") >= 1);
        const ok = s.length === n && s.every((x) => PARKED.has(x)) && waiting && now === last;
        last = now;
        return ok;
      },
      () => `${what} (states ${last})`,
    );
  };
  return { e, dag, notices, watches, finished: () => finished, done, calls, states, settled };
}

/** The deferred tasks' job ids, from their XCom job contexts. */
async function jobIds(e: Env, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      ((await e.xcom("events", "r1", `t${i}`, "job_context")) as { armada_job_id: string }).armada_job_id,
    );
  }
  return out;
}

describe("event-stream tracking", () => {
  it("a deferred task ends on its job's terminal event, with one status call (the confirmation) and no poll round", async () => {
    const t = await start(1);
    await t.settled("task deferred, watching its job set");
    expect(t.calls("GetJobSetEvents")).toBe(1);
    const statusBefore = t.calls("GetJobStatus");
    // Well short of the 60 s poll interval (and of max_quiet_s): only the event can wake the trigger.
    t.e.clock.advance(10_000);
    await sleepUntil(() => t.finished() !== undefined, "the run to end on the job's event");
    expect(t.finished()).toBe("success");
    expect(t.e.server.jobs().map((j) => j.state)).toEqual(["SUCCEEDED"]);
    // One batched call confirmed the end; the resumed task read that answer instead of calling again.
    expect(t.calls("GetJobStatus") - statusBefore).toBe(1);
    expect(t.calls("GetJobSetEvents")).toBe(1);
    expect(t.notices.lines).toEqual([]);
  });

  it("a task that does not defer checks at once when its job's event comes, not only every poll interval", async () => {
    const t = await start(1, { overrides: () => ({ deferrable: false }) });
    await sleepUntil(() => t.watches.subscribers === 1, "the running task to join its job set's stream");
    t.e.clock.advance(10_000); // the job ends; the task's 60 s poll sleep is far from over
    await sleepUntil(() => t.finished() !== undefined, "the run to end on the event");
    expect(t.finished()).toBe("success");
    expect(t.calls("GetJobSetEvents")).toBe(1);
    await sleepUntil(() => t.watches.openStreams === 0, "the stream to close with the task");
  });

  it("30 tasks on one job set share one stream, across state changes and re-deferrals, and it closes after them", async () => {
    const n = 30;
    const t = await start(n);
    await t.settled("all tasks deferred");
    expect(t.e.server.jobs()).toHaveLength(n);
    const afterStart = t.calls("GetJobStatus");
    // Every job starts running: each trigger writes the step into its task's log and waits on (no resume).
    t.e.clock.advance(1000);
    await sleepUntil(
      async () => t.e.logLines().filter((l) => /is in state: RUNNING/.test(l)).length === n,
      "all RUNNING",
    );
    await t.settled("all tasks deferred again");
    t.e.clock.advance(10_000);
    await sleepUntil(() => t.finished() !== undefined, "the run to end");
    expect(t.finished()).toBe("success");
    // No resume at all: the step to RUNNING was logged by the trigger, and on its job's end the trigger ended the
    // task with its result (end_from_trigger).
    expect(t.e.logLines().filter((l) => /^Resuming .* after deferral/.test(l))).toHaveLength(0);
    expect(t.e.logLines().filter((l) => /terminated with state: SUCCEEDED/.test(l))).toHaveLength(n);
    expect(t.e.logLines().filter((l) => l === "Trigger ended the task: marking task as SUCCESS")).toHaveLength(n);
    expect(t.calls("GetJobSetEvents"), "one stream for the job set").toBe(1);
    // Confirmations of tasks woken together share calls: far fewer than one per task per change.
    // (2 changes x 30 tasks would be 60 calls; how many windows the events spread over depends on the machine.)
    expect(t.calls("GetJobStatus") - afterStart).toBeLessThan(n);
    // Closed when the last task's job ended (no linger: nobody will come back), so a finished process can exit.
    await sleepUntil(() => t.watches.openStreams === 0, "the stream to close once nobody waits");
  });

  it("a stream broken mid-way resumes after its backoff and does not miss the job's end, which came meanwhile", async () => {
    // The first stream breaks after three events, before the job ends.
    const t = await start(1, { faults: (e) => e.server.faults.dropEventStreamAfter(3) });
    await t.settled("task deferred");
    const watches = t.watches;
    const statusBefore = t.calls("GetJobStatus");
    t.e.clock.advance(300); // the job is leased: the third event, and the stream breaks
    await sleepUntil(() => watches.streamFailures === 1, "the stream to break");
    // While it waits out its backoff, the job runs and ends; then the stream re-opens after the last event it read.
    t.e.clock.advance(10_000);
    await sleepUntil(() => t.finished() !== undefined, "the run to end on the replayed event");
    expect(t.finished()).toBe("success");
    expect(t.calls("GetJobSetEvents")).toBe(2);
    // Only confirmations: at most the leased event's (if read before the break) and the end's.
    expect(t.calls("GetJobStatus") - statusBefore).toBeLessThanOrEqual(2);
    expect(t.notices.lines).toEqual([]);
  });

  it("a server answering UNIMPLEMENTED for the watch: tasks fall back to polling, said once", async () => {
    const t = await start(4, {
      // Two job sets, so two streams are tried (or refused) on the channel.
      overrides: (i) => ({ jobSetPrefix: i % 2 === 0 ? "a-" : "b-" }),
      faults: (e) =>
        e.server.faults.failNext("GetJobSetEvents", 100, status.UNIMPLEMENTED, "unknown method Watch"),
    });
    // Refused (said once), no stream read any more, and every trigger polling.
    await sleepUntil(
      () => t.notices.lines.length > 0 && t.watches.openStreams === 0,
      () => `the refusal (${t.notices.lines.join("; ")})`,
    );
    await t.settled("tasks deferred, polling", true);
    const rounds = t.calls("GetJobStatus");
    // Polling: the jobs' ends are seen at the next poll moment, one batched call for all.
    t.e.clock.advance(POLL_S * 1000);
    await sleepUntil(() => t.finished() !== undefined, "the run to end by polling");
    expect(t.finished()).toBe("success");
    expect(t.calls("GetJobStatus") - rounds).toBeGreaterThanOrEqual(1);
    const said = t.notices.lines.filter((l) => /does not serve job-set event watches/.test(l));
    expect(said, t.notices.lines.join("\n")).toHaveLength(1);
    expect(said[0]).toMatch(/UNIMPLEMENTED/);
    expect(t.calls("GetJobSetEvents")).toBeLessThanOrEqual(2);
  });

  it("a wrongly reported end does not end the task: the confirmation finds the job running", async () => {
    const t = await start(1, { jobS: 30 });
    await t.settled("task deferred");
    t.e.clock.advance(1000);
    await sleepUntil(() => t.e.logLines().some((l) => /is in state: RUNNING/.test(l)), "RUNNING");
    await t.settled("task deferred again");
    const [jobId] = await jobIds(t.e, 1);
    const statusBefore = t.calls("GetJobStatus");
    t.e.server.faults.reportEvent(jobId!, "failed");
    await sleepUntil(() => t.calls("GetJobStatus") > statusBefore, "the wrong event's confirmation");
    await t.settled("trigger waiting again");
    expect(await t.states()).toEqual(["deferred"]);
    // Checked again at growing intervals until the two agree; then the real end comes.
    t.e.clock.advance(2000);
    await sleepUntil(() => t.calls("GetJobStatus") > statusBefore + 1, "a recheck");
    await t.settled("still waiting");
    expect(await t.states()).toEqual(["deferred"]);
    t.e.clock.advance(40_000);
    await sleepUntil(() => t.finished() !== undefined, "the run to end on the real event");
    expect(t.finished()).toBe("success");
    expect(t.e.server.jobs()[0]!.state).toBe("SUCCEEDED");
  });

  it("a lost end event does not strand the task: max_quiet_s still checks, and the task ends in the job's real state", async () => {
    const t = await start(1);
    await t.settled("task deferred");
    t.e.clock.advance(1000);
    await sleepUntil(() => t.e.logLines().some((l) => /is in state: RUNNING/.test(l)), "RUNNING");
    await t.settled("task deferred again");
    const [jobId] = await jobIds(t.e, 1);
    t.e.server.faults.loseEvents(jobId!);
    t.e.clock.advance(10_000);
    await sleepUntil(() => t.e.server.jobs()[0]!.state === "SUCCEEDED", "the job to end on the server");
    await t.settled("no event came");
    expect(await t.states()).toEqual(["deferred"]);
    t.e.clock.advance(300_000); // max_quiet_s
    await sleepUntil(() => t.finished() !== undefined, "the run to end at the quiet deadline");
    expect(t.finished()).toBe("success");
  });
});
