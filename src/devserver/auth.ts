/**
 * Optional authentication of gRPC calls, as a real Armada configures it:
 * bearer tokens (OIDC-like) and/or basic username/password.
 */
import { timingSafeEqual } from "node:crypto";

/** Accepted credentials. No auth when neither is given. */
export interface DevAuthOptions {
  bearerTokens?: string[];
  basic?: { username: string; password: string }[];
}

/** Result of checking an `authorization` header value. */
export type AuthResult = { ok: true; principal: string } | { ok: false; message: string };

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Checks credentials; the message never echoes the secret that was sent. */
export function checkAuthorization(auth: DevAuthOptions | undefined, header: string | undefined): AuthResult {
  const tokens = auth?.bearerTokens ?? [];
  const basic = auth?.basic ?? [];
  if (tokens.length === 0 && basic.length === 0) return { ok: true, principal: "anonymous" };
  if (!header)
    return {
      ok: false,
      message: "request has no authorization metadata; send a bearer token or basic credentials",
    };
  const [scheme, value = ""] = header.split(/\s+/, 2);
  if (/^bearer$/i.test(scheme)) {
    const i = tokens.findIndex((t) => same(t, value));
    return i >= 0
      ? { ok: true, principal: `token-${i + 1}` }
      : { ok: false, message: "the bearer token is not valid" };
  }
  if (/^basic$/i.test(scheme)) {
    const decoded = Buffer.from(value, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    const user = colon >= 0 ? decoded.slice(0, colon) : decoded;
    const password = colon >= 0 ? decoded.slice(colon + 1) : "";
    const match = basic.find((b) => same(b.username, user) && same(b.password, password));
    return match
      ? { ok: true, principal: match.username }
      : { ok: false, message: "the username or password is not valid" };
  }
  return { ok: false, message: `unsupported authorization scheme "${scheme}"; use Bearer or Basic` };
}
