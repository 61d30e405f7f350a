/**
 * The set-up the multi-process scheduler and triggerer tests share: a
 * PostgreSQL server and a dev server for the file's tests, every spawned
 * process killed after each test, and the environment the services run with.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll } from "vitest";
import { startDevServer, type DevServer } from "../../src/testing/index.js";
import { killProcesses } from "../support/child-processes.js";
import { startPostgres, type PostgresServer } from "../runtime/postgres-server.js";

/** Registers the file's hooks; the servers are there once `beforeAll` ran. */
export function postgresFleet(tmpPrefix: string) {
  const fleet = {
    pg: undefined as unknown as PostgresServer,
    server: undefined as unknown as DevServer,
    root: mkdtempSync(path.join(os.tmpdir(), tmpPrefix)),
    /** The services' environment: this dev server, DAGs unpaused, short heartbeats and idle sleeps. */
    env(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
      return {
        ...process.env,
        ARMADA_AIRFLOW_HOME: home,
        ARMADA_TARGET: fleet.server.grpcTarget,
        ARMADA_QUEUE: "default",
        ARMADA_AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION: "false",
        ARMADA_AIRFLOW__CORE__RUNNER_HEARTBEAT_MS: "200",
        ARMADA_AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME: "0.2",
        ...extra,
      };
    },
  };
  beforeAll(async () => {
    // No skipping: without PostgreSQL binaries this fails with the reason.
    fleet.pg = await startPostgres();
    fleet.server = await startDevServer({ queues: ["default"] });
  }, 120_000);
  afterEach(async () => {
    await killProcesses();
  });
  afterAll(async () => {
    await fleet.server?.stop();
    await fleet.pg?.stop();
    rmSync(fleet.root, { recursive: true, force: true });
  });
  return fleet;
}
