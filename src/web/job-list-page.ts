/** `/`: jobs, newest first, filtered by queue, job set and state. */
import { html } from "hono/html";
import type { LookoutJob, LookoutSource } from "./lookout-source.js";
import { page, stateBadge, time } from "./layout.js";

/** Filters of the job list (all optional). */
export interface JobListFilters {
  queue?: string;
  jobSet?: string;
  state?: string;
  /** At most this many rows. @default 100 */
  limit?: number;
}

/** The jobs matching `filters`, newest first (scans from the end, stops at `limit`). */
export function filterJobs(source: LookoutSource, filters: JobListFilters): LookoutJob[] {
  const all = source.jobs();
  const limit = filters.limit ?? 100;
  const out: LookoutJob[] = [];
  for (let i = all.length - 1; i >= 0 && out.length < limit; i--) {
    const j = all[i];
    if (filters.queue && j.queue !== filters.queue) continue;
    if (filters.jobSet && j.jobSetId !== filters.jobSet) continue;
    if (filters.state && j.state !== filters.state.toUpperCase()) continue;
    out.push(j);
  }
  return out;
}

/** Renders the job list. */
export function jobListPage(source: LookoutSource, filters: JobListFilters) {
  const jobs = filterJobs(source, filters);
  return page(
    "Jobs",
    html`<h1>Jobs</h1>
      <form class="filters" method="get" action="/">
        <label>Queue <input name="queue" value="${filters.queue ?? ""}" /></label>
        <label>Job set <input name="jobSet" value="${filters.jobSet ?? ""}" /></label>
        <label>State <input name="state" value="${filters.state ?? ""}" /></label>
        <button type="submit">Filter</button>
      </form>
      <p id="count">${jobs.length} job(s) shown, ${source.jobs().length} in total.</p>
      <table id="jobs">
        <tr>
          <th>Job</th>
          <th>Queue</th>
          <th>Job set</th>
          <th>State</th>
          <th>Submitted</th>
          <th>Reason</th>
        </tr>
        ${jobs.map(
          (j) =>
            html`<tr>
              <td><a href="/jobs/${j.id}">${j.id}</a></td>
              <td>${j.queue}</td>
              <td>${j.jobSetId}</td>
              <td>${stateBadge(j.state)}</td>
              <td>${time(j.submittedAt)}</td>
              <td>${j.error ?? j.cancelReason ?? ""}</td>
            </tr>`,
        )}
      </table>`,
  );
}
