/** RuntimeConfig: every setting read once from one source, with its defaults, its precedence and its errors. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { clearConfigCache } from "../../src/runtime/config.js";
import { RuntimeError } from "../../src/runtime/errors.js";
import {
  currentRuntimeConfig,
  resolveRuntimeConfig,
  setScopedRuntimeConfig,
  withRuntimeConfig,
  withRuntimeConfigScope,
} from "../../src/runtime/runtime-config.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "aa-runtime-config-"));
/** A home whose armada-airflow.cfg holds `text`. */
function homeWith(text: string): string {
  const home = mkdtempSync(path.join(dir, "home-"));
  writeFileSync(path.join(home, "armada-airflow.cfg"), text);
  return home;
}
afterEach(() => clearConfigCache());
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Where nothing is configured: no variables, a home without a config file. */
const empty = () => ({ env: { ARMADA_AIRFLOW_HOME: path.join(dir, "no-home") } });

describe("resolveRuntimeConfig", () => {
  it("applies every default when nothing is configured", () => {
    expect(resolveRuntimeConfig(empty())).toEqual({
      core: {
        dags_folder: "dags",
        default_timezone: "UTC",
        parallelism: 32,
        max_active_tasks_per_dag: 16,
        max_active_runs_per_dag: 16,
        dags_are_paused_at_creation: true,
        runner_heartbeat_ms: 1000,
        dagbag_import_timeout: 30,
        template_render_timeout_s: 10,
        template_max_output_bytes: 4 * 1024 * 1024,
        default_task_retries: 0,
        default_task_retry_delay: 300,
        max_task_retry_delay: 86_400,
        heap_growing_percent: 50,
      },
      scheduler: {
        catchup_by_default: false,
        create_cron_data_intervals: false,
        stop_timeout_s: 30,
        orphan_sweep_interval_s: 300,
        scheduler_idle_sleep_time: 1,
        min_file_process_interval: 30,
        scheduler_health_check_threshold: 30,
      },
      triggerer: { poll_interval_s: 1, capacity: 1000 },
      database: { url: undefined },
      armada_operator: {
        rpc_deadline_s: 30,
        submit_lookup_grace_s: 30,
        default_poll_interval_s: 30,
        default_job_acknowledgement_timeout_s: 300,
        default_dry_run: false,
        reattach_policy: undefined,
        tracking: "events",
        max_event_streams: 100,
        max_quiet_s: 300,
        submit_from_triggerer: true,
        end_from_trigger: true,
        annotation_key_prefix: "armadaproject.io/",
      },
      operators: { default_deferrable: false },
    });
  });

  it("reads the annotation key prefix from ANNOTATION_KEY_PREFIX of its source, not of process.env", () => {
    const saved = process.env.ANNOTATION_KEY_PREFIX;
    process.env.ANNOTATION_KEY_PREFIX = "process.example.com/";
    try {
      const env = { ...empty().env, ANNOTATION_KEY_PREFIX: "example.com/" };
      expect(resolveRuntimeConfig({ env }).armada_operator.annotation_key_prefix).toBe("example.com/");
      expect(resolveRuntimeConfig(empty()).armada_operator.annotation_key_prefix).toBe("armadaproject.io/");
      // Set but empty is an empty prefix, as the reference reads it.
      const blank = { ...empty().env, ANNOTATION_KEY_PREFIX: "" };
      expect(resolveRuntimeConfig({ env: blank }).armada_operator.annotation_key_prefix).toBe("");
    } finally {
      if (saved === undefined) delete process.env.ANNOTATION_KEY_PREFIX;
      else process.env.ANNOTATION_KEY_PREFIX = saved;
    }
  });

  it("is frozen, section by section", () => {
    const config = resolveRuntimeConfig(empty());
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.core)).toBe(true);
    expect(() => {
      (config.core as { parallelism: number }).parallelism = 1;
    }).toThrow(TypeError);
  });

  it("takes ARMADA_AIRFLOW__ over AIRFLOW__ over the config file, and parses each kind", () => {
    const home = homeWith(
      [
        "[core]",
        "parallelism = 5",
        "default_timezone = Europe/Paris",
        "dags_are_paused_at_creation = off",
        "[armada_operator]",
        "default_poll_interval_s = 9",
        "tracking =  Events ",
        "reattach_policy = always",
        "[database]",
        "url = sqlite:/tmp/x.db",
      ].join("\n"),
    );
    const config = resolveRuntimeConfig({
      env: {
        ARMADA_AIRFLOW_HOME: home,
        AIRFLOW__CORE__PARALLELISM: "6",
        ARMADA_AIRFLOW__CORE__PARALLELISM: "7",
        AIRFLOW__ARMADA_OPERATOR__DEFAULT_POLL_INTERVAL_S: "2.5",
        ARMADA_AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE: "yes",
      },
    });
    expect(config.core.parallelism).toBe(7);
    expect(config.armada_operator.default_poll_interval_s).toBe(2.5);
    expect(config.operators.default_deferrable).toBe(true);
    // From the file, where no variable sets them.
    expect(config.core.default_timezone).toBe("Europe/Paris");
    expect(config.core.dags_are_paused_at_creation).toBe(false);
    expect(config.armada_operator.tracking).toBe("events");
    expect(config.armada_operator.reattach_policy).toBe("always");
    expect(config.database.url).toBe("sqlite:/tmp/x.db");
    // Unset: the default.
    expect(config.core.max_active_runs_per_dag).toBe(16);
  });

  it("takes a blank number or boolean, and a blank dags_folder, for unset", () => {
    const config = resolveRuntimeConfig({
      env: {
        ...empty().env,
        ARMADA_AIRFLOW__CORE__PARALLELISM: " ",
        ARMADA_AIRFLOW__CORE__DAGS_FOLDER: "",
        ARMADA_AIRFLOW__SCHEDULER__CATCHUP_BY_DEFAULT: "",
      },
    });
    expect([config.core.parallelism, config.core.dags_folder, config.scheduler.catchup_by_default]).toEqual([
      32,
      "dags",
      false,
    ]);
  });

  it("refuses a bad number naming the key, the variable that set it and the fix, when it is read", () => {
    const config = resolveRuntimeConfig({ env: { ...empty().env, AIRFLOW__CORE__PARALLELISM: "lots" } });
    // The other settings read as usual: only what uses the bad one fails.
    expect(config.core.max_active_tasks_per_dag).toBe(16);
    let err: unknown;
    try {
      void config.core.parallelism;
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RuntimeError);
    const message = (err as Error).message;
    expect(message).toMatch(/^config core\.parallelism must be a number, got "lots"/);
    expect(message).toContain("set by env AIRFLOW__CORE__PARALLELISM");
    expect(message).toContain(
      "set ARMADA_AIRFLOW__CORE__PARALLELISM (or [core] parallelism in the config file)",
    );
    expect(message).toContain("or unset it for the default 32");
    // The same error each time it is read.
    expect(() => config.core.parallelism).toThrow(message);
  });

  it("names the config file when the bad value is there, and refuses a boolean that is not one", () => {
    const home = homeWith("[operators]\ndefault_deferrable = sometimes\n");
    const config = resolveRuntimeConfig({ env: { ARMADA_AIRFLOW_HOME: home } });
    expect(() => config.operators.default_deferrable).toThrow(
      /config operators\.default_deferrable must be true or false, got "sometimes" \(set by .*armada-airflow\.cfg \[operators\] default_deferrable\).*ARMADA_AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE/,
    );
  });

  it("reads the variables of the source given, not process.env", () => {
    const key = "ARMADA_AIRFLOW__TRIGGERER__CAPACITY";
    expect(process.env[key]).toBeUndefined();
    expect(resolveRuntimeConfig({ env: { ...empty().env, [key]: "3" } }).triggerer.capacity).toBe(3);
    expect(resolveRuntimeConfig(empty()).triggerer.capacity).toBe(1000);
  });
});

describe("currentRuntimeConfig", () => {
  it("is the scoped config inside a scope, else resolved from process.env at each call", async () => {
    const key = "ARMADA_AIRFLOW__CORE__DEFAULT_TIMEZONE";
    const saved = process.env[key];
    try {
      process.env[key] = "Asia/Tokyo";
      expect(currentRuntimeConfig().core.default_timezone).toBe("Asia/Tokyo");
      process.env[key] = "America/Chicago";
      expect(currentRuntimeConfig().core.default_timezone).toBe("America/Chicago");
      const scoped = resolveRuntimeConfig({ env: { [key]: "Europe/Oslo" } });
      expect(withRuntimeConfig(scoped, () => currentRuntimeConfig())).toBe(scoped);
      // Two scopes at once keep their own config across awaits.
      const inScope = (tz: string) =>
        withRuntimeConfigScope(async () => {
          expect(currentRuntimeConfig().core.default_timezone).toBe("America/Chicago");
          setScopedRuntimeConfig(resolveRuntimeConfig({ env: { [key]: tz } }));
          await new Promise((r) => setImmediate(r));
          return currentRuntimeConfig().core.default_timezone;
        });
      expect(await Promise.all([inScope("Europe/Rome"), inScope("Africa/Cairo")])).toEqual([
        "Europe/Rome",
        "Africa/Cairo",
      ]);
      expect(setScopedRuntimeConfig(scoped)).toBe(false);
    } finally {
      if (saved === undefined) delete process.env[key];
      else process.env[key] = saved;
    }
  });
});
