/**
 * The two listeners of a dev server, gRPC and HTTP: their credentials, binding
 * them with an error that says which port is taken, and closing them without
 * waiting on streams a client keeps open.
 */
import { ServerCredentials, status, type Server, type ServerWritableStream } from "@grpc/grpc-js";
import { serve, type ServerType } from "@hono/node-server";
import type { Hono } from "hono";
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { ErrorCode } from "../common/error-code.js";
import type { ResolvedDevServerOptions } from "./options.js";

/** The gRPC server credentials the options ask for; a TLS file that cannot be read is an invalid option. */
export function grpcCredentials(o: ResolvedDevServerOptions): ServerCredentials {
  if (!o.tls) return ServerCredentials.createInsecure();
  const read = (file: string, field: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new ArmadaAirflowError(
        ErrorCode.InvalidArgument,
        `Invalid dev server options: tls.${field}: cannot read "${file}": ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  };
  const ca = o.tls.caFile ? read(o.tls.caFile, "caFile") : null;
  return ServerCredentials.createSsl(
    ca,
    [{ cert_chain: read(o.tls.certFile, "certFile"), private_key: read(o.tls.keyFile, "keyFile") }],
    ca !== null,
  );
}

/** The error for a port that cannot be listened on: most often another server holds it. */
function cannotListen(
  protocol: "gRPC" | "HTTP",
  host: string,
  port: number,
  option: "grpcPort" | "httpPort",
  err: unknown,
): ArmadaAirflowError {
  return new ArmadaAirflowError(
    ErrorCode.Unavailable,
    `Dev server cannot listen for ${protocol} on ${host}:${port} (${option}): ${(err as Error).message}. ` +
      `Is another server using it? Choose another port, or 0 for any free one.`,
    { cause: err },
  );
}

/** Binds `grpc` to `host:port` (0: any free port) and resolves to the port bound; on failure it shuts `grpc` down. */
export async function bindGrpc(
  grpc: Server,
  host: string,
  port: number,
  creds: ServerCredentials,
): Promise<number> {
  try {
    return await new Promise<number>((resolve, reject) =>
      grpc.bindAsync(`${host}:${port}`, creds, (err, bound) => (err ? reject(err) : resolve(bound))),
    );
  } catch (err) {
    grpc.forceShutdown();
    throw cannotListen("gRPC", host, port, "grpcPort", err);
  }
}

/** Serves `app` on `host:port` (0: any free port); resolves once it listens. */
export async function serveHttp(app: Hono, host: string, port: number): Promise<ServerType> {
  try {
    return await new Promise<ServerType>((resolve, reject) => {
      const s = serve({ fetch: app.fetch, port, hostname: host }, () => resolve(s));
      s.once("error", reject);
    });
  } catch (err) {
    throw cannotListen("HTTP", host, port, "httpPort", err);
  }
}

/** The port an HTTP server listens on. */
export function httpPortOf(server: ServerType): number {
  return (server.address() as AddressInfo).port;
}

/**
 * Ends the open event streams (UNAVAILABLE), then closes both servers. It takes
 * the servers, not the variables holding them: a restart puts a new gRPC server
 * in place, which the grace timer here must not shut down when it fires late.
 */
export async function closeListeners(
  grpc: Server,
  http: ServerType,
  streams: Set<ServerWritableStream<unknown, unknown>>,
): Promise<void> {
  for (const call of [...streams])
    call.emit("error", { code: status.UNAVAILABLE, details: "dev server stopping" });
  streams.clear();
  await new Promise<void>((resolve) => {
    // Streams a client keeps open must not hold the shutdown up.
    const grace = setTimeout(() => grpc.forceShutdown(), 200);
    grace.unref();
    grpc.tryShutdown(() => {
      clearTimeout(grace);
      resolve();
    });
  });
  await new Promise<void>((resolve) => {
    http.close(() => resolve());
    (http as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
  });
}
