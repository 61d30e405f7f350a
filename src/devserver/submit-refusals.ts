/**
 * The whole-call refusals of `SubmitJobs`, in the order a real Armada server
 * checks them: the queue first (its lookup is part of the permission check, so
 * an unknown or empty queue name is PERMISSION_DENIED), then the request's
 * fields, then each item. The first problem fails the call; no job is created.
 * The messages are the server's own, so code that matches on them works
 * against both.
 */
import type { JobSubmitRequestItem } from "../gen/armada/submit.js";
import { checkGangs } from "./gangs.js";
import { DevRequestError } from "./request-error.js";

/** Priority classes a default Armada installation accepts. */
export const DEFAULT_PRIORITY_CLASSES: readonly string[] = ["armada-default", "armada-preemptible"];

/** Longest job set id Armada accepts is one less than this. */
const MAX_JOB_SET_ID_CHARS = 1024;
/** Longest client id Armada accepts. */
const MAX_CLIENT_ID_CHARS = 100;

/** What the checks need to know about the server. */
export interface SubmitRefusalContext {
  queueExists(name: string): boolean;
  /** Priority class names a pod spec may name. */
  priorityClasses: ReadonlySet<string>;
}

/** A string quoted as Go's `%q` quotes it (the real server's messages use it). */
export function goQuote(s: string): string {
  return JSON.stringify(s).replace(/\\u00([0-9a-f]{2})/g, "\\x$1");
}

/** Throws {@link DevRequestError} for the first whole-call refusal of a submit request. */
export function refuseSubmitRequest(
  queue: string,
  jobSetId: string,
  items: readonly JobSubmitRequestItem[],
  ctx: SubmitRefusalContext,
): void {
  if (!ctx.queueExists(queue)) {
    throw new DevRequestError("PERMISSION_DENIED", `could not find queue ${goQuote(queue)}`);
  }
  checkGangs(items);
  if (!jobSetId) throw new DevRequestError("INVALID_ARGUMENT", "job set id is a required field");
  if (jobSetId.length >= MAX_JOB_SET_ID_CHARS) {
    throw new DevRequestError(
      "INVALID_ARGUMENT",
      `job set id of length ${jobSetId.length} must be less than max character length ${MAX_JOB_SET_ID_CHARS}`,
    );
  }
  for (const item of items) {
    if (!item.podSpec && item.podSpecs.length === 0) {
      throw new DevRequestError("INVALID_ARGUMENT", "Job must contain at least one PodSpec");
    }
    if (item.podSpec && item.podSpecs.length > 0) {
      throw new DevRequestError(
        "INVALID_ARGUMENT",
        "PodSpec must be nil if PodSpecs is provided (i.e., these are exclusive)",
      );
    }
    if (item.podSpecs.length > 1) {
      throw new DevRequestError("INVALID_ARGUMENT", "Jobs with multiple pods are not supported");
    }
    const pc = (item.podSpec ?? item.podSpecs[0])?.priorityClassName ?? "";
    if (pc && !ctx.priorityClasses.has(pc)) {
      throw new DevRequestError("INVALID_ARGUMENT", `priority class ${pc} is not supported`);
    }
    if ((item.podSpec ?? item.podSpecs[0])?.containers.length === 0) {
      throw new DevRequestError("INVALID_ARGUMENT", "pod spec has no containers");
    }
    if (item.clientId.length > MAX_CLIENT_ID_CHARS) {
      // Two spaces before the number: the real server's message has them.
      throw new DevRequestError(
        "INVALID_ARGUMENT",
        `client id of length ${item.clientId.length} is greater than max allowed length of  ${MAX_CLIENT_ID_CHARS}`,
      );
    }
  }
}
