/**
 * Lookout-style pages, server-rendered with hono: `/` lists jobs with filters,
 * `/jobs/<job_id>` shows one job, so a `lookoutUrlTemplate` works locally.
 */
import { Hono } from "hono";
import { jobListPage } from "./job-list-page.js";
import { jobPage } from "./job-page.js";
import type { LookoutSource } from "./lookout-source.js";
import { page } from "./layout.js";
import { html } from "hono/html";

/** Builds the Lookout app over `source`. */
export function createLookoutApp(source: LookoutSource): Hono {
  const app = new Hono();
  app.get("/", (c) => {
    const limit = Number(c.req.query("limit") ?? "100");
    return c.html(
      jobListPage(source, {
        queue: c.req.query("queue") || undefined,
        jobSet: c.req.query("jobSet") || undefined,
        state: c.req.query("state") || undefined,
        limit: Number.isInteger(limit) && limit > 0 ? limit : 100,
      }),
    );
  });
  app.get("/jobs/:id", (c) => {
    const job = source.job(c.req.param("id"));
    if (!job) {
      return c.html(
        page(
          "Not found",
          html`<h1>Job not found</h1>
            <p>No job with id <code>${c.req.param("id")}</code>.</p>`,
        ),
        404,
      );
    }
    return c.html(jobPage(source, job));
  });
  return app;
}
