import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import { Cause, type JobFailedEvent } from "../../src/gen/armada/event.js";
import type { JobErrorsResponse, JobStatusResponse } from "../../src/gen/armada/job.js";
import { JobState, type JobSubmitRequestItem, type JobSubmitResponse } from "../../src/gen/armada/submit.js";
import { startDevServer, type DevServer, type DevServerOptions } from "armada-airflow/testing";
import { sleepUntil } from "../support/sleep-until.js";
import { call, clients, container, jobItem, readEvents } from "./helpers.js";

const TERMINAL = new Set([JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.REJECTED]);

/** A simulate-mode server on a ManualClock, with helpers that run a job to its end through the gRPC API. */
function simulated(options: DevServerOptions = {}) {
  const clock = new ManualClock();
  const env = {
    clock,
    server: undefined as unknown as DevServer,
    c: undefined as unknown as ReturnType<typeof clients>,
  };
  beforeAll(async () => {
    env.server = await startDevServer({ clock, queues: ["q"], ...options });
    env.c = clients(env.server.grpcTarget);
  });
  afterAll(async () => {
    env.c.close();
    await env.server.stop();
  });
  let n = 0;
  /** Submits one item, moves the clock until the job ends, and returns what the API says of it. */
  const run = async (item: JobSubmitRequestItem) => {
    const jobSetId = `set-${++n}`;
    const res = await call<unknown, JobSubmitResponse>(env.c.submit, "submitJobs", {
      queue: "q",
      jobSetId,
      jobRequestItems: [item],
    });
    const id = res.jobResponseItems[0].jobId;
    let state = JobState.UNKNOWN;
    await sleepUntil(async () => {
      clock.advance(250);
      state = (await call<unknown, JobStatusResponse>(env.c.jobs, "getJobStatus", { jobIds: [id] }))
        .jobStates[id];
      return TERMINAL.has(state);
    }, `job ${id} ends`);
    const error = (await call<unknown, JobErrorsResponse>(env.c.jobs, "getJobErrors", { jobIds: [id] }))
      .jobErrors[id];
    const events = await readEvents(env.c.events, { queue: "q", id: jobSetId });
    const failed = events.find((e) => e.message?.events?.$case === "failed")?.message?.events?.value as
      JobFailedEvent | undefined;
    const log = async (name = "main") => {
      const r = await fetch(
        `${env.server.httpUrl}/api/v1/namespaces/${item.namespace}/pods/armada-${id}-0/log?container=${name}`,
        { headers: { authorization: `Bearer ${env.server.kubeToken}` } },
      );
      return r.ok ? await r.text() : `HTTP ${r.status}`;
    };
    return { id, state, error, failed, log };
  };
  return { env, run };
}

const sh = (script: string, memory = "64Mi") =>
  container("main", ["sh", "-c", script], {
    resources: {
      requests: { cpu: { string: "100m" }, memory: { string: memory } },
      limits: { cpu: { string: "100m" }, memory: { string: memory } },
    },
  });

describe("namespaces: a job in a namespace the cluster does not have fails as Kubernetes makes it", () => {
  const { run } = simulated({ namespaces: ["default", "personal-anonymous", "team-a"] });

  it("default, personal-anonymous and configured namespaces run", async () => {
    for (const namespace of ["default", "personal-anonymous", "team-a"]) {
      expect((await run(jobItem({ namespace }, [sh("echo ok")]))).state).toBe(JobState.SUCCEEDED);
    }
  });

  it("any other namespace: FAILED, before any pod exists, with Kubernetes' words naming it", async () => {
    const r = await run(jobItem({ namespace: "team-b" }, [sh("echo ok")]));
    expect(r.state).toBe(JobState.FAILED);
    expect(r.error).toMatch(/^failed to create pod armada-[0-9a-z]+-0: namespaces "team-b" not found/);
    expect(r.error).toContain("--namespace team-b");
    expect(r.failed?.reason).toBe(r.error);
    expect(await r.log()).toBe("HTTP 404");
  });
});

describe("images: with --image patterns, an image outside them fails as ImagePullBackOff", () => {
  const { run } = simulated({ images: ["busybox:*", "ghcr.io/acme/*"] });

  it("matching images run; an untagged image is matched with the :latest Kubernetes gives it", async () => {
    for (const image of ["busybox:1.36", "busybox", "ghcr.io/acme/trainer:v2"]) {
      const r = await run(jobItem({}, [{ ...sh("echo ok"), image }]));
      expect(r.state, image).toBe(JobState.SUCCEEDED);
    }
  });

  it("another image: FAILED with the kubelet's ErrImagePull / ImagePullBackOff reason", async () => {
    const r = await run(jobItem({}, [{ ...sh("echo ok"), image: "python:3.12" }]));
    expect(r.state).toBe(JobState.FAILED);
    expect(r.error).toBe(
      'container main: ImagePullBackOff: Back-off pulling image "python:3.12": ErrImagePull: image "python:3.12" ' +
        "is not among the dev server's known images (--image busybox:*, --image ghcr.io/acme/*)",
    );
    expect(r.failed?.failureCategory).toBe("uncategorized");
  });
});

describe("failure categories on the failed event, from exit code, condition and message rules", () => {
  const { env, run } = simulated({
    failureCategories: ["gpu/xid=exit-code:74", "infra/pull=message:ImagePullBackOff"],
    images: ["busybox:*"],
  });

  it("built-in defaults: user_error for exit codes 1, 2, 126, 127; uncategorized otherwise", async () => {
    for (const [code, category] of [
      [1, "user_error"],
      [2, "user_error"],
      [127, "user_error"],
      [3, "uncategorized"],
    ] as const) {
      const r = await run(jobItem({}, [sh(`exit ${code}`)]));
      expect(r.state).toBe(JobState.FAILED);
      expect(r.error).toBe(`container main failed with exit code ${code}`);
      expect([r.failed?.failureCategory, r.failed?.failureSubcategory]).toEqual([category, ""]);
      expect(r.failed?.exitCodes).toEqual({ main: code });
    }
  });

  it("configured rules come first and give their subcategory", async () => {
    const gpu = await run(jobItem({}, [sh("echo xid 79; exit 74")]));
    expect([gpu.failed?.failureCategory, gpu.failed?.failureSubcategory]).toEqual(["gpu", "xid"]);
    const pull = await run(jobItem({}, [{ ...sh("true"), image: "nvcr.io/cuda:12" }]));
    expect([pull.failed?.failureCategory, pull.failed?.failureSubcategory]).toEqual(["infra", "pull"]);
  });

  it("a job the server rejects carries Armada's own category, internal", async () => {
    const r = await run(
      jobItem({}, [container("main", ["true"], { resources: { requests: {}, limits: {} } })]),
    );
    expect(r.state).toBe(JobState.REJECTED);
    expect(r.failed?.cause).toBe(Cause.Rejected);
    expect([r.failed?.failureCategory, r.failed?.failureSubcategory]).toEqual(["internal", "job_rejected"]);
  });

  it("the category is kept on the run the dev server records", async () => {
    const r = await run(jobItem({}, [sh("exit 1")]));
    const job = env.server.jobs().find((j) => j.id === r.id)!;
    expect(job.runs[0].failureCategory).toBe("user_error");
  });

  it("a bad rule is refused at start, naming the value and the form", async () => {
    await expect(startDevServer({ failureCategories: ["gpu=exit-code:lots"] })).rejects.toThrow(
      /failureCategories\.0: "gpu=exit-code:lots": exit-code needs a comma-separated list of exit codes/,
    );
    await expect(startDevServer({ failureCategories: ["oops"] })).rejects.toThrow(
      /expected NAME\[\/SUBCATEGORY\]=RULE/,
    );
  });
});

describe("simulate mode: memory limits end a container OOMKilled, exit code 137", () => {
  const { run } = simulated();

  const expectOom = (r: Awaited<ReturnType<typeof run>>, limit = "64Mi") => {
    expect(r.state).toBe(JobState.FAILED);
    expect(r.error).toBe(
      `container main was OOMKilled (exit code 137): its memory use went over limits.memory ${limit}`,
    );
    expect(r.failed?.exitCodes).toEqual({ main: 137 });
    expect(r.failed?.cause).toBe(Cause.OOM);
    expect(r.failed?.containerStatuses[0]).toMatchObject({
      name: "main",
      exitCode: 137,
      reason: "OOMKilled",
    });
    expect(r.failed?.failureCategory).toBe("oom");
  };

  it('the annotation armada-airflow.dev/oom: "true"', async () => {
    expectOom(await run(jobItem({ annotations: { "armada-airflow.dev/oom": "true" } }, [sh("sleep 1")])));
  });

  it("tail /dev/zero, after what ran before it", async () => {
    const r = await run(jobItem({}, [sh("echo loading; tail /dev/zero; echo never")]));
    expectOom(r);
    const log = await r.log();
    expect(log).toContain("loading");
    expect(log).not.toContain("never");
  });

  it("dd into /dev/shm past the limit is killed; below the limit, or onto disk, it is not", async () => {
    expectOom(await run(jobItem({}, [sh("dd if=/dev/zero of=/dev/shm/fill bs=1M count=100")])));
    expect((await run(jobItem({}, [sh("dd if=/dev/zero of=/dev/shm/fill bs=1M count=10")]))).state).toBe(
      JobState.SUCCEEDED,
    );
    expect((await run(jobItem({}, [sh("dd if=/dev/zero of=/tmp/fill bs=1M count=1000")]))).state).toBe(
      JobState.SUCCEEDED,
    );
  });
});

describe("simulate mode reads only what it can read for sure", () => {
  const { run } = simulated({ defaultRunMs: 3000 });

  it("&& and || between known commands are evaluated as a shell would", async () => {
    const r = await run(jobItem({}, [sh("false || echo recovered; true && echo done")]));
    expect(r.state).toBe(JobState.SUCCEEDED);
    expect((await r.log()).split("\n")).toEqual(expect.arrayContaining(["recovered", "done"]));
    const stop = await run(jobItem({}, [sh("false && echo skipped")]));
    expect(stop.state).toBe(JobState.FAILED);
    expect(stop.error).toBe("container main failed with exit code 1");
    expect(await stop.log()).not.toContain("skipped");
  });

  it("control flow is not half-interpreted: success after the default run time, and the log says why", async () => {
    const r = await run(jobItem({}, [sh("if true; then exit 1; fi")]));
    expect(r.state).toBe(JobState.SUCCEEDED);
    const log = await r.log();
    expect(log).toContain(
      "the command of container main was not interpreted: it uses shell control flow ('if'). simulate mode reads " +
        "only plain echo, sleep, exit, true and false",
    );
    expect(log).toContain("else success after 3000 ms");
  });

  it("an uninterpreted command takes its outcome from the annotations", async () => {
    const r = await run(
      jobItem({ annotations: { "armada-airflow.dev/exit-code": "4" } }, [
        sh("for i in 1 2 3; do exit 0; done"),
      ]),
    );
    expect(r.state).toBe(JobState.FAILED);
    expect(r.error).toBe("container main failed with exit code 4");
  });
});
