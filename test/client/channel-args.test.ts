import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import {
  BasicAuth,
  BearerTokenAuth,
  GrpcChannelArgs,
  OidcClientCredentialsAuth,
  TokenRetrieverAuth,
  registerTokenRetriever,
  type TokenRetriever,
} from "../../src/client/index.js";

const SECRET = "s3cr3t-token-value";

class FileTokenRetriever implements TokenRetriever {
  constructor(readonly path: string) {}
  getToken(): string {
    return `token-from-${this.path}`;
  }
  serialize(): [string, Record<string, unknown>] {
    return ["tests.FileTokenRetriever", { path: this.path }];
  }
}
registerTokenRetriever("tests.FileTokenRetriever", (kw) => new FileTokenRetriever(kw.path as string));

describe("GrpcChannelArgs", () => {
  it("accepts the target forms grpc supports", () => {
    for (const t of [
      "localhost:50051",
      "armada.example.com:443",
      "10.0.0.1:50051",
      "[::1]:50051",
      "dns:///armada:50051",
      "dns:armada:50051",
      "ipv4:127.0.0.1:50051",
      "ipv6:[::1]:50051",
      "unix:/tmp/armada.sock",
      "unix:///tmp/armada.sock",
    ]) {
      expect(new GrpcChannelArgs({ target: t }).target).toBe(t);
    }
  });

  it("refuses a malformed target at construction, naming the value and the fix", () => {
    for (const t of [
      "",
      "localhost",
      "http://localhost:50051",
      "host:port",
      "host:99999",
      "ho st:1",
      "::1:50051",
      "dns:///",
    ]) {
      expect(() => new GrpcChannelArgs({ target: t }), t).toThrow(
        new RegExp(
          `target ${JSON.stringify(t).replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} is not a valid gRPC target.*host:port`,
        ),
      );
    }
    expect(() => new GrpcChannelArgs({ target: 50051 as unknown as string })).toThrow(/must be a string/);
  });

  it("validates options and compression", () => {
    expect(() => new GrpcChannelArgs({ target: "h:1", options: [["grpc.x"]] as never })).toThrow(
      /options\[0\].*\[key, value\]/,
    );
    expect(() => new GrpcChannelArgs({ target: "h:1", options: [["grpc.x", {}]] })).toThrow(
      /options\[0\] \(grpc.x\)/,
    );
    expect(() => new GrpcChannelArgs({ target: "h:1", compression: "brotli" as never })).toThrow(
      /"none", "deflate", "gzip" or null/,
    );
    expect(new GrpcChannelArgs({ target: "h:1", compression: 2 }).compression).toBe("gzip");
    expect(() => new GrpcChannelArgs({ target: "h:1", tls: { certFile: "/c.pem" } })).toThrow(
      /both certFile and keyFile/,
    );
    expect(
      () => new GrpcChannelArgs({ target: "h:1", tls: { caFile: "-----BEGIN CERTIFICATE-----" } }),
    ).toThrow(/path to a PEM file/);
    expect(() => new GrpcChannelArgs({ target: "h:1", tls: { ca: "/x" } as never })).toThrow(
      /tls.ca is not a TLS option/,
    );
    expect(() => new GrpcChannelArgs({ target: "h:1", auth: { token: "x" } as never })).toThrow(
      /must implement ArmadaAuth/,
    );
    expect(() => new GrpcChannelArgs({ target: "h:1", bogus: 1 } as never)).toThrow(/unknown option "bogus"/);
  });

  it("serializes with the seed's keys, is immutable, and round-trips", () => {
    const args = new GrpcChannelArgs({
      target: "armada:50051",
      options: [
        ["grpc.max_receive_message_length", 64 << 20],
        ["grpc.keepalive_time_ms", 30_000],
      ],
      compression: "gzip",
      auth: BearerTokenAuth.fromEnv("ARMADA_TOKEN"),
    });
    const data = args.serialize();
    expect(Object.keys(data)).toEqual(["target", "options", "compression", "auth"]);
    expect(data).toEqual({
      target: "armada:50051",
      options: [
        ["grpc.max_receive_message_length", 67108864],
        ["grpc.keepalive_time_ms", 30000],
      ],
      compression: "gzip",
      auth: { type: "bearer", tokenEnv: "ARMADA_TOKEN" },
    });
    expect(JSON.parse(JSON.stringify(args))).toEqual(data);
    const back = GrpcChannelArgs.deserialize(JSON.parse(JSON.stringify(data)), 1);
    expect(back.equals(args)).toBe(true);
    expect(back.serialize()).toEqual(data);
    expect(Object.isFrozen(args)).toBe(true);
    expect(() => ((args as { target: string }).target = "x:1")).toThrow();
    const plain = new GrpcChannelArgs({ target: "armada:50051" }).serialize();
    expect(plain).toEqual({ target: "armada:50051", options: [], compression: null, auth: null });
  });

  it("adds tls only when set", () => {
    const args = new GrpcChannelArgs({ target: "a:1", tls: { caFile: "/etc/ca.pem" } });
    expect(args.serialize()).toEqual({
      target: "a:1",
      options: [],
      compression: null,
      auth: null,
      tls: { caFile: "/etc/ca.pem" },
    });
    expect(GrpcChannelArgs.deserialize(args.serialize(), 1).equals(args)).toBe(true);
  });

  it("refuses data from a newer serialization version, naming it", () => {
    expect(() => GrpcChannelArgs.deserialize({ target: "a:1" }, 2)).toThrow(/version 2.*up to version 1/);
  });

  it("compares all fields", () => {
    const a = new GrpcChannelArgs({ target: "a:1", options: [["k", 1]] });
    expect(a.equals(new GrpcChannelArgs({ target: "a:1", options: [["k", 1]] }))).toBe(true);
    expect(a.equals(new GrpcChannelArgs({ target: "a:1", options: [["k", 2]] }))).toBe(false);
    expect(a.equals(new GrpcChannelArgs({ target: "a:2", options: [["k", 1]] }))).toBe(false);
    expect(a.equals(new GrpcChannelArgs({ target: "a:1", options: [["k", 1]], compression: "gzip" }))).toBe(
      false,
    );
    const withAuth = (t: string) => new GrpcChannelArgs({ target: "a:1", auth: new BearerTokenAuth(t) });
    expect(withAuth("aaaa1").equals(withAuth("aaaa1"))).toBe(true);
    expect(withAuth("aaaa1").equals(withAuth("aaaa2"))).toBe(false);
    expect(a.equals({ target: "a:1" })).toBe(false);
  });

  it("never writes a literal secret, and refuses to restore one with a clear fix", () => {
    const cases = [
      new BearerTokenAuth(SECRET),
      new BasicAuth("alice", SECRET),
      new OidcClientCredentialsAuth({
        tokenUrl: "https://idp/token",
        clientId: "armada",
        clientSecret: SECRET,
      }),
      new TokenRetrieverAuth({ getToken: () => SECRET }),
    ];
    for (const auth of cases) {
      const args = new GrpcChannelArgs({ target: "a:1", auth });
      const text =
        JSON.stringify(args.serialize()) + JSON.stringify(args) + inspect(args, { depth: 10 }) + String(auth);
      expect(text).not.toContain(SECRET);
      expect(() => GrpcChannelArgs.deserialize(args.serialize(), 1)).toThrow(
        /never serialized|not written out/,
      );
      expect(() => GrpcChannelArgs.deserialize(args.serialize(), 1)).toThrow(
        /fromEnv|clientSecretEnv|registerTokenRetriever/,
      );
    }
  });

  it("restores auth given by reference: env vars and registered retrievers", async () => {
    const auths = [
      BearerTokenAuth.fromEnv("T_ENV"),
      BasicAuth.fromEnv("alice", "P_ENV"),
      new OidcClientCredentialsAuth({
        tokenUrl: "https://idp/token",
        clientId: "armada",
        clientSecretEnv: "S_ENV",
        scopes: ["a", "b"],
      }),
      new TokenRetrieverAuth(new FileTokenRetriever("/var/run/token")),
    ];
    for (const auth of auths) {
      const args = new GrpcChannelArgs({ target: "a:1", auth });
      const back = GrpcChannelArgs.deserialize(JSON.parse(JSON.stringify(args.serialize())), 1);
      expect(back.equals(args)).toBe(true);
      expect(back.auth!.serialize()).toEqual(auth.serialize());
    }
    const restored = GrpcChannelArgs.deserialize(
      new GrpcChannelArgs({ target: "a:1", auth: auths[3] }).serialize(),
      1,
    );
    expect(await restored.auth!.getRequestMetadata({ serviceUrl: "", methodName: "" })).toEqual({
      authorization: "Bearer token-from-/var/run/token",
    });
    expect(() =>
      GrpcChannelArgs.deserialize(
        { target: "a:1", auth: { type: "token-retriever", classpath: "nope.Retriever", kwargs: {} } },
        1,
      ),
    ).toThrow(/No TokenRetriever registered for classpath "nope.Retriever".*registerTokenRetriever/);
    expect(() => GrpcChannelArgs.deserialize({ target: "a:1", auth: { type: "kerberos" } }, 1)).toThrow(
      /Unknown auth type "kerberos"/,
    );
  });

  it("reads env secrets where the client runs and names a missing variable", async () => {
    const auth = BearerTokenAuth.fromEnv("ARMADA_TEST_TOKEN_UNSET");
    await expect(auth.getRequestMetadata({ serviceUrl: "", methodName: "" })).rejects.toThrow(
      /ARMADA_TEST_TOKEN_UNSET is not set/,
    );
    process.env.ARMADA_TEST_TOKEN_SET = "abc-123";
    await expect(
      BearerTokenAuth.fromEnv("ARMADA_TEST_TOKEN_SET").getRequestMetadata({ serviceUrl: "", methodName: "" }),
    ).resolves.toEqual({
      authorization: "Bearer abc-123",
    });
    delete process.env.ARMADA_TEST_TOKEN_SET;
    expect(await new BasicAuth("bob", "pw").getRequestMetadata({ serviceUrl: "", methodName: "" })).toEqual({
      authorization: `Basic ${Buffer.from("bob:pw").toString("base64")}`,
    });
  });
});
