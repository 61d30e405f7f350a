/** The page frame and small helpers shared by the Lookout pages. */
import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";

type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

const STATE_COLOURS: Record<string, string> = {
  SUCCEEDED: "#1b7f3b",
  FAILED: "#b3261e",
  REJECTED: "#b3261e",
  CANCELLED: "#6b6b6b",
  PREEMPTED: "#a05a00",
  RUNNING: "#0b57d0",
  PENDING: "#7a5af5",
  LEASED: "#7a5af5",
  QUEUED: "#8a6d00",
  SUBMITTED: "#8a6d00",
};

/** A coloured state badge. */
export function stateBadge(state: string): Html {
  return html`<span class="state" data-state="${state}" style="background:${STATE_COLOURS[state] ?? "#444"}"
    >${state}</span
  >`;
}

/** Formats a time as ISO 8601, or an em dash. */
export function time(d: Date | undefined): string {
  return d ? d.toISOString() : "—";
}

/** The whole page; `refreshSeconds` reloads it while something is still changing. */
export function page(title: string, body: Html, refreshSeconds?: number): Html {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        ${refreshSeconds ? html`<meta http-equiv="refresh" content="${refreshSeconds}" />` : ""}
        <title>${title} · Armada dev Lookout</title>
        <style>
          body {
            font-family: system-ui, sans-serif;
            margin: 0;
            color: #1f1f1f;
            background: #fafafa;
          }
          header {
            background: #1f2a44;
            color: #fff;
            padding: 0.6rem 1rem;
          }
          header a {
            color: #fff;
            text-decoration: none;
            font-weight: 600;
          }
          main {
            padding: 1rem 1.5rem;
          }
          table {
            border-collapse: collapse;
            width: 100%;
            background: #fff;
          }
          th,
          td {
            border: 1px solid #ddd;
            padding: 0.3rem 0.5rem;
            text-align: left;
            font-size: 0.9rem;
            vertical-align: top;
          }
          th {
            background: #eef1f6;
          }
          td:first-child,
          td code {
            white-space: nowrap;
          }
          .state {
            color: #fff;
            border-radius: 0.3rem;
            padding: 0.1rem 0.4rem;
            font-size: 0.8rem;
            font-weight: 600;
          }
          pre {
            background: #111;
            color: #e6e6e6;
            padding: 0.6rem;
            overflow: auto;
            font-size: 0.8rem;
          }
          .reason {
            color: #b3261e;
          }
          form.filters {
            margin-bottom: 1rem;
            display: flex;
            gap: 0.5rem;
            flex-wrap: wrap;
          }
          dl {
            display: grid;
            grid-template-columns: max-content auto;
            gap: 0.2rem 1rem;
          }
          dt {
            font-weight: 600;
          }
        </style>
      </head>
      <body>
        <header><a href="/">Armada dev Lookout</a></header>
        <main>${body}</main>
      </body>
    </html>`;
}
