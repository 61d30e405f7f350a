import { realpathSync } from "node:fs";
import { tmpdir } from "node:os";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import type { JobErrorsResponse } from "../../src/gen/armada/job.js";
import type { JobSubmitResponse } from "../../src/gen/armada/submit.js";
import { startDevServer, type DevServer } from "armada-airflow/testing";
import { sleepUntil } from "../support/sleep-until.js";
import type { JobFailedEvent } from "../../src/gen/armada/event.js";
import { call, clients, container, jobItem, readEvents } from "./helpers.js";

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("process executor: real local processes as pods", () => {
  let clock: ManualClock;
  let server: DevServer;
  let c: ReturnType<typeof clients>;

  beforeEach(async () => {
    clock = new ManualClock();
    server = await startDevServer({ clock, queues: ["q"], executor: "process" });
    c = clients(server.grpcTarget);
  });
  afterEach(async () => {
    c.close();
    await server.stop();
  });

  const run = async (script: string, env: { name: string; value: string }[] = []) => {
    const res = await call<unknown, JobSubmitResponse>(c.submit, "submitJobs", {
      queue: "q",
      jobSetId: "p",
      jobRequestItems: [jobItem({}, [container("main", ["sh", "-c", script], { env })])],
    });
    const id = res.jobResponseItems[0].jobId;
    clock.advance(400);
    await sleepUntil(
      () => job(id).state !== "QUEUED" && job(id).state !== "LEASED" && job(id).state !== "PENDING",
      "started",
    );
    return id;
  };
  const job = (id: string) => server.jobs().find((j) => j.id === id)!;
  const logText = async (id: string) => {
    const res = await fetch(
      `${server.httpUrl}/api/v1/namespaces/default/pods/armada-${id}-0/log?container=main`,
      {
        headers: { authorization: `Bearer ${server.kubeToken}` },
      },
    );
    return res.text();
  };

  it("runs command and args with the container env in a temp dir; stdout and stderr are the log", async () => {
    const id = await run('echo "hello $GREETING"; echo oops >&2; pwd', [
      { name: "GREETING", value: "world" },
    ]);
    await sleepUntil(() => job(id).state === "SUCCEEDED", "SUCCEEDED", 15_000);
    const lines = (await logText(id)).trim().split("\n");
    expect(lines).toContain("hello world");
    expect(lines).toContain("oops");
    const cwd = lines.find((l) => l.startsWith("/"))!;
    expect(cwd.startsWith(realpathSync(tmpdir())) || cwd.startsWith(tmpdir())).toBe(true);
    expect(job(id).runs[0].exitCodes).toEqual({ main: 0 });
  });

  it("a non-zero exit fails the job with the exit code as the reason", async () => {
    const id = await run("echo about to fail; exit 7");
    await sleepUntil(() => job(id).state === "FAILED", "FAILED", 15_000);
    const errors = await call<unknown, JobErrorsResponse>(c.jobs, "getJobErrors", { jobIds: [id] });
    expect(errors.jobErrors[id]).toBe("container main failed with exit code 7");
    expect(await logText(id)).toContain("about to fail");
  });

  it("kills the whole process group on cancel and on preempt", async () => {
    // Kubernetes turns "$$" in command and args into "$" (its $(VAR) escape), so the shell's $$ is written $$$$.
    const a = await run("echo pid=$$$$; sleep 30; echo never");
    const b = await run("echo pid=$$$$; sleep 30; echo never");
    const pidOf = async (id: string) => {
      let pid = 0;
      await sleepUntil(async () => {
        const m = /pid=(\d+)/.exec(await logText(id));
        if (m) pid = Number(m[1]);
        return pid > 0;
      }, "pid logged");
      return pid;
    };
    const pa = await pidOf(a);
    const pb = await pidOf(b);
    expect(groupAlive(pa)).toBe(true);
    await call(c.submit, "cancelJobs", { jobId: a, jobSetId: "p", queue: "q", jobIds: [], reason: "stop" });
    server.faults.preemptJob(b);
    await sleepUntil(() => !groupAlive(pa) && !groupAlive(pb), "process groups gone");
    expect(job(a).state).toBe("CANCELLED");
    expect(job(b).state).toBe("PREEMPTED");
  });

  it("kills a container that goes over limits.memory as OOMKilled, exit code 137; one under its limit runs", async () => {
    const limited = (name: string, script: string) =>
      container(name, ["sh", "-c", script], {
        resources: {
          requests: { cpu: { string: "100m" }, memory: { string: "64Mi" } },
          limits: { cpu: { string: "100m" }, memory: { string: "64Mi" } },
        },
      });
    const res = await call<unknown, JobSubmitResponse>(c.submit, "submitJobs", {
      queue: "q",
      jobSetId: "oom",
      jobRequestItems: [
        jobItem({}, [limited("main", "echo filling; tail /dev/zero")]),
        jobItem({}, [limited("main", "head -c 8000000 /dev/zero | tail -c 1 | wc -c")]),
      ],
    });
    const [hog, small] = res.jobResponseItems.map((i) => i.jobId);
    clock.advance(400);
    await sleepUntil(
      () => job(hog).state === "FAILED" && job(small).state === "SUCCEEDED",
      "hog killed",
      15_000,
    );
    const errors = await call<unknown, JobErrorsResponse>(c.jobs, "getJobErrors", { jobIds: [hog] });
    expect(errors.jobErrors[hog]).toBe(
      "container main was OOMKilled (exit code 137): its memory use went over limits.memory 64Mi",
    );
    expect(job(hog).runs[0].exitCodes).toEqual({ main: 137 });
    expect(job(hog).runs[0].failureCategory).toBe("oom");
    const events = await readEvents(c.events, { queue: "q", id: "oom" });
    const failed = events.find((e) => e.message?.events?.$case === "failed")?.message?.events?.value as
      JobFailedEvent | undefined;
    expect(failed?.containerStatuses[0]).toMatchObject({ name: "main", exitCode: 137, reason: "OOMKilled" });
    expect(failed?.failureCategory).toBe("oom");
    expect(await logText(hog)).toContain("filling");
  });

  it("fails a container without a command (an image entrypoint cannot run locally)", async () => {
    const res = await call<unknown, JobSubmitResponse>(c.submit, "submitJobs", {
      queue: "q",
      jobSetId: "p",
      jobRequestItems: [jobItem({}, [container("main", [])])],
    });
    const id = res.jobResponseItems[0].jobId;
    clock.advance(400);
    await sleepUntil(() => job(id).state === "FAILED", "FAILED");
    expect(job(id).error).toMatch(/container main has no command/);
  });
});
