import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { ErrorCode } from "../common/error-code.js";
import { isDeepStrictEqual } from "node:util";
import { type ArmadaAuth, type SerializedAuth, deserializeAuth } from "./armada-auth.js";
// Built-in auth types register themselves for deserializeAuth.
import "./bearer-token-auth.js";
import "./basic-auth.js";
import "./token-retriever-auth.js";
import "./oidc-client-credentials-auth.js";
import { validateGrpcTarget } from "./grpc-target.js";
import { type TlsConfig, validateTlsConfig } from "./tls-config.js";

/** Message compression of a channel. `null` leaves grpc-js's default (none). */
export type ChannelCompression = "none" | "deflate" | "gzip" | null;

/** One gRPC channel option, e.g. `["grpc.max_receive_message_length", 64 << 20]`. */
export type ChannelOption = readonly [key: string, value: string | number | boolean];

/** Constructor options of {@link GrpcChannelArgs}. */
export interface GrpcChannelArgsInit {
  /** Where the Armada gRPC API listens: `host:port`, `dns:///host:port`, `ipv4:...`, `unix:...`. */
  target: string;
  /** gRPC channel options passed to grpc-js (max message sizes, keepalive, ...). @default [] */
  options?: readonly (readonly [string, unknown])[] | null;
  /** Message compression. @default null */
  compression?: ChannelCompression | number;
  /** Call credentials; when set, the channel uses TLS. @default null */
  auth?: ArmadaAuth | null;
  /** TLS settings; also makes a channel without auth use TLS. @default none (TLS with system roots when auth is set) */
  tls?: TlsConfig | null;
}

/** The serialized form: the seed's keys, plus `tls` when set. */
export interface SerializedGrpcChannelArgs {
  target: string;
  options: [string, string | number | boolean][];
  compression: ChannelCompression;
  auth: SerializedAuth | null;
  tls?: TlsConfig;
}

/** The serialization format version written by this code. */
export const GRPC_CHANNEL_ARGS_VERSION = 1;

const COMPRESSIONS = ["none", "deflate", "gzip"] as const;

function normalizeCompression(c: unknown): ChannelCompression {
  if (c === null || c === undefined) return null;
  // grpc.Compression enum values (NoCompression=0, Deflate=1, Gzip=2), as the seed stores them.
  if (typeof c === "number" && Number.isInteger(c) && c >= 0 && c <= 2) return COMPRESSIONS[c]!;
  if (typeof c === "string" && (COMPRESSIONS as readonly string[]).includes(c.toLowerCase())) {
    return c.toLowerCase() as ChannelCompression;
  }
  throw new ArmadaAirflowError(
    ErrorCode.InvalidArgument,
    `GrpcChannelArgs.compression must be "none", "deflate", "gzip" or null, got ${JSON.stringify(c)}`,
  );
}

function normalizeOptions(options: unknown): ChannelOption[] {
  if (options === null || options === undefined) return [];
  if (!Array.isArray(options)) {
    throw new ArmadaAirflowError(
      ErrorCode.InvalidArgument,
      `GrpcChannelArgs.options must be a list of [key, value] pairs, e.g. [["grpc.max_receive_message_length", 67108864]], got ${JSON.stringify(options)}`,
    );
  }
  return options.map((o, i) => {
    if (!Array.isArray(o) || o.length !== 2 || typeof o[0] !== "string" || o[0].length === 0) {
      throw new ArmadaAirflowError(
        ErrorCode.InvalidArgument,
        `GrpcChannelArgs.options[${i}] must be a [key, value] pair with a string key, got ${JSON.stringify(o)}`,
      );
    }
    const v: unknown = o[1];
    if (typeof v !== "string" && typeof v !== "boolean" && !(typeof v === "number" && Number.isFinite(v))) {
      throw new ArmadaAirflowError(
        ErrorCode.InvalidArgument,
        `GrpcChannelArgs.options[${i}] (${o[0]}): value must be a string, number or boolean, got ${JSON.stringify(v)}`,
      );
    }
    return Object.freeze([o[0], v]) as ChannelOption;
  });
}

function isAuth(a: unknown): a is ArmadaAuth {
  return (
    typeof a === "object" &&
    a !== null &&
    typeof (a as ArmadaAuth).getRequestMetadata === "function" &&
    typeof (a as ArmadaAuth).serialize === "function"
  );
}

/**
 * How to reach an Armada server: target, gRPC channel options, compression,
 * auth and TLS. Immutable, validated at construction, serializable without
 * secrets (for deferred tasks and XCom).
 */
export class GrpcChannelArgs {
  /** The gRPC target. */
  readonly target: string;
  /** gRPC channel options passed to grpc-js. */
  readonly options: readonly ChannelOption[];
  /** Message compression. */
  readonly compression: ChannelCompression;
  /** Call credentials, or null for none. */
  readonly auth: ArmadaAuth | null;
  /** TLS settings, or null (TLS with system roots when auth is set, plaintext otherwise). */
  readonly tls: Readonly<TlsConfig> | null;

  constructor(init: GrpcChannelArgsInit) {
    if (typeof init !== "object" || init === null) {
      throw new ArmadaAirflowError(
        ErrorCode.InvalidArgument,
        'GrpcChannelArgs needs an options object: new GrpcChannelArgs({ target: "host:50051" })',
      );
    }
    const known = new Set(["target", "options", "compression", "auth", "tls"]);
    for (const k of Object.keys(init)) {
      if (!known.has(k))
        throw new ArmadaAirflowError(
          ErrorCode.InvalidArgument,
          `GrpcChannelArgs: unknown option "${k}"; known: ${[...known].join(", ")}`,
        );
    }
    this.target = validateGrpcTarget(init.target);
    this.options = Object.freeze(normalizeOptions(init.options));
    this.compression = normalizeCompression(init.compression);
    if (init.auth !== undefined && init.auth !== null && !isAuth(init.auth)) {
      throw new ArmadaAirflowError(
        ErrorCode.InvalidArgument,
        'GrpcChannelArgs.auth must implement ArmadaAuth (getRequestMetadata() and serialize()), e.g. BearerTokenAuth.fromEnv("ARMADA_TOKEN")',
      );
    }
    this.auth = init.auth ?? null;
    this.tls = init.tls === undefined || init.tls === null ? null : validateTlsConfig(init.tls);
    Object.freeze(this);
  }

  /** Whether the channel uses TLS: when auth or tls is set. */
  get secure(): boolean {
    return this.auth !== null || this.tls !== null;
  }

  /** The serialized form (no secrets). */
  serialize(): SerializedGrpcChannelArgs {
    const out: SerializedGrpcChannelArgs = {
      target: this.target,
      options: this.options.map(([k, v]) => [k, v]),
      compression: this.compression,
      auth: this.auth ? this.auth.serialize() : null,
    };
    if (this.tls) out.tls = { ...this.tls };
    return out;
  }

  /** Same as {@link GrpcChannelArgs.serialize}. */
  toJSON(): SerializedGrpcChannelArgs {
    return this.serialize();
  }

  /**
   * Restores serialized channel args. `version` is the format version the
   * data was written with; data from a newer version is refused.
   */
  static deserialize(data: unknown, version: number = GRPC_CHANNEL_ARGS_VERSION): GrpcChannelArgs {
    if (typeof version !== "number" || !Number.isInteger(version) || version < 1) {
      throw new ArmadaAirflowError(
        ErrorCode.InvalidArgument,
        `GrpcChannelArgs.deserialize: version must be a positive integer, got ${JSON.stringify(version)}`,
      );
    }
    if (version > GRPC_CHANNEL_ARGS_VERSION) {
      throw new ArmadaAirflowError(
        ErrorCode.Serde,
        `GrpcChannelArgs.deserialize: data has serialization version ${version}, but this armada-airflow reads up to version ${GRPC_CHANNEL_ARGS_VERSION}; upgrade armada-airflow where it is deserialized.`,
      );
    }
    if (typeof data !== "object" || data === null || Array.isArray(data)) {
      throw new ArmadaAirflowError(
        ErrorCode.InvalidArgument,
        `GrpcChannelArgs.deserialize: data must be an object with a "target", got ${JSON.stringify(data)}`,
      );
    }
    const d = data as Record<string, unknown>;
    const auth = d.auth === null || d.auth === undefined ? null : deserializeAuth(d.auth);
    return new GrpcChannelArgs({
      target: d.target as string,
      options: d.options as [string, unknown][] | null,
      compression: d.compression as ChannelCompression,
      auth,
      tls: (d.tls ?? null) as TlsConfig | null,
    });
  }

  /** Equality over target, options, compression, auth and tls. */
  equals(other: unknown): boolean {
    if (!(other instanceof GrpcChannelArgs)) return false;
    if (this.target !== other.target || this.compression !== other.compression) return false;
    if (!isDeepStrictEqual(this.options, other.options) || !isDeepStrictEqual(this.tls, other.tls))
      return false;
    if (this.auth === other.auth) return true;
    if (this.auth === null || other.auth === null) return false;
    return this.auth.equals ? this.auth.equals(other.auth) : false;
  }
}
