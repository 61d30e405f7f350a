import { status, type ServiceError } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import type { JobErrorsResponse, JobStatusResponse } from "../../src/gen/armada/job.js";
import { JobState, type JobSubmitResponse } from "../../src/gen/armada/submit.js";
import { startDevServer, type DevServer, type DevServerOptions } from "armada-airflow/testing";
import { sleepUntil } from "../support/sleep-until.js";
import { call, clients, container, jobItem } from "./helpers.js";

const gangMember = (gangId: string, cardinality: number, cpu: string, extra: Record<string, string> = {}) =>
  jobItem(
    {
      annotations: {
        "armadaproject.io/gangId": gangId,
        "armadaproject.io/gangCardinality": String(cardinality),
        "armada-airflow.dev/duration": "10s",
        ...extra,
      },
    },
    [
      container("main", ["sh", "-c", "echo in-gang"], {
        resources: {
          requests: { cpu: { string: cpu }, memory: { string: "1Gi" } },
          limits: { cpu: { string: cpu }, memory: { string: "1Gi" } },
        },
      }),
    ],
  );

describe("gangs are scheduled all at once or not at all", () => {
  let server: DevServer | undefined;
  let c: ReturnType<typeof clients> | undefined;
  afterEach(async () => {
    c?.close();
    await server?.stop();
  });
  const start = async (options: DevServerOptions) => {
    server = await startDevServer({ queues: ["q"], ...options });
    c = clients(server.grpcTarget);
    return c;
  };
  const submit = async (items: ReturnType<typeof jobItem>[]) =>
    (
      await call<unknown, JobSubmitResponse>(c!.submit, "submitJobs", {
        queue: "q",
        jobSetId: "gang",
        jobRequestItems: items,
      })
    ).jobResponseItems.map((i) => i.jobId);
  const states = async (ids: string[]) => {
    const s = (await call<unknown, JobStatusResponse>(c!.jobs, "getJobStatus", { jobIds: ids })).jobStates;
    return ids.map((id) => s[id]);
  };
  const job = (id: string) => server!.jobs().find((j) => j.id === id)!;

  it("waits until every member is queued, without holding up the queue, then leases all in one round", async () => {
    const clock = new ManualClock();
    await start({ clock });
    const first = await submit([gangMember("g1", 3, "1"), gangMember("g1", 3, "1")]);
    const [plain] = await submit([jobItem()]);
    clock.advance(1_000);
    await sleepUntil(async () => (await states([plain]))[0] !== JobState.QUEUED, "plain job leased");
    expect(await states(first)).toEqual([JobState.QUEUED, JobState.QUEUED]);
    const [last] = await submit([gangMember("g1", 3, "1")]);
    clock.advance(100);
    const all = [...first, last];
    await sleepUntil(async () => (await states(all)).every((s) => s === JobState.LEASED), "gang leased");
    const leasedAt = all.map((id) => job(id).runs[0].leasedAt.getTime());
    expect(new Set(leasedAt).size).toBe(1);
  });

  it("never places part of a gang: it waits for room for all, then all start together", async () => {
    const clock = new ManualClock();
    await start({
      clock,
      clusters: [{ id: "c1", nodes: [1, 2].map((n) => ({ name: `n${n}`, cpu: "2", memory: "8Gi" })) }],
    });
    const [hog] = await submit([
      jobItem({ annotations: { "armada-airflow.dev/duration": "5s" } }, [
        container("main", ["true"], {
          resources: {
            requests: { cpu: { string: "2" }, memory: { string: "1Gi" } },
            limits: { cpu: { string: "2" }, memory: { string: "1Gi" } },
          },
        }),
      ]),
    ]);
    clock.advance(100);
    await sleepUntil(async () => (await states([hog]))[0] === JobState.LEASED, "hog leased");
    const gang = await submit([gangMember("g2", 2, "2"), gangMember("g2", 2, "2")]);
    for (let i = 0; i < 40; i++) {
      clock.advance(100);
      const s = await states([hog, ...gang]);
      // One node is free all along, enough for one member: none may take it alone.
      if (s[0] !== JobState.SUCCEEDED) expect(s.slice(1)).toEqual([JobState.QUEUED, JobState.QUEUED]);
    }
    await sleepUntil(async () => {
      clock.advance(100);
      return (await states(gang)).every((s) => s === JobState.SUCCEEDED);
    }, "gang ran");
    expect(new Set(gang.map((id) => job(id).runs[0].startedAt!.getTime())).size).toBe(1);
  });

  it("keeps a gang on nodes sharing its uniformity label's value, and rejects one that can never fit", async () => {
    const clock = new ManualClock();
    const node = (name: string, zone: string) => ({ name, cpu: "4", memory: "16Gi", labels: { zone } });
    await start({
      clock,
      clusters: [{ id: "c1", nodes: [node("a1", "a"), node("a2", "a"), node("b1", "b"), node("b2", "b")] }],
    });
    const uniform = { "armadaproject.io/gangNodeUniformityLabel": "zone" };
    const zoned = await submit([1, 2, 3].map(() => gangMember("g3", 3, "2", uniform)));
    // 12 CPU in all, but 8 per zone: three 4-CPU members fit the cluster, never one zone.
    const tooBig = await submit([1, 2, 3].map(() => gangMember("g4", 3, "4", uniform)));
    // A gang that fits once the others leave room is left queued, not rejected.
    const huge = await submit([1, 2].map(() => gangMember("g5", 2, "3")));
    clock.advance(100);
    await sleepUntil(
      async () => (await states(zoned)).every((s) => s === JobState.LEASED),
      "zoned gang leased",
    );
    const zones = new Set(zoned.map((id) => job(id).runs[0].node[0]));
    expect(zones.size).toBe(1);
    await sleepUntil(async () => (await states(tooBig)).every((s) => s === JobState.REJECTED), "rejected");
    const errors = (await call<unknown, JobErrorsResponse>(c!.jobs, "getJobErrors", { jobIds: tooBig }))
      .jobErrors;
    expect(errors[tooBig[0]]).toBe(
      "gang g4 of 3 jobs can never be scheduled: together they request cpu 12000m and memory 3221225472 bytes, " +
        "which do not fit on any set of nodes sharing a value of node label zone even when they are empty",
    );
    // Its two 3-CPU members fit on two empty nodes of 4 CPU.
    expect(await states(huge)).not.toContain(JobState.REJECTED);
  });

  it("refuses a request whose gang members disagree, as the real server does", async () => {
    await start({});
    const err = (items: ReturnType<typeof jobItem>[]) =>
      submit(items).then(
        () => undefined,
        (e: ServiceError) => ({ code: e.code, details: e.details }),
      );
    expect(await err([gangMember("g6", 2, "1"), gangMember("g6", 3, "1")])).toEqual({
      code: status.INVALID_ARGUMENT,
      details: "inconsistent gang cardinality in gang g6: expected 2 but got 3",
    });
    expect(await err([gangMember("g7", 0, "1")])).toEqual({
      code: status.INVALID_ARGUMENT,
      details:
        'invalid gang information: gang g7: annotation armadaproject.io/gangCardinality must be a positive integer, got "0"',
    });
    expect(server!.jobs()).toEqual([]);
  });

  it("in process mode, a gang's members start together and run for real", async () => {
    const clock = new ManualClock();
    await start({ clock, executor: "process" });
    const gang = await submit([gangMember("g8", 2, "1"), gangMember("g8", 2, "1")]);
    await sleepUntil(
      async () => {
        clock.advance(100);
        return (await states(gang)).every((s) => s === JobState.SUCCEEDED);
      },
      "process gang ran",
      15_000,
    );
    expect(new Set(gang.map((id) => job(id).runs[0].leasedAt.getTime())).size).toBe(1);
  });
});
