import { describe, expect, it } from "vitest";
import { BasicAuth } from "../../src/client/basic-auth.js";
import { BearerTokenAuth } from "../../src/client/bearer-token-auth.js";
import { GrpcChannelArgs } from "../../src/client/channel-args.js";
import { ChannelConfigError, checkChannelArgs } from "../../src/client/channel-preflight.js";

const fail = (fn: () => void): ChannelConfigError => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ChannelConfigError);
    return e as ChannelConfigError;
  }
  throw new Error("expected a ChannelConfigError");
};

describe("checkChannelArgs", () => {
  it("passes plaintext channels and set variables", () => {
    expect(() => checkChannelArgs(new GrpcChannelArgs({ target: "127.0.0.1:1" }))).not.toThrow();
    const args = new GrpcChannelArgs({ target: "a:1", auth: BearerTokenAuth.fromEnv("T") });
    expect(() => checkChannelArgs(args, { T: "tok" })).not.toThrow();
  });

  it("names an unreadable TLS file and its path", () => {
    const e = fail(() =>
      checkChannelArgs(new GrpcChannelArgs({ target: "a:1", tls: { caFile: "/nope/ca.pem" } })),
    );
    expect(e.field).toBe("channelArgs.tls.caFile");
    expect(e.message).toMatch(/\/nope\/ca.pem.*ENOENT/);
    const m = fail(() =>
      checkChannelArgs(
        new GrpcChannelArgs({ target: "a:1", tls: { certFile: "/nope/c.pem", keyFile: "/nope/k.pem" } }),
      ),
    );
    expect(m.field).toMatch(/^channelArgs\.tls\.(keyFile|certFile)$/);
  });

  it("names an unset or empty credential variable, for bearer and basic auth", () => {
    const bearer = new GrpcChannelArgs({ target: "a:1", auth: BearerTokenAuth.fromEnv("MISSING_T") });
    expect(fail(() => checkChannelArgs(bearer, {})).message).toMatch(
      /^channelArgs\.auth\.tokenEnv: environment variable MISSING_T is not set/,
    );
    expect(fail(() => checkChannelArgs(bearer, { MISSING_T: "" })).field).toBe("channelArgs.auth.tokenEnv");
    const basic = new GrpcChannelArgs({ target: "a:1", auth: BasicAuth.fromEnv("alice", "MISSING_PW") });
    expect(fail(() => checkChannelArgs(basic, {})).field).toBe("channelArgs.auth.passwordEnv");
  });
});
