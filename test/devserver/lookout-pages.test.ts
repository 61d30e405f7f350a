import { existsSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import type { JobSubmitResponse } from "../../src/gen/armada/submit.js";
import { createLookoutApp, type LookoutSource } from "../../src/web/index.js";
import type { JobRecord } from "../../src/devserver/job-record.js";
import { startDevServer, type DevServer } from "armada-airflow/testing";
import { sleepUntil } from "../support/sleep-until.js";
import { call, clients, jobItem } from "./helpers.js";

const CHROMIUM = "/usr/bin/chromium";

function fakeJob(id: string, over: Partial<JobRecord> = {}): JobRecord {
  const t = new Date(Date.UTC(2024, 0, 1));
  return {
    id,
    queue: "q",
    jobSetId: "set",
    namespace: "default",
    priority: 0,
    clientId: "",
    owner: "anonymous",
    state: "QUEUED",
    externalJobUri: "",
    annotations: {},
    labels: {},
    submittedAt: t,
    lastTransitionAt: t,
    runs: [],
    spec: {} as JobRecord["spec"],
    resources: { cpuMillis: 1000, memoryBytes: 1 },
    ...over,
  };
}

describe("Lookout pages (app.request)", () => {
  const jobs = [
    fakeJob("job-a", { state: "SUCCEEDED" }),
    fakeJob("job-b", { state: "FAILED", error: "container main failed with exit code 2", queue: "other" }),
    fakeJob("job-c", { state: "RUNNING", jobSetId: "set-2" }),
    fakeJob("job-x", { state: "FAILED", error: "<script>alert(1)</script>" }),
  ];
  const source: LookoutSource = {
    jobs: () => jobs,
    job: (id) => jobs.find((j) => j.id === id),
    jobEvents: () => [],
    logs: (job) =>
      job.id === "job-a"
        ? [{ container: "main", lines: [{ timeMs: 0, text: "hello from main" }] }]
        : undefined,
  };
  const app = createLookoutApp(source);

  it("lists jobs newest first and filters by queue, job set and state", async () => {
    const all = await (await app.request("/")).text();
    expect(all.indexOf("job-c")).toBeLessThan(all.indexOf("job-a"));
    expect(all).toContain("4 job(s) shown");
    const failed = await (await app.request("/?state=failed")).text();
    expect(failed).toContain("job-b");
    expect(failed).not.toContain(">job-a<");
    const byQueue = await (await app.request("/?queue=other")).text();
    expect(byQueue).toContain("1 job(s) shown");
    const bySet = await (await app.request("/?jobSet=set-2")).text();
    expect(bySet).toContain('href="/jobs/job-c"');
    expect(bySet).toContain("1 job(s) shown");
  });

  it("shows a job's reason and logs, escapes what users control, and 404s unknown ids", async () => {
    const b = await (await app.request("/jobs/job-b")).text();
    expect(b).toContain('id="reason">container main failed with exit code 2<');
    const a = await (await app.request("/jobs/job-a")).text();
    expect(a).toContain("hello from main");
    const x = await (await app.request("/jobs/job-x")).text();
    expect(x).not.toContain("<script>alert(1)</script>");
    expect(x).toContain("&lt;script&gt;");
    expect(b).not.toContain('http-equiv="refresh"');
    const running = await (await app.request("/jobs/job-c")).text();
    expect(running).toContain('<meta http-equiv="refresh" content="2" />');
    const missing = await app.request("/jobs/nope");
    expect(missing.status).toBe(404);
  });
});

describe("Lookout pages served by a dev server", () => {
  const clock = new ManualClock();
  let server: DevServer;
  let c: ReturnType<typeof clients>;
  let id: string;

  beforeAll(async () => {
    server = await startDevServer({ clock, queues: ["q"] });
    c = clients(server.grpcTarget);
    const res = await call<unknown, JobSubmitResponse>(c.submit, "submitJobs", {
      queue: "q",
      jobSetId: "web",
      jobRequestItems: [jobItem({ annotations: { "armada-airflow.dev/exit-code": "4" } })],
    });
    id = res.jobResponseItems[0].jobId;
    clock.advance(5400);
    await sleepUntil(() => server.jobs()[0].state === "FAILED", "FAILED");
  });
  afterAll(async () => {
    c.close();
    await server.stop();
  });

  it("renders state, runs, events, reason and logs at the lookout URL template", async () => {
    const url = server.lookoutUrlTemplate.replace("<job_id>", id);
    expect(url).toBe(`${server.httpUrl}/jobs/${id}`);
    const html = await (await fetch(url)).text();
    expect(html).toContain('data-state="FAILED"');
    expect(html).toContain("container main failed with exit code 4");
    // Exit code 4 matches no built-in rule: the categorizer's default category, on the run and the failed event.
    expect(html).toMatch(/<td class="failure-category">\s*uncategorized\s*<\/td>/);
    expect(html).toContain("failureCategory=uncategorized");
    for (const ev of ["submitted", "queued", "leased", "pending", "running", "failed"])
      expect(html).toContain(`<td>${ev}</td>`);
    expect(html).toMatch(/<td>cluster-\d<\/td>\s*<td>cluster-\d-node-\d<\/td>/);
    expect(html).toContain("hello");
    const list = await (await fetch(`${server.httpUrl}/?queue=q`)).text();
    expect(list).toContain(`href="/jobs/${id}"`);
  });

  it.skipIf(!existsSync(CHROMIUM))(
    existsSync(CHROMIUM)
      ? `renders the job page in real headless Chromium (${CHROMIUM})`
      : `renders the job page in real headless Chromium — SKIPPED: ${CHROMIUM} is not installed on this machine`,
    async () => {
      const { chromium } = await import("playwright-core");
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ["--headless", "--no-sandbox", "--disable-gpu"],
      });
      try {
        const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
        await page.goto(server.lookoutUrlTemplate.replace("<job_id>", id));
        expect(await page.textContent("#job-id")).toBe(id);
        const badge = page.locator("h1 .state");
        expect(await badge.textContent()).toBe("FAILED");
        // The stylesheet applied: the badge is red on white text, not unstyled.
        // (Runs in the browser; the Node typings have no DOM, hence the cast.)
        const bg = await badge.evaluate(
          (el) =>
            (
              globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }
            ).getComputedStyle(el).backgroundColor,
        );
        expect(bg).toBe("rgb(179, 38, 30)");
        expect(await page.locator("#events tr").count()).toBe(7);
        const png = await page.screenshot({ fullPage: true });
        expect(png.subarray(1, 4).toString()).toBe("PNG");
        expect(png.length).toBeGreaterThan(10_000);
        if (process.env.LOOKOUT_SCREENSHOT) writeFileSync(process.env.LOOKOUT_SCREENSHOT, png);
      } finally {
        await browser.close();
      }
    },
  );
});
