import type { TaskInstanceState, TriggerRule } from "./state.js";

/** What to do with a task instance whose state is NONE, given its upstream task instances. */
export type TriggerDecision = "wait" | "run" | "skip" | "upstream_failed";

const FAILED = new Set<TaskInstanceState>(["failed", "upstream_failed"]);
const DONE = new Set<TaskInstanceState>(["success", "failed", "upstream_failed", "skipped", "removed"]);

/**
 * What a trigger rule needs to know of a task's upstream task instances:
 * counts, not the list, so a task downstream of 100,000 mapped instances is
 * decided in constant time.
 */
export interface UpstreamSummary {
  /** Upstream task instances, plus one per upstream task not created yet. */
  total: number;
  /** Upstream tasks with no task instance yet (an unexpanded mapped task). */
  missing: number;
  success: number;
  /** FAILED or UPSTREAM_FAILED. */
  failed: number;
  skipped: number;
  /** In a final state (success, failed, upstream_failed, skipped, removed). */
  done: number;
}

/** An empty {@link UpstreamSummary}, to add counts to. */
export const emptyUpstreamSummary = (): UpstreamSummary => ({
  total: 0,
  missing: 0,
  success: 0,
  failed: 0,
  skipped: 0,
  done: 0,
});

/** Adds `n` upstream task instances in `state` to a summary. */
export function addToSummary(summary: UpstreamSummary, state: TaskInstanceState, n = 1): void {
  summary.total += n;
  if (state === "success") summary.success += n;
  if (FAILED.has(state)) summary.failed += n;
  if (state === "skipped") summary.skipped += n;
  if (DONE.has(state)) summary.done += n;
}

/**
 * Airflow's trigger rule semantics. `upstream` holds every upstream task
 * instance's state (all map indexes of mapped upstream tasks); `undefined`
 * stands for an upstream not created yet (an unexpanded mapped task).
 */
export function evaluateTriggerRule(
  rule: TriggerRule,
  upstream: (TaskInstanceState | undefined)[],
): TriggerDecision {
  const summary = emptyUpstreamSummary();
  for (const s of upstream) {
    if (s === undefined) {
      summary.total += 1;
      summary.missing += 1;
    } else addToSummary(summary, s);
  }
  return decideTriggerRule(rule, summary);
}

/** {@link evaluateTriggerRule} on counts. */
export function decideTriggerRule(rule: TriggerRule, upstream: UpstreamSummary): TriggerDecision {
  if (upstream.total === 0 || rule === "always") return "run";
  const done = upstream.missing === 0 && upstream.done === upstream.total;
  const { success, failed, skipped } = upstream;
  switch (rule) {
    case "all_success":
      if (failed > 0) return "upstream_failed";
      if (skipped > 0) return "skip";
      return done ? "run" : "wait";
    case "all_failed":
      if (success > 0 || skipped > 0) return "skip";
      return done ? "run" : "wait";
    case "all_done":
      return done ? "run" : "wait";
    case "all_skipped":
      if (success > 0 || failed > 0) return "skip";
      return done ? "run" : "wait";
    case "one_success":
      if (success > 0) return "run";
      if (!done) return "wait";
      return failed > 0 ? "upstream_failed" : "skip";
    case "one_failed":
      if (failed > 0) return "run";
      return done ? "skip" : "wait";
    case "one_done":
      if (success > 0 || failed > 0) return "run";
      return done ? "skip" : "wait";
    case "none_failed":
      if (failed > 0) return "upstream_failed";
      return done ? "run" : "wait";
    case "none_skipped":
      if (skipped > 0) return "skip";
      return done ? "run" : "wait";
    case "none_failed_min_one_success":
      if (failed > 0) return "upstream_failed";
      if (!done) return "wait";
      return success > 0 ? "run" : "skip";
    default:
      return done ? "run" : "wait";
  }
}
