import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import { DevArmada, DEFAULT_TIMING } from "../../src/devserver/dev-armada.js";
import { SimulateExecutor } from "../../src/devserver/simulate-executor.js";
import { container, jobItem } from "./helpers.js";

type Op =
  | { kind: "submit"; queue: "a" | "b"; cpu: number; seconds: number; exit: number }
  | { kind: "cancel"; pick: number }
  | { kind: "preempt"; pick: number }
  | { kind: "fail"; pick: number }
  | { kind: "advance"; ms: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant("submit" as const),
    queue: fc.constantFrom("a" as const, "b" as const),
    cpu: fc.integer({ min: 1, max: 5 }),
    seconds: fc.integer({ min: 0, max: 4 }),
    exit: fc.constantFrom(0, 0, 1),
  }),
  fc.record({ kind: fc.constant("cancel" as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant("preempt" as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant("fail" as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 3000 }) }),
);

const TERMINAL_EVENTS = new Set(["succeeded", "failed", "cancelled", "preempted"]);
const EVENT_OF_STATE: Record<string, string> = {
  QUEUED: "queued",
  LEASED: "leased",
  PENDING: "pending",
  RUNNING: "running",
  SUCCEEDED: "succeeded",
  FAILED: "failed",
  CANCELLED: "cancelled",
  PREEMPTED: "preempted",
};

describe("lifecycle invariants under random operations", () => {
  it("never over-commits a node, ends every job exactly once, and its last event matches its state", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), async (ops) => {
        const clock = new ManualClock();
        const armada = new DevArmada({
          clock,
          clusters: [
            { id: "c1", nodes: [{ name: "n1", cpu: "6", memory: "64Gi" }] },
            { id: "c2", nodes: [{ name: "n2", cpu: "4", memory: "64Gi" }] },
          ],
          executor: new SimulateExecutor(),
          ingestionDelayMs: 0,
          timing: DEFAULT_TIMING,
        });
        armada.ensureQueue("a");
        armada.ensureQueue("b");
        const ids: string[] = [];
        const pick = (n: number) => ids[n % Math.max(ids.length, 1)];
        const settle = async () => {
          // Let the timer loop run what the clock made due.
          for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
        };
        const checkCapacity = () => {
          for (const n of armada.scheduler.nodes) {
            expect(n.freeCpuMillis).toBeGreaterThanOrEqual(0);
            expect(n.freeCpuMillis).toBeLessThanOrEqual(n.cpuMillis);
          }
          const used = new Map<string, number>();
          for (const j of armada.allJobs()) {
            if (j.state === "LEASED" || j.state === "PENDING" || j.state === "RUNNING") {
              const r = j.runs.at(-1)!;
              used.set(r.node, (used.get(r.node) ?? 0) + j.resources.cpuMillis);
            }
          }
          for (const n of armada.scheduler.nodes)
            expect(n.cpuMillis - n.freeCpuMillis).toBe(used.get(n.name) ?? 0);
        };
        try {
          for (const o of ops) {
            if (o.kind === "submit") {
              const c = container("main", ["sh", "-c", `sleep ${o.seconds}; exit ${o.exit}`], {
                resources: { requests: { cpu: { string: String(o.cpu) }, memory: { string: "1Gi" } } },
              });
              ids.push(...armada.submit(o.queue, "s", [jobItem({}, [c])]));
            } else if (o.kind === "cancel" && ids.length) armada.cancel([pick(o.pick)], "r", "u");
            else if (o.kind === "preempt" && ids.length) armada.preempt([pick(o.pick)], "r", "u");
            else if (o.kind === "fail" && ids.length) armada.fail(pick(o.pick), "r");
            else if (o.kind === "advance") {
              clock.advance(o.ms);
              await settle();
            }
            checkCapacity();
          }
          // Drain: everything that fits eventually finishes.
          for (
            let i = 0;
            i < 40 &&
            armada
              .allJobs()
              .some((j) => !["SUCCEEDED", "FAILED", "CANCELLED", "PREEMPTED", "REJECTED"].includes(j.state));
            i++
          ) {
            clock.advance(1000);
            await settle();
            checkCapacity();
          }
          for (const n of armada.scheduler.nodes) expect(n.freeCpuMillis).toBe(n.cpuMillis);
          for (const j of armada.allJobs()) {
            const kinds = armada.events
              .after("a", "s", "")
              .concat(armada.events.after("b", "s", ""))
              .filter((e) => e.message?.events?.value.jobId === j.id)
              .map((e) => e.message!.events!.$case);
            expect(kinds[0]).toBe("submitted");
            expect(kinds.filter((k) => TERMINAL_EVENTS.has(k))).toHaveLength(1);
            expect(kinds.at(-1)).toBe(EVENT_OF_STATE[j.state]);
            expect(j.runs.filter((r) => r.finishedAt === undefined)).toHaveLength(0);
          }
        } finally {
          await armada.shutdown();
        }
      }),
      { numRuns: 60 },
    );
  });
});
