/**
 * `armada-airflow dev` with auth and TLS flags: the real CLI in a subprocess,
 * driven by our client, so the client's auth paths can be tried against a
 * server a user starts by hand. Secrets travel by environment variable name.
 */
import { spawnSync, type ChildProcess } from "node:child_process";
import path from "node:path";
import { afterEach, expect, it } from "vitest";
import { ArmadaClient, BasicAuth, BearerTokenAuth, GrpcChannelArgs } from "armada-airflow/client";
import { sleepUntil } from "../support/sleep-until.js";
import { repoRoot, sourceCliArgs, spawnSourceCli } from "../support/source-cli.js";

const tlsDir = path.join(import.meta.dirname, "fixtures", "tls");

let child: ChildProcess | undefined;
const openClients: ArmadaClient[] = [];
afterEach(async () => {
  for (const c of openClients.splice(0)) c.close();
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child!.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  }
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
  child = dev;
  await sleepUntil(() => dev.output().includes("Press Ctrl+C"), "ready line", 20_000);
  const out = dev.output();
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

it("refuses to start when a secret's env var is unset, or a TLS flag lacks its pair, naming the flag", () => {
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    spawnSync(process.execPath, sourceCliArgs(["dev", "--grpc-port", "0", "--http-port", "0", ...args]), {
      cwd: repoRoot,
      encoding: "utf8",
      env: { ...process.env, ...env },
    });
  const unset = run(["--bearer-token-env", "NO_SUCH_TOKEN_VAR"]);
  expect(unset.status).not.toBe(0);
  expect(unset.stderr).toContain("--bearer-token-env names the environment variable NO_SUCH_TOKEN_VAR");

  const malformed = run(["--basic-auth-env", "DEV_BASIC"], { DEV_BASIC: "no-colon-secret" });
  expect(malformed.status).not.toBe(0);
  expect(malformed.stderr).toContain('DEV_BASIC must hold "username:password"');
  expect(malformed.stderr).not.toContain("no-colon-secret");

  const half = run(["--tls-cert", path.join(tlsDir, "server.crt")]);
  expect(half.status).not.toBe(0);
  expect(half.stderr).toContain("--tls-cert and --tls-key go together");
});
