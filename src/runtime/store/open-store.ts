import { armadaAirflowHome, getConfig, type ConfigSource } from "../config.js";
import { KyselyStore } from "./kysely-store.js";

/**
 * Opens the configured store: `url` if given, else config `database.url`
 * (env `ARMADA_AIRFLOW__DATABASE__URL`), else SQLite at
 * `<ARMADA_AIRFLOW_HOME or ./.armada-airflow>/armada-airflow.db`.
 */
export async function openStore(options: { url?: string } & ConfigSource = {}): Promise<KyselyStore> {
  const url = options.url ?? getConfig("database", "url", options);
  return KyselyStore.open({ url: url || undefined, home: armadaAirflowHome(options) });
}
