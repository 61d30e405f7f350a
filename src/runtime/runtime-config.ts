/**
 * Every setting the product reads, resolved once from one source (see
 * {@link ConfigSource} for the lookup order: `ARMADA_AIRFLOW__<SECTION>__<KEY>`,
 * `AIRFLOW__<SECTION>__<KEY>`, then the config file) into a frozen, typed
 * object that is carried to where it is used, instead of each constructor and
 * poll reading the environment itself.
 *
 * Values are parsed here (a number that is not one, a boolean that is not
 * one, is refused naming the key, where it was set and the fix, when that
 * value is read); the checks of range that belong to one consumer (a poll
 * interval > 0, a count >= 0) stay with it, so its error keeps naming the
 * option a user also can pass.
 */
import { ScopedValue } from "./async-scope.js";
import { configEnvVar, lookupConfig, type ConfigSource } from "./config.js";
import { RuntimeError } from "./errors.js";

/** `[core]`. */
export interface CoreConfig {
  /** DAGs folder of `scheduler` and `dags backfill` (relative to the CLI's folder). Env `ARMADA_AIRFLOW__CORE__DAGS_FOLDER`; default `"dags"`. */
  readonly dags_folder: string;
  /** Time zone of DAGs that set none. Env `ARMADA_AIRFLOW__CORE__DEFAULT_TIMEZONE`; default `"UTC"`. */
  readonly default_timezone: string;
  /** Tries running at once in one process (0: no limit). Env `ARMADA_AIRFLOW__CORE__PARALLELISM`; default 32. */
  readonly parallelism: number;
  /** `maxActiveTasks` of DAGs that do not set it. Env `ARMADA_AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG`; default 16. */
  readonly max_active_tasks_per_dag: number;
  /** `maxActiveRuns` of DAGs that do not set it. Env `ARMADA_AIRFLOW__CORE__MAX_ACTIVE_RUNS_PER_DAG`; default 16. */
  readonly max_active_runs_per_dag: number;
  /** Whether a DAG the scheduler first sees starts paused. Env `ARMADA_AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION`; default true. */
  readonly dags_are_paused_at_creation: boolean;
  /** Runner heartbeat period, real milliseconds. Env `ARMADA_AIRFLOW__CORE__RUNNER_HEARTBEAT_MS`; default 1000. */
  readonly runner_heartbeat_ms: number;
  /** Seconds a DAG file's top-level code may take to load. Env `ARMADA_AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT`; default 30. */
  readonly dagbag_import_timeout: number;
  /** Seconds one template render may take. Env `ARMADA_AIRFLOW__CORE__TEMPLATE_RENDER_TIMEOUT_S`; default 10. */
  readonly template_render_timeout_s: number;
  /** Bytes one template render may produce. Env `ARMADA_AIRFLOW__CORE__TEMPLATE_MAX_OUTPUT_BYTES`; default 4194304 (4 MiB). */
  readonly template_max_output_bytes: number;
  /** `retries` of tasks that do not set it. Env `ARMADA_AIRFLOW__CORE__DEFAULT_TASK_RETRIES`; default 0. */
  readonly default_task_retries: number;
  /** `retryDelay` (seconds) of tasks that do not set it. Env `ARMADA_AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY`; default 300. */
  readonly default_task_retry_delay: number;
  /** `maxRetryDelay` (seconds) of tasks that do not set it. Env `ARMADA_AIRFLOW__CORE__MAX_TASK_RETRY_DELAY`; default 86400. */
  readonly max_task_retry_delay: number;
  /**
   * How far (percent) the CLI's process lets V8's heap grow past what its last full garbage collection kept before
   * the next one (V8's `--heap-growing-percent`); 0: V8's own choice, which let a runner of 100,000 waiting tasks
   * hold up to three times its live heap in garbage. Env `ARMADA_AIRFLOW__CORE__HEAP_GROWING_PERCENT`; default 50.
   */
  readonly heap_growing_percent: number;
}

/** `[scheduler]`. */
export interface SchedulerConfig {
  /** `catchup` of DAGs that do not set it. Env `ARMADA_AIRFLOW__SCHEDULER__CATCHUP_BY_DEFAULT`; default false. */
  readonly catchup_by_default: boolean;
  /** Cron schedules make data intervals (else a run's interval is its logical date). Env `ARMADA_AIRFLOW__SCHEDULER__CREATE_CRON_DATA_INTERVALS`; default false. */
  readonly create_cron_data_intervals: boolean;
  /** Seconds a stopping scheduler lets its runs finish. Env `ARMADA_AIRFLOW__SCHEDULER__STOP_TIMEOUT_S`; default 30. */
  readonly stop_timeout_s: number;
  /** Seconds between orphan sweeps (0: off). Env `ARMADA_AIRFLOW__SCHEDULER__ORPHAN_SWEEP_INTERVAL_S`; default 300. */
  readonly orphan_sweep_interval_s: number;
  /** Seconds between the scheduler's looks at the database. Env `ARMADA_AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME`; default 1. */
  readonly scheduler_idle_sleep_time: number;
  /** Seconds between rescans of the DAGs folder. Env `ARMADA_AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL`; default 30. */
  readonly min_file_process_interval: number;
  /** Seconds after which a runner on another host without heartbeat is dead. Env `ARMADA_AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD`; default 30. */
  readonly scheduler_health_check_threshold: number;
}

/** `[triggerer]`. */
export interface TriggererConfig {
  /** Seconds between the triggerer's looks at the database. Env `ARMADA_AIRFLOW__TRIGGERER__POLL_INTERVAL_S`; default 1. */
  readonly poll_interval_s: number;
  /** Triggers one triggerer runs at once. Env `ARMADA_AIRFLOW__TRIGGERER__CAPACITY`; default 1000. */
  readonly capacity: number;
}

/** `[database]`. */
export interface DatabaseConfig {
  /** Store URL (`postgres://...`, `sqlite:<file>`). Env `ARMADA_AIRFLOW__DATABASE__URL`; default none: SQLite in `ARMADA_AIRFLOW_HOME`. */
  readonly url: string | undefined;
}

/** `[armada_operator]`. */
export interface ArmadaOperatorConfig {
  /** Seconds an Armada call may take. Env `ARMADA_AIRFLOW__ARMADA_OPERATOR__RPC_DEADLINE_S`; default 30. */
  readonly rpc_deadline_s: number;
  /** Seconds a submitted job may take to be found by its URI. Env `ARMADA_AIRFLOW__ARMADA_OPERATOR__SUBMIT_LOOKUP_GRACE_S`; default 30. */
  readonly submit_lookup_grace_s: number;
  /** `pollInterval` (seconds) of operators that do not set it. Env `ARMADA_AIRFLOW__ARMADA_OPERATOR__DEFAULT_POLL_INTERVAL_S`; default 30. */
  readonly default_poll_interval_s: number;
  /** `jobAcknowledgementTimeout` (seconds) of operators that do not set it. Env `ARMADA_AIRFLOW__ARMADA_OPERATOR__DEFAULT_JOB_ACKNOWLEDGEMENT_TIMEOUT_S`; default 300. */
  readonly default_job_acknowledgement_timeout_s: number;
  /** `dryRun` of operators that do not set it. Env `ARMADA_AIRFLOW__ARMADA_OPERATOR__DEFAULT_DRY_RUN`; default false. */
  readonly default_dry_run: boolean;
  /** `reattachPolicy` of operators that do not set it (checked by the operator). Env `ARMADA_AIRFLOW__ARMADA_OPERATOR__REATTACH_POLICY`; default none (never). */
  readonly reattach_policy: string | undefined;
  /** `tracking` of operators that do not set it, trimmed and lower-cased (checked by the operator). Env `ARMADA_AIRFLOW__ARMADA_OPERATOR__TRACKING`; default `"events"`. */
  readonly tracking: string;
  /** Event streams open at once per process (checked by the operator). Env `ARMADA_AIRFLOW__ARMADA_OPERATOR__MAX_EVENT_STREAMS`; default 100. */
  readonly max_event_streams: number;
  /**
   * Seconds a watching trigger waits with nothing new before it checks the job itself and writes a progress line
   * in the task's log (the task resumes only if the check finds something to do); 0 or less: no such checks.
   * Env `ARMADA_AIRFLOW__ARMADA_OPERATOR__MAX_QUIET_S`; default 300.
   */
  readonly max_quiet_s: number;
  /**
   * Whether a deferrable operator submits its job from the triggerer: the task defers before its submit, so its
   * slot is free while the submit waits, and the submits of every waiting task share `SubmitJobs` calls (up to 500
   * items each) instead of those of the tasks running at once. Env
   * `ARMADA_AIRFLOW__ARMADA_OPERATOR__SUBMIT_FROM_TRIGGERER`; default true.
   */
  readonly submit_from_triggerer: boolean;
  /**
   * Whether a deferrable operator's trigger ends the task when the job it waits on succeeds (Airflow's
   * end_from_trigger): the triggerer writes the task's result and SUCCESS, and the task is not resumed to find
   * out again. Not for a task that reads its job's container log or finds links in it (the task reads it), nor
   * for a subclass that overrides how the task resumes. Env `ARMADA_AIRFLOW__ARMADA_OPERATOR__END_FROM_TRIGGER`;
   * default true.
   */
  readonly end_from_trigger: boolean;
  /**
   * Prefix of the annotation keys the operator puts on its jobs (`<prefix>taskId`, ...; checked by the
   * operator). Env `ANNOTATION_KEY_PREFIX`, the reference operator's name (no `ARMADA_AIRFLOW__` form, no
   * config-file key); default `"armadaproject.io/"`.
   */
  readonly annotation_key_prefix: string;
}

/** `[operators]`. */
export interface OperatorsConfig {
  /** `deferrable` of operators that do not set it. Env `ARMADA_AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE`; default false. */
  readonly default_deferrable: boolean;
}

/** Every setting, by section; see {@link resolveRuntimeConfig}. Frozen. */
export interface RuntimeConfig {
  readonly core: CoreConfig;
  readonly scheduler: SchedulerConfig;
  readonly triggerer: TriggererConfig;
  readonly database: DatabaseConfig;
  readonly armada_operator: ArmadaOperatorConfig;
  readonly operators: OperatorsConfig;
}

const TRUE = ["true", "1", "yes", "on", "t"];
const FALSE = ["false", "0", "no", "off", "f"];

/** Reads one source; each read parses one key and names it, its origin and the fix when it is wrong. */
function reader(source: ConfigSource) {
  const refuse = (
    section: string,
    key: string,
    what: string,
    raw: string,
    origin: string,
    fallback: unknown,
  ) =>
    new RuntimeError(
      "config",
      `config ${section}.${key} must be ${what}, got "${raw}" (set by ${origin}); ` +
        `set ${configEnvVar(section, key)} (or [${section}] ${key} in the config file) to ${what}, ` +
        `or unset it for the default ${JSON.stringify(fallback)}`,
    );
  return {
    /** The raw string; undefined when not configured. */
    string(section: string, key: string): string | undefined {
      return lookupConfig(section, key, source)?.raw;
    },
    number(section: string, key: string, fallback: number): number {
      const v = lookupConfig(section, key, source);
      if (v === undefined || v.raw.trim() === "") return fallback;
      const n = Number(v.raw);
      if (!Number.isFinite(n)) throw refuse(section, key, "a number", v.raw, v.origin, fallback);
      return n;
    },
    boolean(section: string, key: string, fallback: boolean): boolean {
      const v = lookupConfig(section, key, source);
      if (v === undefined || v.raw === "") return fallback;
      const s = v.raw.trim().toLowerCase();
      if (TRUE.includes(s)) return true;
      if (FALSE.includes(s)) return false;
      throw refuse(section, key, "true or false", v.raw, v.origin, fallback);
    },
  };
}

/**
 * One section, frozen: each value read once now. A value that does not
 * parse (or a config file that cannot be read) becomes a property that
 * throws that error whenever it is read: the setting is still checked once,
 * here, but only what uses it fails, as when each read its own setting (a
 * command that never uses it runs; an error while a DAG file loads names
 * the file).
 */
function section<T extends object>(read: { [K in keyof T]: () => T[K] }): T {
  const out = {} as T;
  for (const [name, value] of Object.entries(read) as [string, () => unknown][]) {
    try {
      Object.defineProperty(out, name, { value: value(), enumerable: true });
    } catch (err) {
      Object.defineProperty(out, name, {
        enumerable: true,
        get() {
          throw err;
        },
      });
    }
  }
  return Object.freeze(out);
}

/**
 * Reads every setting once from `source` (default: `process.env` and the
 * config file it names), applies the defaults, and returns them frozen.
 * A value that does not parse is a `config` {@link RuntimeError} naming the
 * key, where it was set and the fix, thrown when that value is read.
 */
export function resolveRuntimeConfig(source: ConfigSource = {}): RuntimeConfig {
  const r = reader(source);
  return Object.freeze({
    core: section<CoreConfig>({
      // An empty setting means the default folder, as an unset one does.
      dags_folder: () => r.string("core", "dags_folder") || "dags",
      default_timezone: () => r.string("core", "default_timezone") ?? "UTC",
      parallelism: () => r.number("core", "parallelism", 32),
      max_active_tasks_per_dag: () => r.number("core", "max_active_tasks_per_dag", 16),
      max_active_runs_per_dag: () => r.number("core", "max_active_runs_per_dag", 16),
      dags_are_paused_at_creation: () => r.boolean("core", "dags_are_paused_at_creation", true),
      runner_heartbeat_ms: () => r.number("core", "runner_heartbeat_ms", 1000),
      dagbag_import_timeout: () => r.number("core", "dagbag_import_timeout", 30),
      template_render_timeout_s: () => r.number("core", "template_render_timeout_s", 10),
      template_max_output_bytes: () => r.number("core", "template_max_output_bytes", 4 * 1024 * 1024),
      default_task_retries: () => r.number("core", "default_task_retries", 0),
      default_task_retry_delay: () => r.number("core", "default_task_retry_delay", 300),
      max_task_retry_delay: () => r.number("core", "max_task_retry_delay", 86_400),
      heap_growing_percent: () => r.number("core", "heap_growing_percent", 50),
    }),
    scheduler: section<SchedulerConfig>({
      catchup_by_default: () => r.boolean("scheduler", "catchup_by_default", false),
      create_cron_data_intervals: () => r.boolean("scheduler", "create_cron_data_intervals", false),
      stop_timeout_s: () => r.number("scheduler", "stop_timeout_s", 30),
      orphan_sweep_interval_s: () => r.number("scheduler", "orphan_sweep_interval_s", 300),
      scheduler_idle_sleep_time: () => r.number("scheduler", "scheduler_idle_sleep_time", 1),
      min_file_process_interval: () => r.number("scheduler", "min_file_process_interval", 30),
      scheduler_health_check_threshold: () => r.number("scheduler", "scheduler_health_check_threshold", 30),
    }),
    triggerer: section<TriggererConfig>({
      poll_interval_s: () => r.number("triggerer", "poll_interval_s", 1),
      capacity: () => r.number("triggerer", "capacity", 1000),
    }),
    database: section<DatabaseConfig>({ url: () => r.string("database", "url") }),
    armada_operator: section<ArmadaOperatorConfig>({
      rpc_deadline_s: () => r.number("armada_operator", "rpc_deadline_s", 30),
      submit_lookup_grace_s: () => r.number("armada_operator", "submit_lookup_grace_s", 30),
      default_poll_interval_s: () => r.number("armada_operator", "default_poll_interval_s", 30),
      default_job_acknowledgement_timeout_s: () =>
        r.number("armada_operator", "default_job_acknowledgement_timeout_s", 300),
      default_dry_run: () => r.boolean("armada_operator", "default_dry_run", false),
      reattach_policy: () => r.string("armada_operator", "reattach_policy"),
      tracking: () => r.string("armada_operator", "tracking")?.trim().toLowerCase() || "events",
      max_event_streams: () => r.number("armada_operator", "max_event_streams", 100),
      max_quiet_s: () => r.number("armada_operator", "max_quiet_s", 300),
      submit_from_triggerer: () => r.boolean("armada_operator", "submit_from_triggerer", true),
      end_from_trigger: () => r.boolean("armada_operator", "end_from_trigger", true),
      // The reference's own variable, read as it reads it (an empty value is an empty prefix).
      annotation_key_prefix: () => (source.env ?? process.env).ANNOTATION_KEY_PREFIX ?? "armadaproject.io/",
    }),
    operators: section<OperatorsConfig>({
      default_deferrable: () => r.boolean("operators", "default_deferrable", false),
    }),
  });
}

/** What {@link withRuntimeConfigScope} scopes: filled in once the CLI has resolved its config. */
interface ConfigScope {
  config: RuntimeConfig | undefined;
}

// Shared by every copy of this module (src and dist, or a DAG file loaded through tsx), as the task
// context is: a DAG file importing the other copy must still see the CLI's config.
const scopes = new ScopedValue<ConfigScope>("runtime-config");

/**
 * Runs `fn` with a config scope that {@link setScopedRuntimeConfig} fills in
 * (the CLI does so once it has parsed its arguments, before any DAG file
 * loads). A scope rather than one global: tests run several CLI calls, each
 * with its own env, in one process and at once (a scheduler and the commands
 * that talk to it).
 * @internal
 */
export function withRuntimeConfigScope<T>(fn: () => T): T {
  return scopes.run({ config: undefined }, fn);
}

/** Sets the config of the scope `withRuntimeConfigScope` opened; false outside one. @internal */
export function setScopedRuntimeConfig(config: RuntimeConfig): boolean {
  const scope = scopes.get();
  if (!scope) return false;
  scope.config = config;
  return true;
}

/**
 * Runs `fn` with `config` as the current config: the DAGs and operators it
 * constructs take their defaults from it, as when the CLI with that config
 * loads a DAG file (for tests and tools that build DAGs in-process).
 */
export function withRuntimeConfig<T>(config: RuntimeConfig, fn: () => T): T {
  return scopes.run({ config }, fn);
}

/**
 * The config for code that runs where no config is handed to it: the
 * constructors of DAGs and operators, whose defaults (`default_timezone`,
 * `catchup_by_default`, `default_deferrable`, `default_poll_interval_s`, ...)
 * are taken when a DAG file's top-level code runs, and nothing but a global
 * reaches that code. Under the CLI it is the config the CLI resolved once;
 * without the CLI (a library user constructing DAGs, a test) it is resolved
 * from `process.env` at each call, so a change to `process.env` is seen as
 * it always was. Code that runs tasks reads its Runner's config instead.
 */
export function currentRuntimeConfig(): RuntimeConfig {
  return scopes.get()?.config ?? resolveRuntimeConfig();
}
