/**
 * Checks of what a DAG file defines: task and DAG ids, the BaseOperator
 * options (retries, delays, timeouts, trigger rule, ...) and a DAG's own
 * options. They run in the constructors, so a mistake stops the DAG file
 * from loading with an error naming the field and the fix, instead of
 * surfacing later as a task that never runs or retries forever.
 */
import { brandSymbol, hasBrand } from "./brand.js";
import { currentRuntimeConfig, type CoreConfig } from "./runtime-config.js";
import { DagDefinitionError } from "./errors.js";
import { TriggerRule } from "./state.js";

/** Airflow's limit on DAG and task id length. */
export const MAX_ID_LENGTH = 250;

const ID_PATTERN = /^[A-Za-z0-9_.-]+$/;
const TRIGGER_RULES: readonly string[] = Object.values(TriggerRule);
const DAG_BRAND = brandSymbol("DAG");

const shown = (value: unknown): string => {
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "function") return "a function";
  if (typeof value === "number" || value === undefined) return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
};

/**
 * Refuses an id that is not 1 to 250 letters, digits, `_`, `-` or `.`.
 * `field` is `taskId` or `dagId`; `where` prefixes the message.
 */
export function checkId(field: "taskId" | "dagId", value: unknown, where = ""): string {
  const example = field === "taskId" ? '"load_data"' : '"nightly_etl"';
  if (typeof value !== "string" || !ID_PATTERN.test(value) || value.length > MAX_ID_LENGTH) {
    const why =
      typeof value === "string" && value.length > MAX_ID_LENGTH
        ? `is ${value.length} characters long`
        : `got ${shown(value)}`;
    throw new DagDefinitionError(
      field,
      `${where}${field} must be a non-empty string of at most ${MAX_ID_LENGTH} letters, digits, "_", "-" or ".", e.g. ${example}; ${why}`,
    );
  }
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** The trigger rule a near miss (`allSuccess`, `ALL-SUCCESS`) was meant to be, if any. */
function nearestTriggerRule(value: string): string | undefined {
  const norm = value
    .trim()
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/[-\s]+/g, "_")
    .toLowerCase();
  return TRIGGER_RULES.find((r) => r === norm);
}

type Check = (value: unknown, field: string, where: string) => void;

const seconds =
  (min: "zero" | "positive", example: number): Check =>
  (value, field, where) => {
    const ok =
      typeof value === "number" && Number.isFinite(value) && (min === "zero" ? value >= 0 : value > 0);
    if (!ok) {
      const bound = min === "zero" ? ">= 0" : "> 0";
      const hint = typeof value === "string" ? ' (a number, not a string such as "5m")' : "";
      throw new DagDefinitionError(
        field,
        `${where}${field} must be a number of seconds ${bound}${hint}, e.g. ${example}; got ${shown(value)}`,
      );
    }
  };

const boolean: Check = (value, field, where) => {
  if (typeof value !== "boolean") {
    throw new DagDefinitionError(field, `${where}${field} must be true or false, got ${shown(value)}`);
  }
};

const plainObject: Check = (value, field, where) => {
  if (!isPlainObject(value)) {
    throw new DagDefinitionError(
      field,
      `${where}${field} must be a plain object of values, e.g. { name: "value" }; got ${shown(value)}`,
    );
  }
};

/** The checks of BaseOperator's own options, by option name (all optional). */
const OPERATOR_OPTION_CHECKS: Record<string, Check> = {
  retries: (value, field, where) => {
    if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
      throw new DagDefinitionError(
        field,
        `${where}${field} must be a whole number >= 0 (tries after the first), e.g. 2; got ${shown(value)}`,
      );
    }
  },
  retryDelay: seconds("zero", 300),
  maxRetryDelay: seconds("zero", 3600),
  executionTimeout: seconds("positive", 600),
  retryExponentialBackoff: boolean,
  doXcomPush: boolean,
  params: plainObject,
  pool: (value, field, where) => {
    if (typeof value !== "string" || value.trim() === "" || value.length > 256) {
      throw new DagDefinitionError(
        field,
        `${where}${field} must be the name of a pool (a non-empty string of at most 256 characters; see armada-airflow pools list), got ${shown(value)}`,
      );
    }
  },
  poolSlots: (value, field, where) => {
    if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
      throw new DagDefinitionError(
        field,
        `${where}${field} must be a whole number >= 1 (the slots of its pool a try takes), e.g. 2; got ${shown(value)}`,
      );
    }
  },
  triggerRule: (value, field, where) => {
    if (typeof value === "string" && TRIGGER_RULES.includes(value)) return;
    const near = typeof value === "string" ? nearestTriggerRule(value) : undefined;
    throw new DagDefinitionError(
      field,
      `${where}${field} ${shown(value)} is not a trigger rule${near ? ` (did you mean "${near}"?)` : ""}; ` +
        `use one of ${TRIGGER_RULES.join(", ")}`,
    );
  },
};

/**
 * Checks BaseOperator's options as given to a task (`prefix` ""), or as a
 * DAG's `defaultArgs` (`prefix` "defaultArgs."). Options of subclasses are
 * left to them. Undefined means "not given".
 */
export function checkOperatorOptions(options: Record<string, unknown>, where: string, prefix = ""): void {
  for (const [name, check] of Object.entries(OPERATOR_OPTION_CHECKS)) {
    const value = options[name];
    if (value !== undefined) check(value, `${prefix}${name}`, where);
  }
}

/**
 * The default of a numeric BaseOperator option read from `[core] key`,
 * checked as the option itself is; a bad setting is named by its key
 * (`[core] default_task_retries`), since that is where the fix goes.
 */
export function configuredOperatorDefault(
  option: string,
  key: "default_task_retries" | "default_task_retry_delay" | "max_task_retry_delay",
  core: CoreConfig = currentRuntimeConfig().core,
): number {
  const value = core[key];
  OPERATOR_OPTION_CHECKS[option]!(value, `[core] ${key}`, `config (option ${option}): `);
  return value;
}

/** Checks a task's `dag` option: a DAG object, when given. */
export function checkDagOption(value: unknown, where: string): void {
  if (value !== undefined && !hasBrand(value, DAG_BRAND)) {
    throw new DagDefinitionError(
      "dag",
      `${where}dag must be a DAG created with new DAG({ dagId }), got ${shown(value)}`,
    );
  }
}

/** Checks a DAG's options other than its id (see DagOptions). */
export function checkDagOptions(options: Record<string, unknown>, where: string): void {
  const { defaultArgs, params, tags, description } = options;
  if (defaultArgs !== undefined) {
    plainObject(defaultArgs, "defaultArgs", where);
    const defaults = defaultArgs as Record<string, unknown>;
    for (const own of ["taskId", "dag"]) {
      if (defaults[own] !== undefined) {
        throw new DagDefinitionError(
          `defaultArgs.${own}`,
          `${where}defaultArgs.${own} cannot be a default: pass ${own} to each task's constructor`,
        );
      }
    }
    checkOperatorOptions(defaults, where, "defaultArgs.");
  }
  if (params !== undefined) plainObject(params, "params", where);
  // `schedule` (a cron text, a preset, `{ every }`, an ISO 8601 duration or null) is checked by the
  // scheduler's parser when the DAG is built, which names what is wrong in it.
  if (tags !== undefined && (!Array.isArray(tags) || tags.some((t) => typeof t !== "string"))) {
    throw new DagDefinitionError("tags", `${where}tags must be a list of strings, got ${shown(tags)}`);
  }
  if (description !== undefined && typeof description !== "string") {
    throw new DagDefinitionError(
      "description",
      `${where}description must be a string, got ${shown(description)}`,
    );
  }
}
