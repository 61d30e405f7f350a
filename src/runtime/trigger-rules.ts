import type { TaskInstanceState, TriggerRule } from "./state.js";

/** What to do with a task instance whose state is NONE, given its upstream task instances. */
export type TriggerDecision = "wait" | "run" | "skip" | "upstream_failed";

const FAILED = new Set<TaskInstanceState>(["failed", "upstream_failed"]);
const DONE = new Set<TaskInstanceState>(["success", "failed", "upstream_failed", "skipped", "removed"]);

/**
 * Airflow's trigger rule semantics. `upstream` holds every upstream task
 * instance's state (all map indexes of mapped upstream tasks); `undefined`
 * stands for an upstream not created yet (an unexpanded mapped task).
 */
export function evaluateTriggerRule(rule: TriggerRule, upstream: (TaskInstanceState | undefined)[]): TriggerDecision {
  if (upstream.length === 0 || rule === "always") return "run";
  const done = upstream.every((s) => s !== undefined && DONE.has(s));
  const count = (p: (s: TaskInstanceState) => boolean) => upstream.filter((s) => s !== undefined && p(s)).length;
  const success = count((s) => s === "success");
  const failed = count((s) => FAILED.has(s));
  const skipped = count((s) => s === "skipped");
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
