import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { ErrorCode } from "../common/error-code.js";
import { readFileSync } from "node:fs";

/**
 * TLS settings of a channel. Files, not PEM contents, so nothing secret is
 * serialized with the channel args: the files are read where the client runs.
 */
export interface TlsConfig {
  /** PEM file of the CA(s) that signed the server certificate. @default the system roots */
  caFile?: string;
  /** PEM client certificate for mutual TLS (needs `keyFile`). */
  certFile?: string;
  /** PEM private key of `certFile`. */
  keyFile?: string;
}

/** Checks a TLS config once, at construction; returns a frozen copy. */
export function validateTlsConfig(tls: unknown): Readonly<TlsConfig> {
  if (typeof tls !== "object" || tls === null || Array.isArray(tls)) {
    throw new ArmadaAirflowError(
      ErrorCode.InvalidArgument,
      `GrpcChannelArgs.tls must be an object like { caFile, certFile, keyFile }, got ${JSON.stringify(tls)}`,
    );
  }
  const allowed = new Set(["caFile", "certFile", "keyFile"]);
  const out: TlsConfig = {};
  for (const [k, v] of Object.entries(tls)) {
    if (!allowed.has(k)) {
      throw new ArmadaAirflowError(
        ErrorCode.InvalidArgument,
        `GrpcChannelArgs.tls.${k} is not a TLS option; use caFile, certFile and keyFile (file paths)`,
      );
    }
    if (v === undefined) continue;
    if (typeof v !== "string" || v.length === 0)
      throw new ArmadaAirflowError(
        ErrorCode.InvalidArgument,
        `GrpcChannelArgs.tls.${k} must be a file path string`,
      );
    if (v.includes("-----BEGIN")) {
      throw new ArmadaAirflowError(
        ErrorCode.InvalidArgument,
        `GrpcChannelArgs.tls.${k} must be a path to a PEM file, not the PEM contents (contents would be serialized with the channel args)`,
      );
    }
    out[k as keyof TlsConfig] = v;
  }
  if ((out.certFile === undefined) !== (out.keyFile === undefined)) {
    throw new ArmadaAirflowError(
      ErrorCode.InvalidArgument,
      "GrpcChannelArgs.tls: mutual TLS needs both certFile and keyFile",
    );
  }
  return Object.freeze(out);
}

/** PEM bytes of a TLS config, read now. Errors name the option and the path. */
export interface TlsMaterial {
  rootCerts: Buffer | null;
  privateKey: Buffer | null;
  certChain: Buffer | null;
}

function readPem(option: string, path: string | undefined): Buffer | null {
  if (path === undefined) return null;
  try {
    return readFileSync(path);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e));
    throw new ArmadaAirflowError(
      ErrorCode.Config,
      `Cannot read TLS ${option} "${path}" (${why}); check the path in GrpcChannelArgs.tls.${option}.`,
      { cause: e },
    );
  }
}

/** Reads the PEM files of `tls`. */
export function readTlsMaterial(tls: TlsConfig | undefined): TlsMaterial {
  return {
    rootCerts: readPem("caFile", tls?.caFile),
    privateKey: readPem("keyFile", tls?.keyFile),
    certChain: readPem("certFile", tls?.certFile),
  };
}
