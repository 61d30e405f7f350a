/**
 * Child process behind {@link armadaEnvironment}'s embedded mode: starts a dev
 * server, prints where it listens as one JSON line, and stops when its
 * parent goes away (stdin closes), so the parent can exit as usual.
 *
 * With `ARMADA_AIRFLOW_EMBEDDED_HOME` (the runtime's home) it keeps its jobs
 * in SQLite next to the store and listens on the ports it used last time
 * (recorded in that folder), so that `resume` after a crash finds the jobs of
 * the runner that died and their Lookout links stay valid.
 */
import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { ErrorCode } from "../common/error-code.js";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { startDevServer, type DevServer } from "../devserver/dev-server.js";

const queues = (process.env.ARMADA_AIRFLOW_EMBEDDED_QUEUES ?? "default").split(",").filter(Boolean);
const home = process.env.ARMADA_AIRFLOW_EMBEDDED_HOME;

/** The ports the last embedded server of this home listened on, its pid, and the pid of the runner it served. */
interface PortsRecord {
  grpcPort: number;
  httpPort: number;
  pid: number;
  ownerPid?: number;
}

/** How long to wait for the ports of a previous embedded server that is still shutting down. */
const PORT_WAIT_MS = 15_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function readRecord(file: string): PortsRecord | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const r = JSON.parse(readFileSync(file, "utf8")) as Partial<PortsRecord>;
    if (typeof r.grpcPort === "number" && typeof r.httpPort === "number" && typeof r.pid === "number")
      return r as PortsRecord;
  } catch {
    // A torn or hand-edited file: start on fresh ports, as on a first start.
  }
  return undefined;
}

async function startWithState(dir: string): Promise<DevServer> {
  mkdirSync(dir, { recursive: true });
  const recordFile = path.join(dir, "embedded-dev-server.json");
  const statePath = path.join(dir, "embedded-dev-server.db");
  const last = readRecord(recordFile);
  // The last server still runs. Its runner alive: another runner of this home owns it. Its runner gone
  // (killed): it is shutting down (it exits when its stdin closes), so wait for it to let go of the state.
  const ownerAlive = last?.ownerPid !== undefined ? alive(last.ownerPid) : true;
  if (last && last.pid !== process.pid && alive(last.pid) && !ownerAlive) {
    const until = Date.now() + PORT_WAIT_MS;
    while (alive(last.pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  }
  if (last && last.pid !== process.pid && alive(last.pid)) {
    // Another live runner of this home owns the embedded server: a private, stateless one for this process.
    process.stderr.write(
      `The embedded dev server of ${dir} is in use by process ${last.pid}; this process uses a separate one ` +
        `(its jobs are not kept). Set ARMADA_TARGET to share one server.\n`,
    );
    return startDevServer({ queues });
  }
  const deadline = Date.now() + PORT_WAIT_MS;
  for (;;) {
    try {
      const server = await startDevServer({
        queues,
        statePath,
        ...(last ? { grpcPort: last.grpcPort, httpPort: last.httpPort } : {}),
      });
      const record: PortsRecord = {
        grpcPort: Number(server.grpcTarget.split(":").at(-1)),
        httpPort: Number(new URL(server.httpUrl).port),
        pid: process.pid,
        ownerPid: process.ppid,
      };
      writeFileSync(recordFile, JSON.stringify(record) + "\n");
      return server;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const portTaken = last && /cannot listen/.test(message);
      if (!portTaken) throw err;
      if (Date.now() < deadline) {
        // The previous server (its runner was killed) may still be letting go of the ports.
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      throw new ArmadaAirflowError(
        ErrorCode.FailedPrecondition,
        `${message}. The embedded dev server of ${dir} must come back on ports ${last.grpcPort} (gRPC) and ` +
          `${last.httpPort} (HTTP) so that the jobs of the earlier runner and their Lookout links are found; ` +
          `free those ports (another program took them) and run the command again, or delete ${recordFile} ` +
          `to start on new ports (earlier Lookout links then break).`,
        { cause: err },
      );
    }
  }
}

let server: DevServer;
try {
  server = home ? await startWithState(home) : await startDevServer({ queues });
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
process.stdout.write(
  JSON.stringify({
    grpcTarget: server.grpcTarget,
    httpUrl: server.httpUrl,
    lookoutUrlTemplate: server.lookoutUrlTemplate,
    kubeconfig: server.kubeconfig(),
  }) + "\n",
);
const stop = () => {
  void server.stop().finally(() => process.exit(0));
};
process.stdin.on("end", stop);
process.stdin.on("close", stop);
process.stdin.resume();
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
