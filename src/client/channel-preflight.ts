/**
 * Checks, before the first call, what would otherwise surface only as a
 * confusing failure of that call: TLS files that cannot be read (grpc-js
 * would fail the call as if the server were away) and credentials read from
 * environment variables that are not set (the call would fail in the TLS
 * handshake or with a bare UNAUTHENTICATED). Each problem names the option
 * and the fix.
 */
import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { ErrorCode } from "../common/error-code.js";
import type { GrpcChannelArgs } from "./channel-args.js";
import { readTlsMaterial } from "./tls-config.js";

/** A channel problem found before any call: the option at fault and what to do. */
export class ChannelConfigError extends ArmadaAirflowError {
  constructor(
    /** The option at fault, e.g. `channelArgs.tls.caFile` or `channelArgs.auth.tokenEnv`. */
    readonly field: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(ErrorCode.Config, `${field}: ${message}`, options);
    this.name = "ChannelConfigError";
  }
}

/**
 * Throws {@link ChannelConfigError} for the first problem of `args` that
 * would make every call fail; `env` is where auth reads its variables.
 */
export function checkChannelArgs(args: GrpcChannelArgs, env: NodeJS.ProcessEnv = process.env): void {
  if (args.secure) {
    try {
      readTlsMaterial(args.tls ?? undefined);
    } catch (err) {
      const option = /TLS (\w+)/.exec((err as Error).message)?.[1] ?? "caFile";
      throw new ChannelConfigError(`channelArgs.tls.${option}`, (err as Error).message, { cause: err });
    }
  }
  const auth = args.auth;
  if (!auth) return;
  // Every auth type names the variables it reads as `<something>Env` in its
  // serialized form; an unset one would fail every call.
  for (const [key, value] of Object.entries(auth.serialize())) {
    if (!key.endsWith("Env") || typeof value !== "string") continue;
    if (env[value] === undefined || env[value] === "") {
      throw new ChannelConfigError(
        `channelArgs.auth.${key}`,
        `environment variable ${value} is not set (or empty), so no credentials can be sent; ` +
          `set ${value} where the task runs, or name another variable`,
      );
    }
  }
}
