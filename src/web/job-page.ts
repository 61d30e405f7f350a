/** `/jobs/<job_id>`: one job's state, reason, runs, events and logs. */
import { html } from "hono/html";
import { TERMINAL_JOB_STATE_NAMES } from "../client/job-states.js";
import type { LookoutJob, LookoutSource } from "./lookout-source.js";
import { page, stateBadge, time } from "./layout.js";

function eventSummary(value: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const key of [
    "clusterId",
    "nodeName",
    "podName",
    "reason",
    "failureCategory",
    "failureSubcategory",
    "requestor",
    "newPriority",
  ]) {
    const v = value[key];
    if (v !== undefined && v !== "" && v !== 0) parts.push(`${key}=${String(v)}`);
  }
  return parts.join(" ");
}

/** Renders the job page. */
export function jobPage(source: LookoutSource, job: LookoutJob) {
  const events = source.jobEvents(job);
  const logs = source.logs(job);
  // A job waiting for a node says why, as Lookout shows a queued job's scheduling reason.
  const reason = job.error ?? job.cancelReason ?? (job.state === "QUEUED" ? job.schedulingReason : undefined);
  return page(
    `Job ${job.id}`,
    html`<h1>Job <code id="job-id">${job.id}</code> ${stateBadge(job.state)}</h1>
      <dl>
        <dt>Queue</dt>
        <dd id="queue">${job.queue}</dd>
        <dt>Job set</dt>
        <dd id="job-set">${job.jobSetId}</dd>
        <dt>Namespace</dt>
        <dd>${job.namespace}</dd>
        <dt>Priority</dt>
        <dd>${job.priority}</dd>
        <dt>Owner</dt>
        <dd>${job.owner}</dd>
        <dt>Submitted</dt>
        <dd>${time(job.submittedAt)}</dd>
        <dt>Last transition</dt>
        <dd>${time(job.lastTransitionAt)}</dd>
        ${
          job.externalJobUri
            ? html`<dt>External job URI</dt>
                <dd>${job.externalJobUri}</dd>`
            : ""
        }
        ${
          reason
            ? html`<dt>Reason</dt>
                <dd class="reason" id="reason">${reason}</dd>`
            : ""
        }
      </dl>
      <h2>Runs</h2>
      ${
        job.runs.length === 0
          ? html`<p>No runs yet.</p>`
          : html`<table id="runs">
              <tr>
                <th>Run</th>
                <th>State</th>
                <th>Cluster</th>
                <th>Node</th>
                <th>Leased</th>
                <th>Started</th>
                <th>Finished</th>
                <th>Reason</th>
                <th>Failure category</th>
              </tr>
              ${job.runs.map(
                (r) =>
                  html`<tr>
                    <td><code>${r.runId}</code></td>
                    <td>${stateBadge(r.state)}</td>
                    <td>${r.cluster}</td>
                    <td>${r.node}</td>
                    <td>${time(r.leasedAt)}</td>
                    <td>${time(r.startedAt)}</td>
                    <td>${time(r.finishedAt)}</td>
                    <td>${r.reason ?? ""}</td>
                    <td class="failure-category">
                      ${r.failureCategory ?? ""}${r.failureSubcategory ? `/${r.failureSubcategory}` : ""}
                    </td>
                  </tr>`,
              )}
            </table>`
      }
      <h2>Events</h2>
      <table id="events">
        <tr>
          <th>Id</th>
          <th>Event</th>
          <th>Time</th>
          <th>Details</th>
        </tr>
        ${events.map((e) => {
          const ev = e.message?.events;
          const value = (ev?.value ?? {}) as unknown as Record<string, unknown>;
          return html`<tr>
            <td>${e.id}</td>
            <td>${ev?.$case ?? ""}</td>
            <td>${time(value.created as Date | undefined)}</td>
            <td>${eventSummary(value)}</td>
          </tr>`;
        })}
      </table>
      <h2>Logs</h2>
      ${
        logs === undefined
          ? html`<p id="logs">No pod logs (the job has no pod, or its pod was deleted).</p>`
          : logs.map(
              (l) =>
                html`<h3>${l.container}</h3>
                  <pre class="logs" data-container="${l.container}">
${l.lines.map((x) => `${new Date(x.timeMs).toISOString()} ${x.text}`).join("\n")}</pre>`,
            )
      }`,
    // Reload while the job can still change, so a user can watch it run.
    TERMINAL_JOB_STATE_NAMES.has(job.state) ? undefined : 2,
  );
}
