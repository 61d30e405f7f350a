import { armadaAirflowHome, getConfig, type ConfigSource } from "../config.js";
import type { RuntimeConfig } from "../runtime-config.js";
import { KyselyStore, parseTransitionKillPoint } from "./kysely-store.js";

/**
 * Opens the configured store: `url` if given, else config `database.url`
 * (env `ARMADA_AIRFLOW__DATABASE__URL`; from `config` when given, which the
 * CLI resolved from the same env), else SQLite at
 * `<ARMADA_AIRFLOW_HOME or ./.armada-airflow>/armada-airflow.db`.
 * The env `ARMADA_AIRFLOW_TEST_KILL_IN_TRANSITION` (`kind[:nth]`) is a
 * fault-injection point for the crash tests only.
 */
export async function openStore(
  options: { url?: string; config?: RuntimeConfig } & ConfigSource = {},
): Promise<KyselyStore> {
  const url =
    options.url ?? (options.config ? options.config.database.url : getConfig("database", "url", options));
  const env = options.env ?? process.env;
  return KyselyStore.open({
    url: url || undefined,
    home: armadaAirflowHome(options),
    killInTransition: parseTransitionKillPoint(env.ARMADA_AIRFLOW_TEST_KILL_IN_TRANSITION),
  });
}
