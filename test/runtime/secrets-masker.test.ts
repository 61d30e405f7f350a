import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import {
  BasicAuth,
  BearerTokenAuth,
  OidcClientCredentialsAuth,
  TokenRetrieverAuth,
} from "../../src/client/index.js";
import { ArmadaError } from "../../src/client/armada-error.js";
import { clearMaskedSecrets, maskSecret, redactSecrets } from "../../src/runtime/secrets-masker.js";
import { createTaskLogger, type LogLevel } from "../../src/runtime/task-logger.js";
import { serializeValue } from "../../src/runtime/serde.js";

const call = { serviceUrl: "https://armada/api.Submit", methodName: "SubmitJobs" };

/** A task logger whose lines are kept, as the runner's sink keeps them. */
function capturingLogger(): { lines: string[]; log: ReturnType<typeof createTaskLogger> } {
  const lines: string[] = [];
  const log = createTaskLogger((_level: LogLevel, message: string) => lines.push(message));
  return { lines, log };
}

afterEach(() => clearMaskedSecrets());

describe("secrets masker registry", () => {
  it("is shared by every copy of the module (a DAG file loaded through tsx gets its own copy)", async () => {
    const original = await import("../../src/common/secrets-masker.js");
    // The query string makes the loader evaluate the file again: a second, independent module instance.
    const copy = (await import(
      // @ts-expect-error -- a query string is not a path TypeScript can check
      "../../src/common/secrets-masker.ts?copy=2"
    )) as typeof original;
    expect(copy.maskSecret).not.toBe(original.maskSecret);

    copy.maskSecret("dag-file-token-123");
    expect(original.redactSecrets("token=dag-file-token-123")).toBe("token=***");
    expect(redactSecrets("token=dag-file-token-123")).toBe("token=***");
    original.maskSecret("runtime-token-456");
    expect(copy.redactSecrets("a runtime-token-456 b")).toBe("a *** b");
    copy.clearMaskedSecrets();
    expect(redactSecrets("runtime-token-456")).toBe("runtime-token-456");
  });

  it("masks a secret that contains another one whole", () => {
    maskSecret("abcd");
    maskSecret("abcdefgh");
    expect(redactSecrets("x abcdefgh y abcd")).toBe("x *** y ***");
  });

  it("ignores values too short to mask and leaves prose about auth alone", () => {
    maskSecret("pw");
    maskSecret("");
    maskSecret(undefined);
    expect(redactSecrets("pw: Basic auth with a Bearer token")).toBe("pw: Basic auth with a Bearer token");
    expect(redactSecrets("header Bearer abcdefgh", { authorizationValues: true })).toBe("header Bearer ***");
  });

  it("is the one masker of the client too: ArmadaError text uses the same placeholder and registry", () => {
    maskSecret("registered-elsewhere-789");
    const e = ArmadaError.from(
      { code: 16, details: "token registered-elsewhere-789 and listed-111 rejected" },
      { secrets: ["listed-111"] },
    );
    expect(e.details).toBe("token *** and *** rejected");
  });
});

describe("auth secrets are registered with the masker", () => {
  it("a literal bearer token is masked in a task log line and in XCom", () => {
    new BearerTokenAuth("literal-bearer-token-1");
    const { lines, log } = capturingLogger();
    log.info("calling with %s", "Authorization: Bearer literal-bearer-token-1");
    expect(lines).toEqual(["calling with Authorization: Bearer ***"]);
    expect(serializeValue({ t: "literal-bearer-token-1" })).toBe('{"t":"***"}');
  });

  it("a token read through an environment variable name (ARMADA_TOKEN_ENV) is masked, also after rotation", async () => {
    const name = "ARMADA_AIRFLOW_TEST_MASKED_TOKEN";
    process.env[name] = "env-token-value-1";
    try {
      const auth = BearerTokenAuth.fromEnv(name);
      const { lines, log } = capturingLogger();
      log.info(`env is ${process.env[name]}`);
      process.env[name] = "env-token-rotated-2";
      expect(await auth.getRequestMetadata(call)).toEqual({ authorization: "Bearer env-token-rotated-2" });
      log.warn("now env-token-rotated-2");
      expect(lines).toEqual(["env is ***", "now ***"]);
    } finally {
      delete process.env[name];
    }
  });

  it("a basic password and its base64 header form are masked", async () => {
    const auth = new BasicAuth("alice", "alice-password");
    const { authorization } = await auth.getRequestMetadata(call);
    const { lines, log } = capturingLogger();
    log.info("pw=alice-password header=%s", authorization);
    expect(lines).toEqual(["pw=*** header=Basic ***"]);
  });

  it("an OIDC client secret (literal or from env) and the access token it fetches are masked", async () => {
    const name = "ARMADA_AIRFLOW_TEST_OIDC_SECRET";
    process.env[name] = "oidc-env-secret-1";
    const server: Server = createServer((_req, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ access_token: "oidc-access-token-xyz", expires_in: 300 }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const tokenUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
      new OidcClientCredentialsAuth({ tokenUrl, clientId: "c", clientSecretEnv: name });
      const literal = new OidcClientCredentialsAuth({
        tokenUrl,
        clientId: "c",
        clientSecret: "oidc-literal-secret",
      });
      expect(await literal.getAccessToken()).toBe("oidc-access-token-xyz");
      const { lines, log } = capturingLogger();
      log.info("oidc-env-secret-1 oidc-literal-secret oidc-access-token-xyz");
      expect(lines).toEqual(["*** *** ***"]);
    } finally {
      delete process.env[name];
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it("a token from a TokenRetriever is masked once it has been used", async () => {
    const auth = new TokenRetrieverAuth({ getToken: () => "retrieved-token-42" });
    await auth.getRequestMetadata(call);
    const { lines, log } = capturingLogger();
    log.error("got retrieved-token-42");
    expect(lines).toEqual(["got ***"]);
  });
});
