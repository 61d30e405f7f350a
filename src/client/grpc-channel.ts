import {
  ChannelCredentials,
  Client,
  credentials,
  Metadata,
  status as GrpcStatus,
  type ChannelOptions,
} from "@grpc/grpc-js";
import type { GrpcChannelArgs } from "./channel-args.js";
import { redactSecrets } from "../common/secrets-masker.js";
import { readTlsMaterial } from "./tls-config.js";

const COMPRESSION_ALGORITHM = { none: 0, deflate: 1, gzip: 2 } as const;

/**
 * Remembers the credential values recently sent, so that error text echoed
 * by a server or a plugin can be scrubbed of them.
 */
export class SecretRecorder {
  private readonly values: string[] = [];

  /** Records a header value and, for `Bearer x`/`Basic x`, the credential part. */
  record(headerValue: string): void {
    const parts = [headerValue];
    const m = /^(?:Bearer|Basic)\s+(.+)$/i.exec(headerValue);
    if (m) parts.push(m[1]!);
    for (const p of parts) {
      if (!this.values.includes(p)) this.values.push(p);
    }
    // A retriever that refreshes often would grow this forever; old tokens are kept only briefly.
    while (this.values.length > 32) this.values.shift();
  }

  /** The recorded secrets. */
  list(): readonly string[] {
    return this.values;
  }
}

/** A grpc-js client for one channel, plus what its transport edge needs. */
export interface ArmadaChannel {
  client: Client;
  secrets: SecretRecorder;
}

/** Builds the channel credentials: TLS with call credentials when auth is set, TLS alone when `tls` is set, else plaintext. */
function channelCredentials(args: GrpcChannelArgs, secrets: SecretRecorder): ChannelCredentials {
  if (!args.secure) return credentials.createInsecure();
  const pem = readTlsMaterial(args.tls ?? undefined);
  const ssl = credentials.createSsl(pem.rootCerts, pem.privateKey, pem.certChain);
  const auth = args.auth;
  if (!auth) return ssl;
  const callCreds = credentials.createFromMetadataGenerator((params, callback) => {
    auth.getRequestMetadata({ serviceUrl: params.service_url, methodName: params.method_name ?? "" }).then(
      (headers) => {
        const md = new Metadata();
        for (const [k, v] of Object.entries(headers)) {
          md.set(k.toLowerCase(), v);
          secrets.record(v);
        }
        callback(null, md);
      },
      (e: unknown) => {
        const msg = redactSecrets(e instanceof Error ? e.message : String(e), {
          also: secrets.list(),
          authorizationValues: true,
        });
        // UNAUTHENTICATED rather than grpc-js's UNKNOWN: the call was refused for want of credentials.
        callback(Object.assign(new Error(msg), { code: GrpcStatus.UNAUTHENTICATED }));
      },
    );
  });
  return credentials.combineChannelCredentials(ssl, callCreds);
}

/** Opens (lazily, as grpc-js does) a channel described by `args`. */
export function openArmadaChannel(args: GrpcChannelArgs): ArmadaChannel {
  const secrets = new SecretRecorder();
  const options: ChannelOptions = {};
  for (const [k, v] of args.options) options[k] = v;
  if (args.compression !== null)
    options["grpc.default_compression_algorithm"] = COMPRESSION_ALGORITHM[args.compression];
  const client = new Client(args.target, channelCredentials(args, secrets), options);
  return { client, secrets };
}
