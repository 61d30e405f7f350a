/**
 * Armada's retry engine, as the dev server applies it: named retry policies
 * (the `RetryPolicyService` resources), attached to queues by name, decide
 * after each failed run whether the job runs again (a new run of the same job
 * id) or fails for good.
 *
 * The published API matches rules on the failure category the error
 * categorizer gave the run (and optionally its subcategory); exit codes and
 * conditions reach a policy through categories (`--failure-category`). Rules
 * are tried in order, the first match decides, else the policy's default
 * action. `retry_limit` counts retries, not attempts. Preemptions and
 * rejections are never retried; a fail-fast job and a gang of two or more
 * jobs bypass the engine, as in Armada.
 */
import { RetryAction, type RetryPolicy, type RetryRule } from "../gen/armada/submit.js";
import { parseQuantity } from "./quantity.js";
import { DevRequestError } from "./request-error.js";

/** Annotation with which a job opts out of the retry engine (`"true"`). */
export const FAIL_FAST_ANNOTATION = "armadaproject.io/failFast";

/** What the engine decided for a failed run. */
export type RetryDecision =
  | { retry: true; rule: RetryRule | undefined }
  | { retry: false; /** Why no retry, when a policy applied ("" when none did). */ why: string };

/** The failed run, as the engine sees it. */
export interface FailedRunFacts {
  category: string;
  subcategory: string;
  /** Failed runs of the job so far, this one included. */
  failedRuns: number;
  failFast: boolean;
  /** Cardinality of the job's gang (1 when not in a gang). */
  gangCardinality: number;
}

/** Checks a policy as the real server does at write time; throws INVALID_ARGUMENT naming the field. */
export function checkRetryPolicy(p: RetryPolicy): void {
  const bad = (msg: string): never => {
    throw new DevRequestError("INVALID_ARGUMENT", `retry policy "${p.name}": ${msg}`);
  };
  if (!p.name) throw new DevRequestError("INVALID_ARGUMENT", "retry policy name is a required field");
  if (
    p.defaultAction !== RetryAction.RETRY_ACTION_FAIL &&
    p.defaultAction !== RetryAction.RETRY_ACTION_RETRY
  ) {
    bad("default_action must be RETRY_ACTION_FAIL or RETRY_ACTION_RETRY");
  }
  p.rules.forEach((r, i) => {
    const at = `rules[${i}]`;
    if (r.action !== RetryAction.RETRY_ACTION_FAIL && r.action !== RetryAction.RETRY_ACTION_RETRY) {
      bad(`${at}.action must be RETRY_ACTION_FAIL or RETRY_ACTION_RETRY`);
    }
    if (!r.onCategory) {
      bad(
        r.onSubcategory
          ? `${at}.on_subcategory needs on_category as well`
          : `${at} needs on_category (the failure category it matches)`,
      );
    }
    const memory = r.mutate?.resources?.memory;
    if (memory) {
      if ((memory.static !== "") === (memory.factor !== 0)) {
        bad(`${at}.mutate.resources.memory needs exactly one of static and factor`);
      }
      if (memory.factor !== 0 && !(memory.factor > 1))
        bad(`${at}.mutate.resources.memory.factor must exceed 1.0`);
      if (memory.static) {
        try {
          if (parseQuantity(memory.static) <= 0) throw new Error("not positive");
        } catch {
          bad(
            `${at}.mutate.resources.memory.static "${memory.static}" is not a positive quantity (e.g. 512Mi)`,
          );
        }
      }
    }
  });
}

/** Applies a policy to a failed run; `globalMaxRetries` caps every policy, as Armada's scheduler does. */
export function decideRetry(
  policy: RetryPolicy | undefined,
  facts: FailedRunFacts,
  globalMaxRetries: number,
): RetryDecision {
  if (!policy) return { retry: false, why: "" };
  if (facts.failFast) return { retry: false, why: "" };
  if (facts.gangCardinality > 1) return { retry: false, why: "" };
  const rule = policy.rules.find(
    (r) => r.onCategory === facts.category && (!r.onSubcategory || r.onSubcategory === facts.subcategory),
  );
  const action = rule ? rule.action : policy.defaultAction;
  const which = rule ? `rule on category ${rule.onCategory}` : "default action";
  if (action !== RetryAction.RETRY_ACTION_RETRY) {
    return { retry: false, why: `Retry policy ${policy.name}: ${which} is Fail` };
  }
  const retriesSoFar = facts.failedRuns - 1;
  if (retriesSoFar >= policy.retryLimit) {
    return {
      retry: false,
      why: `Retry policy ${policy.name}: policy retry limit of ${policy.retryLimit} reached after ${facts.failedRuns} failed runs`,
    };
  }
  if (retriesSoFar >= globalMaxRetries) {
    return {
      retry: false,
      why: `Retry policy ${policy.name}: global retry limit of ${globalMaxRetries} reached after ${facts.failedRuns} failed runs`,
    };
  }
  return { retry: true, rule };
}

/** The retry policies a server holds, by name. */
export class RetryPolicyRegistry {
  private readonly policies = new Map<string, RetryPolicy>();

  constructor(
    private readonly onChange: (name: string, policy: RetryPolicy | undefined) => void = () => {},
  ) {}

  create(p: RetryPolicy): void {
    checkRetryPolicy(p);
    if (this.policies.has(p.name)) {
      throw new DevRequestError("ALREADY_EXISTS", `retry policy "${p.name}" already exists`);
    }
    this.put(p);
  }

  update(p: RetryPolicy): void {
    checkRetryPolicy(p);
    if (!this.policies.has(p.name)) {
      throw new DevRequestError("NOT_FOUND", `retry policy "${p.name}" does not exist`);
    }
    this.put(p);
  }

  /** Deletes a policy; refused while a queue (named by `usedBy`) still refers to it. */
  delete(name: string, usedBy: string[]): void {
    if (!this.policies.has(name))
      throw new DevRequestError("NOT_FOUND", `retry policy "${name}" does not exist`);
    if (usedBy.length > 0) {
      throw new DevRequestError(
        "FAILED_PRECONDITION",
        `retry policy "${name}" is still used by queue(s) ${usedBy.join(", ")}; remove it from their retry_policies first`,
      );
    }
    this.policies.delete(name);
    this.onChange(name, undefined);
  }

  get(name: string): RetryPolicy {
    const p = this.policies.get(name);
    if (!p) throw new DevRequestError("NOT_FOUND", `retry policy "${name}" does not exist`);
    return p;
  }

  /** The policy, or undefined (a queue may name one that was never created: Armada then does not retry). */
  find(name: string): RetryPolicy | undefined {
    return this.policies.get(name);
  }

  list(): RetryPolicy[] {
    return [...this.policies.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Restores a policy from storage (no checks, no change notice). */
  restore(p: RetryPolicy): void {
    this.policies.set(p.name, p);
  }

  private put(p: RetryPolicy): void {
    this.policies.set(p.name, p);
    this.onChange(p.name, p);
  }
}
