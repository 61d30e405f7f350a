import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { ErrorCode } from "../common/error-code.js";
/**
 * Armada's error categorizer, as the dev server applies it to a failed run:
 * an ordered list of named categories, each with rules on the failed
 * containers' exit codes, on Kubernetes conditions (`OOMKilled`, ...) and on
 * the failure text; the first matching rule names the category (and its
 * subcategory), else the default category. Failures Armada itself decides
 * (a rejected job) carry the fixed category `internal`, as the real
 * scheduler stamps them, so a rule never has to match Armada's own words.
 */

/** A rule on the failed containers' exit codes. */
export interface ExitCodeMatcher {
  operator: "In" | "NotIn";
  values: number[];
}

/** One rule of a category; every matcher it gives must match. */
export interface FailureCategoryRule {
  /** Matches when a failed container's exit code is (or, with NotIn, is not) one of the values. */
  onExitCodes?: ExitCodeMatcher;
  /** Matches when the failure has one of these conditions (`OOMKilled`, `Evicted`, `DeadlineExceeded`). */
  onConditions?: string[];
  /** Matches the failure text (the reason `GetJobErrors` answers) against this regular expression. */
  onMessage?: RegExp;
  /** Subcategory the rule gives. @default "" */
  subcategory?: string;
}

/** A named category and its rules, tried in order. */
export interface FailureCategory {
  name: string;
  rules: FailureCategoryRule[];
}

/** What a failed run tells the categorizer. */
export interface FailureFacts {
  /** Exit code per container; only non-zero ones count as failed containers. */
  exitCodes: Record<string, number>;
  /** Kubernetes conditions of the failure, e.g. `OOMKilled`. */
  conditions: string[];
  /** The failure text. */
  message: string;
}

/** The category a failure was put in. */
export interface Categorized {
  category: string;
  subcategory: string;
}

/**
 * The rules built in, as Armada's own end-to-end executor configuration has
 * them: `oom` for a container the kernel killed for memory, `user_error` for
 * the exit codes a program or shell gives for its own errors.
 */
export const DEFAULT_FAILURE_CATEGORIES: readonly FailureCategory[] = [
  { name: "oom", rules: [{ onConditions: ["OOMKilled"] }] },
  { name: "user_error", rules: [{ onExitCodes: { operator: "In", values: [1, 2, 126, 127] } }] },
];

/** Category of a failure no rule matches. */
export const DEFAULT_FAILURE_CATEGORY = "uncategorized";

/** Category of a failure Armada itself decided. */
export const INTERNAL_FAILURE_CATEGORY = "internal";

function ruleMatches(rule: FailureCategoryRule, facts: FailureFacts): boolean {
  let any = false;
  if (rule.onExitCodes) {
    any = true;
    const { operator, values } = rule.onExitCodes;
    const failed = Object.values(facts.exitCodes).filter((c) => c !== 0);
    const hit = failed.some((c) => (operator === "In" ? values.includes(c) : !values.includes(c)));
    if (!hit) return false;
  }
  if (rule.onConditions) {
    any = true;
    if (!rule.onConditions.some((c) => facts.conditions.includes(c))) return false;
  }
  if (rule.onMessage) {
    any = true;
    if (!rule.onMessage.test(facts.message)) return false;
  }
  return any;
}

/** Puts failures in categories: the given categories first, then the built-in ones. */
export class FailureCategorizer {
  private readonly categories: readonly FailureCategory[];

  constructor(
    extra: readonly FailureCategory[] = [],
    private readonly defaultCategory = DEFAULT_FAILURE_CATEGORY,
  ) {
    this.categories = [...extra, ...DEFAULT_FAILURE_CATEGORIES];
  }

  /** The first matching category, else the default one. */
  classify(facts: FailureFacts): Categorized {
    for (const category of this.categories) {
      for (const rule of category.rules) {
        if (ruleMatches(rule, facts)) return { category: category.name, subcategory: rule.subcategory ?? "" };
      }
    }
    return { category: this.defaultCategory, subcategory: "" };
  }
}

const CATEGORY_NAME = /^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$/;
const RULE_HELP =
  'expected NAME[/SUBCATEGORY]=RULE where RULE is exit-code:1,2 (or exit-code:!0,137 for "not in"), ' +
  "condition:OOMKilled, or message:REGEX; e.g. gpu_error/xid=message:GPU has fallen off the bus";

/**
 * Parses one `--failure-category` value, `NAME[/SUBCATEGORY]=KIND:VALUE`.
 * Throws an Error naming the value and the expected form when malformed.
 */
export function parseFailureCategoryRule(text: string): FailureCategory {
  const eq = text.indexOf("=");
  if (eq <= 0)
    throw new ArmadaAirflowError(
      ErrorCode.InvalidArgument,
      `"${text}" is not a failure category rule: ${RULE_HELP}`,
    );
  const [name, subcategory = ""] = text.slice(0, eq).split("/", 2);
  if (!CATEGORY_NAME.test(name) || (subcategory && !CATEGORY_NAME.test(subcategory))) {
    throw new ArmadaAirflowError(
      ErrorCode.InvalidArgument,
      `"${text}": category and subcategory names are lowercase letters, digits, "_" and "-" (got "${text.slice(0, eq)}"); ${RULE_HELP}`,
    );
  }
  const body = text.slice(eq + 1);
  const colon = body.indexOf(":");
  const kind = colon < 0 ? body : body.slice(0, colon);
  const value = colon < 0 ? "" : body.slice(colon + 1);
  const rule: FailureCategoryRule = subcategory ? { subcategory } : {};
  if (kind === "exit-code") {
    const notIn = value.startsWith("!");
    const parts = (notIn ? value.slice(1) : value).split(",").map((v) => v.trim());
    const values = parts.map(Number);
    if (
      parts.length === 0 ||
      values.some((v, i) => parts[i] === "" || !Number.isInteger(v) || v < 0 || v > 255)
    ) {
      throw new ArmadaAirflowError(
        ErrorCode.InvalidArgument,
        `"${text}": exit-code needs a comma-separated list of exit codes 0-255; ${RULE_HELP}`,
      );
    }
    rule.onExitCodes = { operator: notIn ? "NotIn" : "In", values };
  } else if (kind === "condition") {
    const conditions = value.split(",").map((v) => v.trim());
    const known = ["OOMKilled", "Evicted", "DeadlineExceeded"];
    const bad = conditions.find((c) => !known.includes(c));
    if (bad !== undefined) {
      throw new ArmadaAirflowError(
        ErrorCode.InvalidArgument,
        `"${text}": condition "${bad}" is not one of ${known.join(", ")}; ${RULE_HELP}`,
      );
    }
    rule.onConditions = conditions;
  } else if (kind === "message") {
    try {
      rule.onMessage = new RegExp(value);
    } catch (err) {
      throw new ArmadaAirflowError(
        ErrorCode.InvalidArgument,
        `"${text}": message is not a regular expression: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    if (!value)
      throw new ArmadaAirflowError(
        ErrorCode.InvalidArgument,
        `"${text}": message needs a regular expression; ${RULE_HELP}`,
      );
  } else {
    throw new ArmadaAirflowError(
      ErrorCode.InvalidArgument,
      `"${text}": unknown rule kind "${kind}"; ${RULE_HELP}`,
    );
  }
  return { name, rules: [rule] };
}

/** Merges rules of the same category name (repeated flags) in the order given. */
export function mergeFailureCategories(list: readonly FailureCategory[]): FailureCategory[] {
  const byName = new Map<string, FailureCategory>();
  for (const c of list) {
    const seen = byName.get(c.name);
    if (seen) seen.rules.push(...c.rules);
    else byName.set(c.name, { name: c.name, rules: [...c.rules] });
  }
  return [...byName.values()];
}
