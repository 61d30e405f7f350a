/**
 * Where DAG files find Armada: a real server named by environment variables,
 * or, when none is named, an embedded dev server started on demand, so an
 * example DAG runs on a fresh machine with no cluster.
 */
import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { ErrorCode } from "../common/error-code.js";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { KubeConfig } from "@kubernetes/client-node";
import { kubernetesClient } from "../common/kubernetes-client.js";
import { BearerTokenAuth } from "../client/bearer-token-auth.js";
import { GrpcChannelArgs } from "../client/channel-args.js";
import { armadaAirflowHome } from "../runtime/config.js";
import { ArmadaOperatorInputError } from "./errors.js";

/** What an ArmadaOperator needs to reach Armada. */
export interface ArmadaEnvironment {
  channelArgs: GrpcChannelArgs;
  armadaQueue: string;
  /** Lookout link template, when known. */
  lookoutUrlTemplate: string | undefined;
  /** Kubeconfig for container logs (contexts named by cluster id); undefined = the standard one. */
  kubeConfig: KubeConfig | undefined;
  /** True when an embedded dev server was started for this process. */
  embedded: boolean;
}

/** Options of {@link armadaEnvironment}. */
export interface ArmadaEnvironmentOptions {
  /** Environment to read. @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Queue when `ARMADA_QUEUE` is unset. @default "default" */
  defaultQueue?: string;
}

interface EmbeddedInfo {
  grpcTarget: string;
  httpUrl: string;
  lookoutUrlTemplate: string;
  kubeconfig: string;
}

const EMBEDDED_KEY = Symbol.for("armada-airflow.operator.embedded-dev-server");

function childCommand(): string[] {
  const ts = fileURLToPath(new URL("./embedded-dev-server-main.ts", import.meta.url));
  if (existsSync(ts)) {
    // Running from source (tests, `node --import tsx`): the child needs the same loader.
    return ["--conditions=source", "--import", import.meta.resolve("tsx"), ts];
  }
  return [fileURLToPath(new URL("./embedded-dev-server-main.js", import.meta.url))];
}

function startEmbedded(queues: string[], home: string): Promise<EmbeddedInfo> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, childCommand(), {
      stdio: ["pipe", "pipe", "pipe"],
      // Its jobs and ports are kept under the runtime's home, so `resume` after a crash finds them.
      env: {
        ...process.env,
        ARMADA_AIRFLOW_EMBEDDED_QUEUES: queues.join(","),
        ARMADA_AIRFLOW_EMBEDDED_HOME: home,
      },
    });
    let out = "";
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString("utf8")));
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString("utf8");
      const nl = out.indexOf("\n");
      if (nl < 0) return;
      try {
        resolve(JSON.parse(out.slice(0, nl)) as EmbeddedInfo);
      } catch (e) {
        reject(
          new ArmadaAirflowError(
            ErrorCode.Internal,
            `embedded dev server printed something unexpected: ${out.slice(0, 200)}`,
            { cause: e },
          ),
        );
      }
      // The child lives as long as this process does, without keeping it alive.
      child.stdout.removeAllListeners("data");
      child.stdout.destroy();
      child.stderr.destroy();
      (child.stdin as unknown as { unref(): void }).unref();
      child.unref();
    });
    child.once("error", reject);
    child.once("exit", (code) =>
      reject(
        new ArmadaAirflowError(
          ErrorCode.Unavailable,
          `the embedded Armada dev server exited (code ${code}) before it was ready: ${err.trim().slice(-2000)}`,
        ),
      ),
    );
  });
}

function lookoutTemplate(value: string | undefined): string | undefined {
  if (!value) return undefined;
  return value.includes("<job_id>") ? value : `${value.replace(/\/+$/, "")}/jobs/<job_id>`;
}

/**
 * Reads where Armada is from the environment:
 * - `ARMADA_TARGET`: gRPC target (`host:port`). When unset, an embedded dev
 *   server is started once per process and used instead; it keeps its jobs
 *   (SQLite) and its ports under the runtime's home (`ARMADA_AIRFLOW_HOME`),
 *   so a run resumed after a crash finds its jobs.
 * - `ARMADA_QUEUE`: queue (default `default`).
 * - `ARMADA_LOOKOUT_URL`: Lookout job link template with `<job_id>`, or the
 *   Lookout base URL (then `/jobs/<job_id>` is appended, Lookout's job page).
 * - `ARMADA_TOKEN_ENV`: name of an environment variable holding a bearer token (implies TLS).
 * - `KUBECONFIG`: kubeconfig for container logs (standard loading).
 */
export async function armadaEnvironment(options: ArmadaEnvironmentOptions = {}): Promise<ArmadaEnvironment> {
  const env = options.env ?? process.env;
  const armadaQueue = env.ARMADA_QUEUE || options.defaultQueue || "default";
  if (env.ARMADA_TARGET) {
    const tokenEnv = env.ARMADA_TOKEN_ENV;
    // Said here, by name: left to the first call, an unset variable ends in a
    // TLS or UNAUTHENTICATED error that does not say which variable it was.
    if (tokenEnv && !env[tokenEnv]) {
      throw new ArmadaOperatorInputError(
        "ARMADA_TOKEN_ENV",
        `names the environment variable ${tokenEnv}, which is not set (or empty); set ${tokenEnv} to the bearer ` +
          "token, or unset ARMADA_TOKEN_ENV to connect without a token",
      );
    }
    let channelArgs: GrpcChannelArgs;
    try {
      channelArgs = new GrpcChannelArgs({
        target: env.ARMADA_TARGET,
        ...(tokenEnv ? { auth: BearerTokenAuth.fromEnv(tokenEnv) } : {}),
      });
    } catch (err) {
      // Named by the variable it came from, where the fix goes.
      throw new ArmadaOperatorInputError("ARMADA_TARGET", (err as Error).message, { cause: err });
    }
    return {
      channelArgs,
      armadaQueue,
      lookoutUrlTemplate: lookoutTemplate(env.ARMADA_LOOKOUT_URL),
      kubeConfig: undefined,
      embedded: false,
    };
  }
  const cache = globalThis as Record<symbol, Promise<EmbeddedInfo> | undefined>;
  const info = await (cache[EMBEDDED_KEY] ??= startEmbedded([armadaQueue], armadaAirflowHome({ env })));
  const kubeConfig = new (await kubernetesClient()).KubeConfig();
  kubeConfig.loadFromString(info.kubeconfig);
  return {
    channelArgs: new GrpcChannelArgs({ target: info.grpcTarget }),
    armadaQueue,
    lookoutUrlTemplate: info.lookoutUrlTemplate,
    kubeConfig,
    embedded: true,
  };
}
