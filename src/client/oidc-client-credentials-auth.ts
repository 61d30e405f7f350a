import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { ErrorCode } from "../common/error-code.js";
import { inspect } from "node:util";
import { type Clock, systemClock } from "../common/clock.js";
import {
  type ArmadaAuth,
  type AuthCallContext,
  type SerializedAuth,
  literalSecretNotRestorable,
  registerAuthType,
} from "./armada-auth.js";
import { SecretSource } from "./secret-source.js";
import { maskSecret } from "../common/secrets-masker.js";

/** Options of {@link OidcClientCredentialsAuth}. */
export interface OidcClientCredentialsOptions {
  /** The provider's token endpoint, e.g. `https://keycloak/realms/x/protocol/openid-connect/token`. */
  tokenUrl: string;
  /** OAuth2 client id. */
  clientId: string;
  /** Client secret as a value (kept in memory only, never serialized). Give this or `clientSecretEnv`. */
  clientSecret?: string;
  /** Environment variable holding the client secret (serialized by name). */
  clientSecretEnv?: string;
  /** Scopes to request. @default [] */
  scopes?: string[];
  /** How the client authenticates to the token endpoint. @default "client_secret_basic" */
  clientAuthMethod?: "client_secret_basic" | "client_secret_post";
  /** Refresh this long before the token expires. @default 60_000 (capped at half the token's lifetime) */
  refreshBeforeExpiryMs?: number;
  /** Time source for expiry. @default systemClock */
  clock?: Clock;
  /** Timeout of one token request. @default 10_000 */
  requestTimeoutMs?: number;
}

interface CachedToken {
  token: string;
  refreshAtMs: number;
}

/**
 * OAuth2 client-credentials flow (OIDC): fetches an access token from
 * `tokenUrl`, caches it, and fetches a new one shortly before it expires.
 * Concurrent calls share one token request.
 */
export class OidcClientCredentialsAuth implements ArmadaAuth {
  /** Token endpoint. */
  readonly tokenUrl: string;
  /** OAuth2 client id. */
  readonly clientId: string;
  /** Requested scopes. */
  readonly scopes: readonly string[];
  /** Client authentication method at the token endpoint. */
  readonly clientAuthMethod: "client_secret_basic" | "client_secret_post";
  readonly #secret: SecretSource;
  readonly #clock: Clock;
  readonly #refreshBeforeMs: number;
  readonly #timeoutMs: number;
  #cached: CachedToken | undefined;
  #inflight: Promise<string> | undefined;
  #tokenRequests = 0;

  constructor(opts: OidcClientCredentialsOptions) {
    let url: URL;
    try {
      url = new URL(opts.tokenUrl);
    } catch {
      throw new ArmadaAirflowError(
        ErrorCode.InvalidArgument,
        `OidcClientCredentialsAuth.tokenUrl ${JSON.stringify(opts.tokenUrl)} is not a URL; give the provider's token endpoint, e.g. https://idp.example.com/oauth2/token`,
      );
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw new ArmadaAirflowError(
        ErrorCode.InvalidArgument,
        `OidcClientCredentialsAuth.tokenUrl must be http(s), got ${url.protocol}`,
      );
    }
    if (typeof opts.clientId !== "string" || opts.clientId.length === 0) {
      throw new ArmadaAirflowError(
        ErrorCode.InvalidArgument,
        "OidcClientCredentialsAuth.clientId must be a non-empty string",
      );
    }
    if ((opts.clientSecret === undefined) === (opts.clientSecretEnv === undefined)) {
      throw new ArmadaAirflowError(
        ErrorCode.InvalidArgument,
        "OidcClientCredentialsAuth needs exactly one of clientSecret or clientSecretEnv (prefer clientSecretEnv: it can be serialized)",
      );
    }
    this.tokenUrl = opts.tokenUrl;
    this.clientId = opts.clientId;
    this.scopes = Object.freeze([...(opts.scopes ?? [])]);
    this.clientAuthMethod = opts.clientAuthMethod ?? "client_secret_basic";
    this.#secret =
      opts.clientSecretEnv !== undefined
        ? SecretSource.env(opts.clientSecretEnv, "OidcClientCredentialsAuth.clientSecretEnv")
        : SecretSource.literal(opts.clientSecret, "OidcClientCredentialsAuth clientSecret");
    this.#clock = opts.clock ?? systemClock;
    this.#refreshBeforeMs = opts.refreshBeforeExpiryMs ?? 60_000;
    this.#timeoutMs = opts.requestTimeoutMs ?? 10_000;
  }

  /** How many token requests were made so far (to observe caching). */
  get tokenRequests(): number {
    return this.#tokenRequests;
  }

  async getRequestMetadata(_call: AuthCallContext): Promise<Record<string, string>> {
    return { authorization: `Bearer ${await this.getAccessToken()}` };
  }

  /** The cached access token, fetching a new one when it is missing or about to expire. */
  async getAccessToken(): Promise<string> {
    const c = this.#cached;
    if (c && this.#clock.nowMs() < c.refreshAtMs) return c.token;
    this.#inflight ??= this.#fetchToken().finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  async #fetchToken(): Promise<string> {
    const secret = this.#secret.reveal("OidcClientCredentialsAuth client secret");
    const body = new URLSearchParams({ grant_type: "client_credentials" });
    if (this.scopes.length > 0) body.set("scope", this.scopes.join(" "));
    const headers: Record<string, string> = {
      "content-type": "application/x-www-form-urlencoded",
      accept: "application/json",
    };
    if (this.clientAuthMethod === "client_secret_basic") {
      const enc = (s: string) => encodeURIComponent(s);
      const credential = Buffer.from(`${enc(this.clientId)}:${enc(secret)}`).toString("base64");
      maskSecret(credential);
      headers.authorization = `Basic ${credential}`;
    } else {
      body.set("client_id", this.clientId);
      body.set("client_secret", secret);
    }
    this.#tokenRequests++;
    const started = this.#clock.nowMs();
    let res: Response;
    try {
      res = await fetch(this.tokenUrl, {
        method: "POST",
        headers,
        body,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (e) {
      throw new ArmadaAirflowError(
        ErrorCode.Unavailable,
        `OIDC token request to ${this.tokenUrl} failed: ${e instanceof Error ? e.message : String(e)}`,
        { cause: e },
      );
    }
    const text = await res.text();
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // handled below: a non-JSON answer is reported by status
    }
    if (!res.ok) {
      // Only the standard error fields are echoed; the body could hold anything.
      const err =
        typeof json.error === "string"
          ? ` (${json.error}${typeof json.error_description === "string" ? `: ${json.error_description}` : ""})`
          : "";
      throw new ArmadaAirflowError(
        ErrorCode.Unauthenticated,
        `OIDC token endpoint ${this.tokenUrl} answered HTTP ${res.status}${err}; check clientId "${this.clientId}", the client secret and the scopes.`,
      );
    }
    const token = json.access_token;
    if (typeof token !== "string" || token.length === 0) {
      throw new ArmadaAirflowError(
        ErrorCode.Unauthenticated,
        `OIDC token endpoint ${this.tokenUrl} answered without an access_token`,
      );
    }
    // The access token is a credential too: mask it wherever it might be printed.
    maskSecret(token);
    const expiresInS = typeof json.expires_in === "number" ? json.expires_in : Number(json.expires_in ?? NaN);
    const lifetimeMs = Number.isFinite(expiresInS) && expiresInS > 0 ? expiresInS * 1000 : 300_000;
    const margin = Math.min(this.#refreshBeforeMs, lifetimeMs / 2);
    this.#cached = { token, refreshAtMs: started + lifetimeMs - margin };
    return token;
  }

  serialize(): SerializedAuth {
    return {
      type: "oidc-client-credentials",
      tokenUrl: this.tokenUrl,
      clientId: this.clientId,
      scopes: [...this.scopes],
      clientAuthMethod: this.clientAuthMethod,
      ...this.#secret.serializeAs("clientSecretEnv"),
    };
  }

  equals(other: ArmadaAuth): boolean {
    return (
      other instanceof OidcClientCredentialsAuth &&
      JSON.stringify(other.serialize()) === JSON.stringify(this.serialize()) &&
      this.#secret.equals(other.#secret)
    );
  }

  toJSON(): SerializedAuth {
    return this.serialize();
  }

  [inspect.custom](): string {
    return `OidcClientCredentialsAuth(${this.clientId} @ ${this.tokenUrl})`;
  }
}

registerAuthType("oidc-client-credentials", (d) => {
  if (typeof d.clientSecretEnv !== "string")
    throw literalSecretNotRestorable(
      "OidcClientCredentialsAuth",
      "client secret",
      'clientSecretEnv: "ENV_VAR_NAME"',
    );
  return new OidcClientCredentialsAuth({
    tokenUrl: d.tokenUrl as string,
    clientId: d.clientId as string,
    clientSecretEnv: d.clientSecretEnv,
    scopes: Array.isArray(d.scopes) ? (d.scopes as string[]) : [],
    clientAuthMethod: d.clientAuthMethod as OidcClientCredentialsOptions["clientAuthMethod"],
  });
});
