import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { ErrorCode } from "../common/error-code.js";
/**
 * A source of bearer tokens that can refresh them. Serializable when it says
 * how to rebuild itself: a registered classpath plus keyword arguments (which
 * must hold no secret; point at files or environment variables instead).
 */
export interface TokenRetriever {
  /** The current token. Called for each call; cache inside if fetching is costly. */
  getToken(): string | Promise<string>;
  /** `[classpath, kwargs]` for {@link registerTokenRetriever}'s factory; absent when not serializable. */
  serialize?(): [classpath: string, kwargs: Record<string, unknown>];
}

/** Builds a retriever from the kwargs it serialized. */
export type TokenRetrieverFactory = (kwargs: Record<string, unknown>) => TokenRetriever;

const retrievers = new Map<string, TokenRetrieverFactory>();

/**
 * Registers how to rebuild retrievers that serialize as `classpath`, so
 * channel args (for example in a deferred task) can be restored elsewhere.
 */
export function registerTokenRetriever(classpath: string, factory: TokenRetrieverFactory): void {
  if (typeof classpath !== "string" || classpath.length === 0) {
    throw new ArmadaAirflowError(
      ErrorCode.InvalidArgument,
      "registerTokenRetriever: classpath must be a non-empty string",
    );
  }
  retrievers.set(classpath, factory);
}

/** Rebuilds a retriever registered under `classpath`; throws naming it when unregistered. */
export function createTokenRetriever(classpath: string, kwargs: Record<string, unknown>): TokenRetriever {
  const f = retrievers.get(classpath);
  if (!f) {
    throw new ArmadaAirflowError(
      ErrorCode.Serde,
      `No TokenRetriever registered for classpath "${classpath}". Call registerTokenRetriever("${classpath}", (kwargs) => new YourRetriever(kwargs)) ` +
        `in the process that deserializes the channel args (e.g. at the top of the DAG file).`,
    );
  }
  return f(kwargs);
}

/** Whether a value has the TokenRetriever shape. */
export function isTokenRetriever(v: unknown): v is TokenRetriever {
  return typeof v === "object" && v !== null && typeof (v as TokenRetriever).getToken === "function";
}
