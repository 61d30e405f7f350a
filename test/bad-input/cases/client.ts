/**
 * Bad input to the client: channel args (target, options, compression,
 * TLS), auth, the pre-call channel check, and job request items given to
 * ArmadaClient.submitJobs. Each is refused before any call reaches Armada.
 */
import { ArmadaClient } from "../../../src/client/armada-client.js";
import { BasicAuth } from "../../../src/client/basic-auth.js";
import { BearerTokenAuth } from "../../../src/client/bearer-token-auth.js";
import { GrpcChannelArgs, type GrpcChannelArgsInit } from "../../../src/client/channel-args.js";
import { checkChannelArgs } from "../../../src/client/channel-preflight.js";
import { OidcClientCredentialsAuth } from "../../../src/client/oidc-client-credentials-auth.js";
import { TokenRetrieverAuth } from "../../../src/client/token-retriever-auth.js";
import { badInputTable } from "../table.js";

/** What a case does, given the dev server's gRPC target. */
export type ClientInput = (target: string) => unknown;

const args = (init: unknown) => () => new GrpcChannelArgs(init as GrpcChannelArgsInit);
const preflight =
  (init: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) =>
  (target: string) =>
    checkChannelArgs(new GrpcChannelArgs({ target, ...init } as GrpcChannelArgsInit), env);

/** Submits `items` through ArmadaClient to the dev server. */
const submit = (items: unknown[]) => async (target: string) => {
  const client = new ArmadaClient(new GrpcChannelArgs({ target }));
  try {
    return await client.submitJobs({ queue: "q", jobSetId: "bad-input", jobRequestItems: items as never });
  } finally {
    client.close();
  }
};

const k8sItem = (container: Record<string, unknown> = {}, over: Record<string, unknown> = {}) => ({
  namespace: "default",
  podSpec: { containers: [{ name: "main", image: "busybox", ...container }] },
  ...over,
});

export const CLIENT_CASES = badInputTable<ClientInput>("client channel args and auth", [
  { name: "no options object", input: args(null), field: "GrpcChannelArgs", says: /needs an options object/ },
  { name: "target empty", input: args({ target: "" }), field: "GrpcChannelArgs.target", says: /it is empty/ },
  {
    name: "target with http://",
    input: args({ target: "http://armada:50051" }),
    field: "GrpcChannelArgs.target",
    says: /no http\(s\):\/\/ scheme/,
  },
  {
    name: "target with a space",
    input: args({ target: "armada .example.com:50051" }),
    field: "GrpcChannelArgs.target",
    says: /whitespace/,
  },
  {
    name: "target a number",
    input: args({ target: 50051 }),
    field: "GrpcChannelArgs.target",
    says: /must be a string/,
  },
  { name: "target missing", input: args({}), field: "GrpcChannelArgs.target", says: /must be a string/ },
  {
    name: "options not a list",
    input: args({ target: "a:1", options: { "grpc.x": 1 } }),
    field: "GrpcChannelArgs.options",
    says: /list of \[key, value\] pairs/,
  },
  {
    name: "option with an empty key",
    input: args({ target: "a:1", options: [["", 1]] }),
    field: "GrpcChannelArgs.options[0]",
    says: /string key/,
  },
  {
    name: "option with an object value",
    input: args({ target: "a:1", options: [["grpc.x", {}]] }),
    field: "GrpcChannelArgs.options[0]",
    says: /string, number or boolean/,
  },
  {
    name: "option with a NaN value",
    input: args({ target: "a:1", options: [["grpc.x", Number.NaN]] }),
    field: "GrpcChannelArgs.options[0]",
    says: /string, number or boolean/,
  },
  {
    name: "compression zip",
    input: args({ target: "a:1", compression: "zip" }),
    field: "GrpcChannelArgs.compression",
    says: /"none", "deflate", "gzip" or null/,
  },
  {
    name: "compression 7",
    input: args({ target: "a:1", compression: 7 }),
    field: "GrpcChannelArgs.compression",
    says: /"gzip"/,
  },
  {
    name: "an unknown option",
    input: args({ target: "a:1", tls_ca: "x" }),
    field: "GrpcChannelArgs",
    says: /unknown option "tls_ca"; known: target, options, compression, auth, tls/,
  },
  {
    name: "auth a plain object",
    input: args({ target: "a:1", auth: { token: "x" } }),
    field: "GrpcChannelArgs.auth",
    says: /must implement ArmadaAuth/,
  },
  {
    name: "tls a string",
    input: args({ target: "a:1", tls: "on" }),
    field: "GrpcChannelArgs.tls",
    says: /object like/,
  },
  {
    name: "tls with an unknown key",
    input: args({ target: "a:1", tls: { ca: "/x" } }),
    field: "GrpcChannelArgs.tls.ca",
    says: /is not a TLS option/,
  },
  {
    name: "tls caFile empty",
    input: args({ target: "a:1", tls: { caFile: "" } }),
    field: "GrpcChannelArgs.tls.caFile",
    says: /file path string/,
  },
  {
    name: "tls caFile holding PEM contents",
    input: args({ target: "a:1", tls: { caFile: "-----BEGIN CERTIFICATE-----\nMIIB" } }),
    field: "GrpcChannelArgs.tls.caFile",
    says: /path to a PEM file, not the PEM contents/,
  },
  {
    name: "tls certFile without keyFile",
    input: args({ target: "a:1", tls: { certFile: "/c.pem" } }),
    field: "GrpcChannelArgs.tls",
    says: /mutual TLS needs both certFile and keyFile/,
  },
  {
    name: "bearer token env var with a bad name",
    input: () => BearerTokenAuth.fromEnv("my-token"),
    field: "BearerTokenAuth",
    says: /environment variable name must look like MY_VAR/,
  },
  {
    name: "bearer token empty",
    input: () => new BearerTokenAuth(""),
    field: "BearerTokenAuth token",
    says: /non-empty string/,
  },
  {
    name: "basic auth username with a colon",
    input: () => BasicAuth.fromEnv("a:b", "PW"),
    field: "BasicAuth username",
    says: /without ':'/,
  },
  {
    name: "basic auth password env var with a bad name",
    input: () => BasicAuth.fromEnv("alice", "1PW"),
    field: "BasicAuth",
    says: /must look like MY_VAR/,
  },
  {
    name: "OIDC token URL not a URL",
    input: () =>
      new OidcClientCredentialsAuth({ tokenUrl: "idp/token", clientId: "c", clientSecretEnv: "S" }),
    field: "OidcClientCredentialsAuth.tokenUrl",
    says: /is not a URL/,
  },
  {
    name: "OIDC token URL over ftp",
    input: () =>
      new OidcClientCredentialsAuth({ tokenUrl: "ftp://idp/token", clientId: "c", clientSecretEnv: "S" }),
    field: "OidcClientCredentialsAuth.tokenUrl",
    says: /must be http\(s\)/,
  },
  {
    name: "OIDC client id empty",
    input: () =>
      new OidcClientCredentialsAuth({ tokenUrl: "https://idp/token", clientId: "", clientSecretEnv: "S" }),
    field: "OidcClientCredentialsAuth.clientId",
    says: /non-empty string/,
  },
  {
    name: "OIDC with both secret forms",
    input: () =>
      new OidcClientCredentialsAuth({
        tokenUrl: "https://idp/token",
        clientId: "c",
        clientSecret: "s",
        clientSecretEnv: "S",
      }),
    field: "clientSecretEnv",
    says: /exactly one of clientSecret or clientSecretEnv/,
  },
  {
    name: "token retriever without getToken",
    input: () => new TokenRetrieverAuth({} as never),
    field: "TokenRetrieverAuth",
    says: /getToken\(\) method/,
  },
  {
    name: "deserialize a newer format",
    input: () => GrpcChannelArgs.deserialize({ target: "a:1" }, 99),
    field: "GrpcChannelArgs.deserialize",
    says: /serialization version 99.*upgrade armada-airflow/,
  },
  {
    name: "deserialize null",
    input: () => GrpcChannelArgs.deserialize(null),
    field: "GrpcChannelArgs.deserialize",
    says: /must be an object with a "target"/,
  },
  // The channel check before the first call
  {
    name: "caFile that does not exist",
    input: preflight({ tls: { caFile: "/nonexistent/ca.pem" } }),
    field: "channelArgs.tls.caFile",
    says: /ENOENT/,
  },
  {
    name: "certFile and keyFile that do not exist",
    input: preflight({ tls: { certFile: "/nonexistent/c.pem", keyFile: "/nonexistent/k.pem" } }),
    field: "channelArgs.tls.",
    says: /ENOENT/,
  },
  {
    name: "bearer token variable unset",
    input: preflight({ auth: BearerTokenAuth.fromEnv("BAD_INPUT_UNSET_T") }),
    field: "channelArgs.auth.tokenEnv",
    says: /BAD_INPUT_UNSET_T is not set/,
  },
  {
    name: "bearer token variable empty",
    input: preflight({ auth: BearerTokenAuth.fromEnv("BAD_INPUT_EMPTY_T") }, { BAD_INPUT_EMPTY_T: "" }),
    field: "channelArgs.auth.tokenEnv",
    says: /BAD_INPUT_EMPTY_T/,
  },
  {
    name: "basic auth password variable unset",
    input: preflight({ auth: BasicAuth.fromEnv("alice", "BAD_INPUT_UNSET_PW") }),
    field: "channelArgs.auth.passwordEnv",
    says: /BAD_INPUT_UNSET_PW/,
  },
  // Items given to submitJobs, refused before the call
  {
    name: "submitJobs with malformed YAML",
    input: submit(["namespace: default\npodSpec: [\n"]),
    field: "jobRequestItems[0]",
    says: /not valid YAML or JSON at line 3, column 1/,
  },
  {
    name: "submitJobs with an unquoted template in YAML",
    input: submit(["namespace: {{ ns }}\n"]),
    field: "jobRequestItems[0]",
    says: /line 1, column 12: a value that starts with a template must be quoted/,
  },
  {
    name: "submitJobs with a misspelt field",
    input: submit([k8sItem({ imagee: "x" })]),
    field: "podSpec.containers[0].imagee",
    says: /Did you mean "image"\?/,
  },
  {
    name: "submitJobs with a bad quantity",
    input: submit([k8sItem({ resources: { requests: { cpu: "lots" } } })]),
    field: "podSpec.containers[0].resources.requests.cpu",
    says: /Kubernetes quantity/,
  },
  {
    name: "submitJobs with args as a string",
    input: submit([k8sItem({ args: "echo" })]),
    field: "podSpec.containers[0].args",
    says: /expected a list/,
  },
  {
    name: "submitJobs with the second item broken",
    input: submit([k8sItem(), k8sItem({}, { priority: "high" })]),
    field: "jobRequestItems[1]",
    says: /priority/,
  },
]);
