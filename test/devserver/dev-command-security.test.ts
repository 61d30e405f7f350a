/**
 * `armada-airflow dev` with auth and TLS flags: the real CLI in a subprocess,
 * driven by our client, so the client's auth paths can be tried against a
 * server a user starts by hand. Secrets travel by environment variable name.
 */
import path from "node:path";
import { afterEach, expect, it } from "vitest";
import { ArmadaClient, BasicAuth, BearerTokenAuth, GrpcChannelArgs } from "armada-airflow/client";
import { killProcesses } from "../support/child-processes.js";
import { runSourceCli, spawnSourceCli } from "../support/source-cli.js";

const tlsDir = path.join(import.meta.dirname, "fixtures", "tls");

const openClients: ArmadaClient[] = [];
afterEach(async () => {
  for (const c of openClients.splice(0)) c.close();
  // Whatever the outcome, the server process (and its group) is gone after each test.
  await killProcesses();
});

function client(target: string, auth: ConstructorParameters<typeof GrpcChannelArgs>[0]["auth"]) {
  const c = new ArmadaClient(
    new GrpcChannelArgs({ target, auth, tls: { caFile: path.join(tlsDir, "ca.crt") } }),
  );
  openClients.push(c);
  return c;
}

it("serves gRPC over TLS and accepts only the bearer token and basic user named by env vars", async () => {
  const dev = spawnSourceCli(
    [
      "dev",
      "--grpc-port",
      "0",
      "--http-port",
      "0",
      "--tls-cert",
      path.join(tlsDir, "server.crt"),
      "--tls-key",
      path.join(tlsDir, "server.key"),
      "--bearer-token-env",
      "DEV_TOKEN",
      "--basic-auth-env",
      "DEV_BASIC",
    ],
    { ...process.env, DEV_TOKEN: "s3cret-token", DEV_BASIC: "ada:pa55word" },
  );
  const out = await dev.waitForOutput("Press Ctrl+C");
  // The certificate is issued for localhost.
  const target = /gRPC:\s+(\S+)/.exec(out)![1]!.replace("127.0.0.1", "localhost");
  expect(out).not.toContain("s3cret-token");
  expect(out).not.toContain("pa55word");

  expect((await client(target, new BearerTokenAuth("s3cret-token")).health()).status).toBe(1);
  expect((await client(target, new BasicAuth("ada", "pa55word")).health()).status).toBe(1);
  const wrong = client(target, new BearerTokenAuth("not-the-token")).health();
  await expect(wrong).rejects.toMatchObject({ message: expect.stringMatching(/UNAUTHENTICATED/i) });
  await expect(wrong).rejects.not.toMatchObject({ message: expect.stringContaining("not-the-token") });
});

it("refuses to start when a secret's env var is unset, or a TLS flag lacks its pair, naming the flag", async () => {
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    runSourceCli(["dev", "--grpc-port", "0", "--http-port", "0", ...args], { ...process.env, ...env });
  const unset = await run(["--bearer-token-env", "NO_SUCH_TOKEN_VAR"]);
  expect(unset.code).not.toBe(0);
  expect(unset.stderr).toContain("--bearer-token-env names the environment variable NO_SUCH_TOKEN_VAR");

  const malformed = await run(["--basic-auth-env", "DEV_BASIC"], { DEV_BASIC: "no-colon-secret" });
  expect(malformed.code).not.toBe(0);
  expect(malformed.stderr).toContain('DEV_BASIC must hold "username:password"');
  expect(malformed.stderr).not.toContain("no-colon-secret");

  const half = await run(["--tls-cert", path.join(tlsDir, "server.crt")]);
  expect(half.code).not.toBe(0);
  expect(half.stderr).toContain("--tls-cert and --tls-key go together");
});
