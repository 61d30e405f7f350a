import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { ErrorCode } from "../common/error-code.js";
import { inspect } from "node:util";
import {
  type ArmadaAuth,
  type AuthCallContext,
  type SerializedAuth,
  registerAuthType,
} from "./armada-auth.js";
import { type TokenRetriever, createTokenRetriever, isTokenRetriever } from "./token-retriever.js";
import { maskSecret } from "../common/secrets-masker.js";

/**
 * Bearer tokens from a {@link TokenRetriever}, asked for each call, so a
 * retriever that refreshes its token is picked up at once. Serializable when
 * the retriever serializes itself and is registered with
 * `registerTokenRetriever`.
 */
export class TokenRetrieverAuth implements ArmadaAuth {
  /** The retriever asked for each call's token. */
  readonly retriever: TokenRetriever;

  constructor(retriever: TokenRetriever) {
    if (!isTokenRetriever(retriever)) {
      throw new ArmadaAirflowError(
        ErrorCode.InvalidArgument,
        "TokenRetrieverAuth needs an object with a getToken() method",
      );
    }
    this.retriever = retriever;
  }

  async getRequestMetadata(_call: AuthCallContext): Promise<Record<string, string>> {
    let token: unknown;
    try {
      token = await this.retriever.getToken();
    } catch (e) {
      // The retriever's own message is kept (it explains what failed); it is the retriever's job not to put a token in it.
      throw new ArmadaAirflowError(
        ErrorCode.Unauthenticated,
        `TokenRetriever.getToken() failed: ${e instanceof Error ? e.message : String(e)}`,
        {
          cause: e,
        },
      );
    }
    if (typeof token !== "string" || token.length === 0) {
      throw new ArmadaAirflowError(
        ErrorCode.Unauthenticated,
        `TokenRetriever.getToken() must return a non-empty string, got ${typeof token}`,
      );
    }
    maskSecret(token);
    return { authorization: `Bearer ${token}` };
  }

  serialize(): SerializedAuth {
    const s = this.retriever.serialize?.();
    if (!s) return { type: "token-retriever", secretNotSerialized: true };
    const [classpath, kwargs] = s;
    return { type: "token-retriever", classpath, kwargs };
  }

  equals(other: ArmadaAuth): boolean {
    if (!(other instanceof TokenRetrieverAuth)) return false;
    if (other.retriever === this.retriever) return true;
    const a = this.retriever.serialize?.();
    const b = other.retriever.serialize?.();
    return a !== undefined && b !== undefined && JSON.stringify(a) === JSON.stringify(b);
  }

  toJSON(): SerializedAuth {
    return this.serialize();
  }

  [inspect.custom](): string {
    const s = this.retriever.serialize?.();
    return `TokenRetrieverAuth(${s ? s[0] : "unserializable retriever"})`;
  }
}

registerAuthType("token-retriever", (d) => {
  if (typeof d.classpath !== "string") {
    throw new ArmadaAirflowError(
      ErrorCode.Serde,
      "Cannot restore TokenRetrieverAuth from serialized channel args: its retriever has no serialize() method, so it was not written out. " +
        "Give the retriever a serialize() returning [classpath, kwargs] and register it with registerTokenRetriever(classpath, factory).",
    );
  }
  const kwargs = (typeof d.kwargs === "object" && d.kwargs !== null ? d.kwargs : {}) as Record<
    string,
    unknown
  >;
  return new TokenRetrieverAuth(createTokenRetriever(d.classpath, kwargs));
});
