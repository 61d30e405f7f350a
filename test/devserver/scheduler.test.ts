import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import type { JobSubmitResponse } from "../../src/gen/armada/submit.js";
import { startDevServer, type DevServer } from "armada-airflow/testing";
import { sleepUntil } from "../support/sleep-until.js";
import { call, clients, container, jobItem } from "./helpers.js";

describe("scheduler", () => {
  let server: DevServer | undefined;
  let c: ReturnType<typeof clients> | undefined;
  afterEach(async () => {
    c?.close();
    await server?.stop();
  });

  const start = async (
    clock: ManualClock,
    clusters: { id: string; nodes: { name: string; cpu: string; memory: string }[] }[],
    queues = ["a", "b"],
  ) => {
    server = await startDevServer({ clock, queues, clusters });
    c = clients(server.grpcTarget);
    return { server, c };
  };
  const submit = async (queue: string, items: ReturnType<typeof jobItem>[], jobSetId = "s") =>
    (
      await call<unknown, JobSubmitResponse>(c!.submit, "submitJobs", {
        queue,
        jobSetId,
        jobRequestItems: items,
      })
    ).jobResponseItems.map((i) => i.jobId);
  const stateOf = (id: string) => server!.jobs().find((j) => j.id === id)!.state;

  it("keeps jobs QUEUED until capacity frees up", async () => {
    const clock = new ManualClock();
    await start(clock, [{ id: "c1", nodes: [{ name: "n1", cpu: "2", memory: "8Gi" }] }]);
    const ids = await submit("a", [jobItem(), jobItem(), jobItem()]); // 1 CPU each, 2 fit
    clock.advance(400);
    await sleepUntil(() => ids.filter((id) => stateOf(id) === "RUNNING").length === 2, "two running");
    expect(stateOf(ids[2])).toBe("QUEUED");
    clock.advance(5000); // the first two finish (sleep 5)
    await sleepUntil(() => stateOf(ids[0]) === "SUCCEEDED", "first done");
    expect(stateOf(ids[2])).toBe("QUEUED");
    clock.advance(100); // the next scheduling round
    await sleepUntil(() => stateOf(ids[2]) === "LEASED", "third leased");
    expect(
      server!
        .jobs()
        .find((j) => j.id === ids[2])!
        .runs[0].leasedAt.getTime(),
    ).toBe(clock.nowMs());
    clock.advance(300);
    await sleepUntil(() => stateOf(ids[2]) === "RUNNING", "third running");
  });

  it("runs lower priority values first within a queue", async () => {
    const clock = new ManualClock();
    await start(clock, [{ id: "c1", nodes: [{ name: "n1", cpu: "1", memory: "8Gi" }] }]);
    const [low, high] = await submit("a", [jobItem({ priority: 5 }), jobItem({ priority: 1 })]);
    clock.advance(100);
    await sleepUntil(() => stateOf(high) === "LEASED", "high priority leased");
    expect(stateOf(low)).toBe("QUEUED");
  });

  it("shares capacity fairly between queues", async () => {
    const clock = new ManualClock();
    await start(clock, [{ id: "c1", nodes: [{ name: "n1", cpu: "4", memory: "16Gi" }] }]);
    const a = await submit(
      "a",
      Array.from({ length: 6 }, () => jobItem()),
    );
    const b = await submit(
      "b",
      Array.from({ length: 6 }, () => jobItem()),
    );
    clock.advance(100);
    await sleepUntil(() => server!.jobs().filter((j) => j.state === "LEASED").length === 4, "four leased");
    expect(a.filter((id) => stateOf(id) === "LEASED")).toHaveLength(2);
    expect(b.filter((id) => stateOf(id) === "LEASED")).toHaveLength(2);
  });

  it("places jobs on several clusters and reports them in the runs", async () => {
    const clock = new ManualClock();
    await start(clock, [
      { id: "cluster-1", nodes: [{ name: "node-a", cpu: "1", memory: "4Gi" }] },
      { id: "cluster-2", nodes: [{ name: "node-b", cpu: "1", memory: "4Gi" }] },
    ]);
    await submit("a", [jobItem(), jobItem()]);
    clock.advance(100);
    await sleepUntil(() => server!.jobs().every((j) => j.runs.length === 1), "both leased");
    const placed = server!
      .jobs()
      .map((j) => `${j.runs[0].cluster}/${j.runs[0].node}`)
      .sort();
    expect(placed).toEqual(["cluster-1/node-a", "cluster-2/node-b"]);
  });

  it("respects memory as well as CPU", async () => {
    const clock = new ManualClock();
    await start(clock, [{ id: "c1", nodes: [{ name: "n1", cpu: "8", memory: "3Gi" }] }]);
    const big = () =>
      jobItem({}, [
        container("main", ["true"], {
          resources: { requests: { cpu: { string: "100m" }, memory: { string: "2Gi" } }, limits: {} },
        }),
      ]);
    const ids = await submit("a", [big(), big()]);
    clock.advance(100);
    await sleepUntil(() => stateOf(ids[0]) === "LEASED", "first leased");
    expect(stateOf(ids[1])).toBe("QUEUED");
  });
});
