/**
 * Child process behind {@link armadaEnvironment}'s embedded mode: starts a dev
 * server, prints where it listens as one JSON line, and stops when its
 * parent goes away (stdin closes), so the parent can exit as usual.
 */
import { startDevServer } from "../testing/index.js";

const queues = (process.env.ARMADA_AIRFLOW_EMBEDDED_QUEUES ?? "default").split(",").filter(Boolean);
const server = await startDevServer({ queues });
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
