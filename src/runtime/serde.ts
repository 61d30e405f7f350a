import { RuntimeError } from "./errors.js";
import { redactSecrets } from "./secrets-masker.js";

/** How one class is turned into JSON data and back. */
export interface Serializer<T> {
  /** The data to store (JSON-able; may contain other registered values). */
  serialize(obj: T): unknown;
  /** Rebuilds the object from stored `data` written by `version` of the serializer. */
  deserialize(data: unknown, version: number): T;
  /** True for objects this serializer handles (use a brand, not `instanceof`). */
  is(obj: unknown): boolean;
}

interface Registered {
  classname: string;
  version: number;
  serializer: Serializer<unknown>;
}

const REGISTRY_KEY = Symbol.for("armada-airflow.serde-registry");
// One registry per process, shared by every module copy (src/ and dist/).
const registry: Map<string, Registered> = ((globalThis as Record<symbol, unknown>)[REGISTRY_KEY] ??= new Map<
  string,
  Registered
>()) as Map<string, Registered>;

/** Airflow's envelope keys. */
export const CLASSNAME = "__classname__";
export const VERSION = "__version__";
export const DATA = "__data__";

/**
 * Registers a class for XCom: values it recognises are stored as
 * `{"__classname__": classname, "__version__": version, "__data__": data}`, as
 * Airflow's serde writes them. Registering the same classname again replaces it.
 */
export function registerSerializable<T>(classname: string, version: number, serializer: Serializer<T>): void {
  if (!Number.isInteger(version) || version < 1) {
    throw new RuntimeError("invalid_argument", `serializer version for ${classname} must be an integer >= 1`);
  }
  registry.set(classname, { classname, version, serializer: serializer as Serializer<unknown> });
}

const DATE_CLASSNAME = "pendulum.datetime.DateTime";

function toJsonable(value: unknown, where: string): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") return redactSecrets(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value))
      throw new RuntimeError("serde", `${where}: cannot store non-finite number ${value}`);
    return value;
  }
  if (typeof value === "boolean") return value;
  if (typeof value === "bigint") {
    // JSON has no integers beyond 2^53; a string would come back as another type.
    throw new RuntimeError(
      "serde",
      `${where}: cannot store the BigInt ${value}n (XCom values are JSON); return Number(x) when it is at most ` +
        `${Number.MAX_SAFE_INTEGER}, or String(x) and parse it where it is read`,
    );
  }
  if (value instanceof Date || Object.prototype.toString.call(value) === "[object Date]") {
    return {
      [CLASSNAME]: DATE_CLASSNAME,
      [VERSION]: 2,
      [DATA]: { timestamp: (value as Date).getTime() / 1000, tz: "UTC" },
    };
  }
  for (const r of registry.values()) {
    if (r.serializer.is(value)) {
      return {
        [CLASSNAME]: r.classname,
        [VERSION]: r.version,
        [DATA]: toJsonable(r.serializer.serialize(value), `${where}<${r.classname}>`),
      };
    }
  }
  if (Array.isArray(value)) return value.map((v, i) => toJsonable(v, `${where}[${i}]`));
  if (typeof value === "object") {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      const name = (value as object).constructor?.name ?? "object";
      throw new RuntimeError(
        "serde",
        `${where}: cannot store an instance of ${name}; register it with registerSerializable(classname, version, serializer)`,
      );
    }
    // fromEntries keeps a "__proto__" key as data; assignment would set the prototype.
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [k, toJsonable(v, `${where}.${k}`)]),
    );
  }
  throw new RuntimeError("serde", `${where}: cannot store a value of type ${typeof value}`);
}

/** JSON text for `value` with registered classes in Airflow's envelope; registered secrets redacted. */
export function serializeValue(value: unknown, where = "value"): string {
  return JSON.stringify(toJsonable(value, where));
}

function fromJsonable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(fromJsonable);
  if (value === null || typeof value !== "object") return value;
  const obj = value as Record<string, unknown>;
  if (typeof obj[CLASSNAME] === "string" && VERSION in obj && DATA in obj) {
    const classname = obj[CLASSNAME];
    const version = Number(obj[VERSION]);
    if (classname === DATE_CLASSNAME) {
      return new Date(Number((obj[DATA] as { timestamp: number }).timestamp) * 1000);
    }
    const r = registry.get(classname);
    if (!r) {
      throw new RuntimeError(
        "serde",
        `stored value has class ${classname}, which is not registered in this process; import the module that registers it`,
      );
    }
    if (version > r.version) {
      throw new RuntimeError(
        "serde",
        `stored ${classname} has version ${version}, newer than the registered version ${r.version}; upgrade the code`,
      );
    }
    return r.serializer.deserialize(fromJsonable(obj[DATA]), version);
  }
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, fromJsonable(v)]));
}

/** The value stored by {@link serializeValue}, with registered classes rebuilt. */
export function deserializeValue(text: string): unknown {
  return fromJsonable(JSON.parse(text));
}
