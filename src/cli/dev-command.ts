/**
 * `armada-airflow dev`: runs the Armada dev server in the foreground and prints
 * where its gRPC API, Lookout pages and Kubernetes log API are.
 */
import { Command, InvalidArgumentError, Option, type CommandUnknownOpts } from "@commander-js/extra-typings";
import { startDevServer, type DevServer } from "../devserver/dev-server.js";
import type { DevServerOptions } from "../devserver/options.js";
import { DEFAULT_NAMESPACES } from "../devserver/cluster-objects.js";
import { parseFailureCategoryRule } from "../devserver/failure-categories.js";
import { DEFAULT_GLOBAL_MAX_RETRIES } from "../devserver/dev-armada.js";
import type { ClusterConfig } from "../devserver/scheduler.js";
import { clustersFromNodeSpecs, parseNodeSpec, type NodeSpec } from "../devserver/node-spec.js";

function integer(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}, got "${value}".`);
    }
    return n;
  };
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Collects `--failure-category` values, checking each as it is read so a bad rule is a usage error. */
function collectRule(value: string, previous: string[] | undefined): string[] {
  try {
    parseFailureCategoryRule(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  return collect(value, previous);
}

/** Collects `--node` values, parsing each as it is read so a bad one is a usage error. */
function collectNode(value: string, previous: NodeSpec[] | undefined): NodeSpec[] {
  try {
    return [...(previous ?? []), parseNodeSpec(value)];
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/**
 * Reads a secret from the environment variable a flag names. Secrets are passed
 * by variable name so they never appear on a command line (visible in `ps`).
 */
function secretFromEnv(flag: string, name: string, env: NodeJS.ProcessEnv): string {
  const value = env[name];
  if (!value) {
    throw new InvalidArgumentError(
      `${flag} names the environment variable ${name}, which is not set or empty; export ${name}=<secret> first.`,
    );
  }
  return value;
}

/** Auth and TLS settings from the flags; secrets come from the environment. */
function devSecurityOptions(
  opts: {
    bearerTokenEnv?: string[];
    basicAuthEnv?: string[];
    tlsCert?: string;
    tlsKey?: string;
    tlsCa?: string;
  },
  env: NodeJS.ProcessEnv = process.env,
): Pick<DevServerOptions, "auth" | "tls"> {
  const bearerTokens = (opts.bearerTokenEnv ?? []).map((v) => secretFromEnv("--bearer-token-env", v, env));
  const basic = (opts.basicAuthEnv ?? []).map((v) => {
    const pair = secretFromEnv("--basic-auth-env", v, env);
    const colon = pair.indexOf(":");
    if (colon <= 0) {
      throw new InvalidArgumentError(
        `--basic-auth-env: ${v} must hold "username:password" (the value is not shown here).`,
      );
    }
    return { username: pair.slice(0, colon), password: pair.slice(colon + 1) };
  });
  if (!opts.tlsCert !== !opts.tlsKey) {
    throw new InvalidArgumentError("--tls-cert and --tls-key go together: give both, or neither.");
  }
  if (opts.tlsCa && !opts.tlsCert) {
    throw new InvalidArgumentError("--tls-ca (client certificates) needs --tls-cert and --tls-key.");
  }
  return {
    auth: bearerTokens.length || basic.length ? { bearerTokens, basic } : undefined,
    tls:
      opts.tlsCert && opts.tlsKey
        ? { certFile: opts.tlsCert, keyFile: opts.tlsKey, caFile: opts.tlsCa }
        : undefined,
  };
}

/** The text `armada-airflow dev` prints once it listens. */
export function describeDevServer(
  server: DevServer,
  startedMs: number,
  opts: { kubeconfigPath?: string; queues: string[]; clusters?: ClusterConfig[] },
): string {
  const nodes = (opts.clusters ?? []).map(
    (c) =>
      `${c.id}: ` +
      c.nodes
        .map((n) => `${n.name} (cpu ${n.cpu}, memory ${n.memory}${n.gpus ? `, ${n.gpus} GPU` : ""})`)
        .join(", "),
  );
  const lines = [
    `Armada dev server ready in ${startedMs} ms`,
    `  gRPC:        ${server.grpcTarget}`,
    `  Lookout:     ${server.httpUrl}/  (job pages: ${server.lookoutUrlTemplate})`,
    `  Kubernetes:  ${server.httpUrl}  (pod logs; ${opts.kubeconfigPath ? `kubeconfig written to ${opts.kubeconfigPath}` : "use --write-kubeconfig PATH for a kubeconfig"})`,
    `  Queues:      ${opts.queues.join(", ") || "(none)"}`,
    ...nodes.map((n) => `  Cluster:     ${n}`),
    ...server.notes.map((n) => `  Note:        ${n}`),
    "Press Ctrl+C to stop.",
  ];
  return lines.join("\n");
}

/** Adds the options and action of `dev` to `cmd`. */
function configureDevCommand(cmd: Command): void {
  cmd
    .description("Run a local Armada-compatible server (gRPC API, Lookout pages, Kubernetes pod-log API)")
    .option("--host <address>", "address to listen on", "127.0.0.1")
    .option("--grpc-port <port>", "gRPC port (0 = any free port)", integer("--grpc-port", 0, 65535), 50051)
    .option(
      "--http-port <port>",
      "Lookout and pod-log API port (0 = any free port)",
      integer("--http-port", 0, 65535),
      8089,
    )
    .addOption(
      new Option("--executor <kind>", "simulate pods, or run their commands as local processes")
        .choices(["simulate", "process"] as const)
        .default("simulate" as const),
    )
    .option("--state <file>", "SQLite file that keeps state across restarts (default: in memory)")
    .option("--write-kubeconfig <path>", "write a kubeconfig (one context per cluster) for the pod-log API")
    .option(
      "--ingestion-delay <ms>",
      "query API answers UNKNOWN this long after a submit",
      integer("--ingestion-delay", 0, 3_600_000),
      0,
    )
    .option("--queue <name>", "queue to create at start (repeatable; default: default)", collect)
    .option(
      "--namespace <name>",
      `namespace that exists besides ${DEFAULT_NAMESPACES.join(" and ")} (repeatable); jobs in others fail`,
      collect,
    )
    .option(
      "--image <pattern>",
      "image (glob, e.g. busybox:* or python:3.*) that can be pulled (repeatable; default: every image)",
      collect,
    )
    .option(
      "--failure-category <rule>",
      "failure category rule NAME[/SUB]=exit-code:1,2|condition:OOMKilled|message:REGEX, tried before oom and user_error (repeatable)",
      collectRule,
    )
    .option(
      "--node <spec>",
      "a node of the local cluster, [CLUSTER/]NAME:cpu=8,memory=32Gi[,gpus=N][,label.KEY=VALUE] (repeatable; " +
        "replaces the default 2 clusters of 2 nodes with 8 CPUs, 32Gi and no GPU)",
      collectNode,
    )
    .option(
      "--global-max-retries <n>",
      "cap on Armada retries per job across every retry policy (0 turns retries off)",
      integer("--global-max-retries", 0, 1000),
      DEFAULT_GLOBAL_MAX_RETRIES,
    )
    .option(
      "--bearer-token-env <var>",
      "require gRPC calls to carry the bearer token held in env var <var> (repeatable)",
      collect,
    )
    .option(
      "--basic-auth-env <var>",
      'accept basic credentials "user:password" held in env var <var> (repeatable)',
      collect,
    )
    .option("--tls-cert <file>", "serve gRPC over TLS with this certificate (PEM)")
    .option("--tls-key <file>", "private key of --tls-cert (PEM)")
    .option("--tls-ca <file>", "require client certificates signed by this CA (mutual TLS)")
    .action(async (opts, self) => {
      // The CLI may route output elsewhere (runCli in tests); fall back to the process's stdout.
      const writeOut = self.configureOutput().writeOut ?? ((text: string) => process.stdout.write(text));
      const started = Date.now();
      const queues = opts.queue ?? ["default"];
      let security: ReturnType<typeof devSecurityOptions>;
      let clusters: ReturnType<typeof clustersFromNodeSpecs> | undefined;
      try {
        security = devSecurityOptions(opts);
        clusters = opts.node ? clustersFromNodeSpecs(opts.node) : undefined;
      } catch (err) {
        // Printed like any other usage error (exit code 2).
        self.error(`error: ${(err as Error).message}`);
        return; // not reached: error() throws
      }
      const server = await startDevServer({
        ...security,
        host: opts.host,
        grpcPort: opts.grpcPort,
        httpPort: opts.httpPort,
        executor: opts.executor,
        statePath: opts.state,
        ingestionDelayMs: opts.ingestionDelay,
        queues,
        namespaces: [...new Set([...DEFAULT_NAMESPACES, ...(opts.namespace ?? [])])],
        images: opts.image ?? [],
        failureCategories: opts.failureCategory ?? [],
        globalMaxRetries: opts.globalMaxRetries,
        ...(clusters ? { clusters } : {}),
      });
      if (opts.writeKubeconfig) await server.writeKubeconfig(opts.writeKubeconfig);
      writeOut(
        describeDevServer(server, Date.now() - started, {
          kubeconfigPath: opts.writeKubeconfig,
          queues,
          clusters,
        }) + "\n",
      );
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          void server.stop().then(resolve);
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      });
    });
}

/**
 * Adds `dev` to the CLI program, as a subcommand made by `program.command()`
 * so it inherits the program's output and exit settings.
 */
export function registerDevCommand(program: CommandUnknownOpts): void {
  configureDevCommand(program.command("dev") as unknown as Command);
}
