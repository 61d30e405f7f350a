/**
 * Many deferred tasks on one channel: each poll round costs one batched
 * GetJobStatus call for all of them (deliberate difference 8).
 */
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { momentAlarms } from "../../src/common/moment-alarms.js";
import { closeArmadaHookClients } from "../../src/operator/hook.js";
import { DAG } from "../../src/runtime/dag.js";
import { sleepUntil } from "../support/sleep-until.js";
import { startEnv, type Env } from "./harness.js";

let env: Env | undefined;
afterEach(async () => {
  await env?.stop();
  env = undefined;
});
afterAll(() => closeArmadaHookClients());

const PARKED = new Set(["deferred", "success", "failed", "upstream_failed", "skipped"]);

describe("deferrable fan-out", () => {
  it("runs 30 deferred tasks to success with a few SubmitJobs calls and one GetJobStatus call per poll round", async () => {
    const e = (env = await startEnv());
    const dag = new DAG({ dagId: "fan_out" });
    const n = 30;
    for (let i = 0; i < n; i++) {
      e.operator(`t${i}`, dag, {
        deferrable: true,
        tracking: "poll", // poll rounds are what this test counts (event tracking has its own tests)
        pollInterval: 10,
        jobRequest: {
          podSpec: {
            containers: [
              {
                name: "main",
                image: "busybox",
                args: ["sleep", "25"],
                resources: { requests: { cpu: "10m", memory: "8Mi" } },
              },
            ],
          },
        },
      });
    }
    await e.runner.createDagRun(dag, { runId: "r1" });
    let finished: string | undefined;
    const running = e.runner.runDagRun(dag, "r1").then((s) => (finished = s));
    const statusCalls = () => e.server.callCounts().GetJobStatus ?? 0;
    const parked = async () => {
      const tis = await e.store.listTaskInstances("fan_out", "r1");
      return tis.length === n && tis.every((t) => PARKED.has(t.state));
    };
    // Time stands still until every task is parked in its trigger, so all
    // triggers share one moment, as tasks started together do.
    await sleepUntil(parked, "all tasks submitted and deferred");
    // Parked in the store is not yet idle: a round is over when every trigger waits on the clock again
    // (watching triggers wait between checks, on the clock's shared alarm of their moment; a trigger that
    // fired has a successor once its task re-deferred).
    const waiting = () => momentAlarms(e.clock).listening;
    await sleepUntil(() => waiting() >= n, "every trigger waiting on the clock");
    const idle = async () => finished !== undefined || ((await parked()) && waiting() >= n);
    const firstRound = statusCalls();
    expect(e.server.jobs()).toHaveLength(n);
    // The submits of tasks started together share calls too (one per job set and 10 ms window), each item with its
    // own client id: a few calls, where one per task would be 30.
    expect(e.server.callCounts().SubmitJobs, "SubmitJobs calls").toBeLessThanOrEqual(3);
    const perRound: number[] = [];
    while (finished === undefined) {
      const before = statusCalls();
      e.clock.advance(10_000);
      await sleepUntil(
        async () => finished !== undefined || ((await parked()) && statusCalls() > before),
        () =>
          `next poll round (calls per round so far: ${perRound.join(", ")}; triggers waiting ${waiting()})`,
      );
      // Let stragglers of this round land before counting.
      await sleepUntil(idle, "round settled");
      perRound.push(statusCalls() - before);
      if (perRound.length > 10) throw new Error(`too many rounds: ${perRound.join(",")}`);
    }
    await running;
    expect(finished).toBe("success");
    expect(e.server.jobs().every((j) => j.state === "SUCCEEDED")).toBe(true);
    // The first checks (right after each submit) coalesce too.
    expect(firstRound, "calls of the first round").toBeLessThanOrEqual(3);
    // Each later round: one call for all 30 jobs, where one call per job would be 30.
    expect(perRound.length).toBeGreaterThanOrEqual(2);
    expect(
      perRound.every((c) => c === 1),
      `calls per round: ${perRound.join(", ")}`,
    ).toBe(true);
  });
});
