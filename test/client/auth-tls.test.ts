import { createServer, type Server as HttpServer } from "node:http";
import { ServerCredentials, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/common/clock.js";
import {
  ArmadaClient,
  ArmadaError,
  BasicAuth,
  BearerTokenAuth,
  GrpcChannelArgs,
  OidcClientCredentialsAuth,
  TokenRetrieverAuth,
} from "../../src/client/index.js";
import { HealthCheckResponse_ServingStatus } from "../../src/gen/armada/health.js";
import { type TestCerts, makeTestCerts } from "./support/certs.js";
import { FakeArmadaServer } from "./support/fake-armada-server.js";

const GOOD = "good-token-0123456789";

let certs: TestCerts;
const servers: FakeArmadaServer[] = [];
const clients: ArmadaClient[] = [];

async function tlsServer(mutual = false): Promise<FakeArmadaServer> {
  const s = await new FakeArmadaServer().start(
    ServerCredentials.createSsl(
      mutual ? certs.read(certs.caFile) : null,
      [{ private_key: certs.read(certs.serverKeyFile), cert_chain: certs.read(certs.serverCertFile) }],
      mutual,
    ),
  );
  servers.push(s);
  return s;
}

function client(args: GrpcChannelArgs, opts?: ConstructorParameters<typeof ArmadaClient>[1]): ArmadaClient {
  const c = new ArmadaClient(args, opts);
  clients.push(c);
  return c;
}

/** A server that accepts only `Authorization: <expected>` and, like a careless server, echoes what it got. */
function requireAuth(s: FakeArmadaServer, accept: (header: string) => boolean): void {
  s.hook = (call) => {
    const h = call.metadata["authorization"] ?? "";
    return accept(h) ? undefined : { code: status.UNAUTHENTICATED, details: `invalid credentials: ${h}` };
  };
}

async function errorOf(p: Promise<unknown>): Promise<ArmadaError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(ArmadaError);
  return e as ArmadaError;
}

beforeAll(() => {
  certs = makeTestCerts();
});
afterAll(async () => {
  for (const c of clients) c.close();
  for (const s of servers) await s.stop();
  certs.cleanup();
});

describe("TLS", () => {
  it("connects with a custom CA and no auth", async () => {
    const s = await tlsServer();
    const c = client(new GrpcChannelArgs({ target: s.target, tls: { caFile: certs.caFile } }));
    expect((await c.health()).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
  });

  it("fails as UNAVAILABLE naming the target when the server's CA is not trusted", async () => {
    const s = await tlsServer();
    const c = client(new GrpcChannelArgs({ target: s.target, tls: { caFile: certs.otherCaFile } }), {
      retry: { maxAttempts: 1 },
    });
    const e = await errorOf(c.health({ deadlineMs: 5_000 }));
    expect(e.code).toBe(status.UNAVAILABLE);
    expect(e.message).toContain(s.target);
  });

  it("fails as UNAVAILABLE when a plaintext client meets a TLS server", async () => {
    const s = await tlsServer();
    const e = await errorOf(client(new GrpcChannelArgs({ target: s.target })).health({ deadlineMs: 5_000 }));
    expect(e.code).toBe(status.UNAVAILABLE);
  });

  it("does mutual TLS with a client certificate, and is refused without one", async () => {
    const s = await tlsServer(true);
    const withCert = client(
      new GrpcChannelArgs({
        target: s.target,
        tls: { caFile: certs.caFile, certFile: certs.clientCertFile, keyFile: certs.clientKeyFile },
      }),
    );
    expect((await withCert.health()).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    const without = client(new GrpcChannelArgs({ target: s.target, tls: { caFile: certs.caFile } }));
    const e = await errorOf(without.health({ deadlineMs: 5_000 }));
    expect(e.code).toBe(status.UNAVAILABLE);
  });

  it("names the TLS file that cannot be read", () => {
    expect(
      () =>
        new ArmadaClient(
          new GrpcChannelArgs({ target: "127.0.0.1:1", tls: { caFile: "/nonexistent/ca.pem" } }),
        ),
    ).toThrow(/Cannot read TLS caFile "\/nonexistent\/ca.pem" \(ENOENT\)/);
  });
});

describe("auth", () => {
  it("sends a bearer token over TLS", async () => {
    const s = await tlsServer();
    requireAuth(s, (h) => h === `Bearer ${GOOD}`);
    const c = client(
      new GrpcChannelArgs({
        target: s.target,
        auth: new BearerTokenAuth(GOOD),
        tls: { caFile: certs.caFile },
      }),
    );
    await c.createQueue({ name: "q" });
    expect(s.calls.at(-1)!.metadata["authorization"]).toBe(`Bearer ${GOOD}`);
  });

  it("reports a wrong token as UNAUTHENTICATED with a hint, never echoing the token", async () => {
    const s = await tlsServer();
    requireAuth(s, (h) => h === `Bearer ${GOOD}`);
    const wrong = "wrong-token-ABCDEFGHIJ";
    const c = client(
      new GrpcChannelArgs({
        target: s.target,
        auth: new BearerTokenAuth(wrong),
        tls: { caFile: certs.caFile },
      }),
    );
    const e = await errorOf(c.getJobStatus({ jobIds: ["j"] }));
    expect(e.code).toBe(status.UNAUTHENTICATED);
    expect(e.codeName).toBe("UNAUTHENTICATED");
    expect(e.method).toBe("GetJobStatus");
    expect(e.message).toMatch(/rejected the credentials.*token/);
    expect(e.message).not.toContain(wrong);
    expect(e.details).not.toContain(wrong);
    expect(JSON.stringify({ ...e, message: e.message })).not.toContain(wrong);
    // UNAUTHENTICATED is not transient: one attempt only.
    expect(s.calls.filter((x) => x.method === "GetJobStatus")).toHaveLength(1);
  });

  it("asks a TokenRetriever for each call, so a refreshed token is used at once", async () => {
    const s = await tlsServer();
    let n = 0;
    requireAuth(s, (h) => h.startsWith("Bearer rotating-"));
    const c = client(
      new GrpcChannelArgs({
        target: s.target,
        auth: new TokenRetrieverAuth({ getToken: async () => `rotating-${++n}` }),
        tls: { caFile: certs.caFile },
      }),
    );
    await c.health();
    await c.health();
    expect(s.calls.map((x) => x.metadata["authorization"])).toEqual([
      "Bearer rotating-1",
      "Bearer rotating-2",
    ]);
  });

  it("turns a failing TokenRetriever into UNAUTHENTICATED without calling the server", async () => {
    const s = await tlsServer();
    const c = client(
      new GrpcChannelArgs({
        target: s.target,
        auth: new TokenRetrieverAuth({
          getToken: () => {
            throw new Error("token file /var/run/t missing");
          },
        }),
        tls: { caFile: certs.caFile },
      }),
    );
    const e = await errorOf(c.health());
    expect(e.code).toBe(status.UNAUTHENTICATED);
    expect(e.message).toContain("token file /var/run/t missing");
    expect(s.calls).toHaveLength(0);
  });

  it("sends basic credentials", async () => {
    const s = await tlsServer();
    requireAuth(s, (h) => h === `Basic ${Buffer.from("alice:pa55word").toString("base64")}`);
    const c = client(
      new GrpcChannelArgs({
        target: s.target,
        auth: new BasicAuth("alice", "pa55word"),
        tls: { caFile: certs.caFile },
      }),
    );
    expect((await c.health()).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    const bad = client(
      new GrpcChannelArgs({
        target: s.target,
        auth: new BasicAuth("alice", "nope-nope"),
        tls: { caFile: certs.caFile },
      }),
    );
    const e = await errorOf(bad.health());
    expect(e.code).toBe(status.UNAUTHENTICATED);
    expect(e.message).not.toContain(Buffer.from("alice:nope-nope").toString("base64"));
  });

  describe("OIDC client credentials", () => {
    let idp: HttpServer;
    let idpUrl: string;
    let issued = 0;
    const requests: { auth: string; body: string }[] = [];

    beforeAll(async () => {
      idp = createServer((req, res) => {
        let body = "";
        req.on("data", (d) => (body += d));
        req.on("end", () => {
          requests.push({ auth: req.headers.authorization ?? "", body });
          const params = new URLSearchParams(body);
          const ok =
            req.headers.authorization ===
            `Basic ${Buffer.from("armada-client:client-s3cret").toString("base64")}`;
          res.setHeader("content-type", "application/json");
          if (!ok || params.get("grant_type") !== "client_credentials") {
            res.statusCode = 401;
            res.end(JSON.stringify({ error: "invalid_client", error_description: "bad client credentials" }));
            return;
          }
          res.end(
            JSON.stringify({
              access_token: `oidc-access-${++issued}`,
              token_type: "Bearer",
              expires_in: 120,
            }),
          );
        });
      });
      await new Promise<void>((r) => idp.listen(0, "127.0.0.1", r));
      idpUrl = `http://127.0.0.1:${(idp.address() as { port: number }).port}/token`;
    });
    afterAll(() => new Promise<void>((r) => idp.close(() => r())));

    it("fetches a token, caches it, and refreshes it before it expires", async () => {
      const s = await tlsServer();
      requireAuth(s, (h) => h.startsWith("Bearer oidc-access-"));
      const clock = new ManualClock();
      const auth = new OidcClientCredentialsAuth({
        tokenUrl: idpUrl,
        clientId: "armada-client",
        clientSecret: "client-s3cret",
        scopes: ["armada"],
        clock,
        refreshBeforeExpiryMs: 30_000,
      });
      const c = client(new GrpcChannelArgs({ target: s.target, auth, tls: { caFile: certs.caFile } }));
      await Promise.all([c.health(), c.health()]);
      await c.health();
      expect(auth.tokenRequests).toBe(1);
      expect(new URLSearchParams(requests.at(-1)!.body).get("scope")).toBe("armada");
      clock.advance(89_000); // 31 s before expiry: still cached
      await c.health();
      expect(auth.tokenRequests).toBe(1);
      clock.advance(2_000); // inside the refresh window
      await c.health();
      expect(auth.tokenRequests).toBe(2);
      const tokens = s.calls.map((x) => x.metadata["authorization"]);
      expect(new Set(tokens)).toEqual(
        new Set([`Bearer oidc-access-${issued - 1}`, `Bearer oidc-access-${issued}`]),
      );
      expect(tokens.at(-1)).toBe(`Bearer oidc-access-${issued}`);
    });

    it("reports a rejected client secret as UNAUTHENTICATED naming the client, not the secret", async () => {
      const s = await tlsServer();
      const auth = new OidcClientCredentialsAuth({
        tokenUrl: idpUrl,
        clientId: "armada-client",
        clientSecret: "wrong-s3cret-value",
      });
      const c = client(new GrpcChannelArgs({ target: s.target, auth, tls: { caFile: certs.caFile } }));
      const e = await errorOf(c.health());
      expect(e.code).toBe(status.UNAUTHENTICATED);
      expect(e.message).toMatch(
        /HTTP 401 \(invalid_client: bad client credentials\).*clientId "armada-client"/,
      );
      expect(e.message).not.toContain("wrong-s3cret-value");
      expect(s.calls).toHaveLength(0);
    });
  });
});
