/**
 * Options of the dev server, with their defaults, validated once at start so a
 * mistake is reported with the field's name and the fix.
 */
import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { ErrorCode } from "../common/error-code.js";
import { status } from "@grpc/grpc-js";
import { z } from "zod";
import { systemClock, type Clock } from "../common/clock.js";
import type { DevAuthOptions } from "./auth.js";
import { methodName, type GrpcMethodName } from "./faults.js";
import { DEFAULT_GLOBAL_MAX_RETRIES, DEFAULT_TIMING, type LifecycleTiming } from "./dev-armada.js";
import { parseQuantity } from "./quantity.js";
import type { ClusterConfig } from "./scheduler.js";
import { DEFAULT_NAMESPACES } from "./cluster-objects.js";
import {
  mergeFailureCategories,
  parseFailureCategoryRule,
  type FailureCategory,
} from "./failure-categories.js";
import { DEFAULT_PRIORITY_CLASSES } from "./submit-refusals.js";

/** TLS for the gRPC port (PEM files). With `caFile`, clients must present a certificate signed by it (mTLS). */
export interface DevTlsOptions {
  certFile: string;
  keyFile: string;
  caFile?: string;
}

/** Options of {@link startDevServer}. */
export interface DevServerOptions {
  /** Address to bind. @default "127.0.0.1" */
  host?: string;
  /** gRPC port; 0 picks a free one. @default 0 (the CLI uses 50051) */
  grpcPort?: number;
  /** HTTP port for Lookout pages and the Kubernetes pod-log API; 0 picks a free one. @default 0 (the CLI uses 8089) */
  httpPort?: number;
  /** Time source; tests pass a ManualClock. @default systemClock */
  clock?: Clock;
  /** The query API answers UNKNOWN for a job until this long after its submission. @default 0 */
  ingestionDelayMs?: number;
  /** `simulate` pods, or run their commands as local `process`es. @default "simulate" */
  executor?: "simulate" | "process";
  /** Clusters and their nodes. @default cluster-1 and cluster-2, each with two nodes of 8 CPU and 32Gi */
  clusters?: ClusterConfig[];
  /** Queues created at start. @default ["default"] */
  queues?: string[];
  /** Credentials gRPC calls must carry. @default none (no auth) */
  auth?: DevAuthOptions;
  /** TLS for gRPC. @default plaintext */
  tls?: DevTlsOptions;
  /** SQLite file that keeps state across restarts. @default in memory only */
  statePath?: string;
  /** Bearer token of the pod-log API (written into the kubeconfig). @default a random token */
  kubeToken?: string;
  /** Run time of a simulated job that neither sleeps nor has a duration annotation. @default 1000 */
  defaultRunMs?: number;
  /** Delays between lifecycle steps. @default see {@link DEFAULT_TIMING} */
  timing?: Partial<LifecycleTiming>;
  /** Faults active from the start (the same as calling {@link FaultInjector} methods). @default none */
  faults?: DevFaultOptions;
  /** Namespaces that exist; a job in any other fails with `namespaces "x" not found`. @default ["default", "personal-anonymous"] */
  namespaces?: string[];
  /** Glob patterns (`*`, `?`) of images that can be pulled; others fail as ImagePullBackOff. @default [] (every image) */
  images?: string[];
  /** Priority classes a pod spec may name; others refuse the submit. @default ["armada-default", "armada-preemptible"] */
  priorityClasses?: string[];
  /**
   * Failure categories tried before the built-in `oom` and `user_error`: objects, or
   * `NAME[/SUBCATEGORY]=exit-code:1,2 | condition:OOMKilled | message:REGEX` strings as `--failure-category` takes.
   * @default []
   */
  failureCategories?: (string | FailureCategory)[];
  /**
   * Cap on retries per job across every retry policy, as Armada's `scheduling.retryPolicy.globalMaxRetries`;
   * 0 turns every retry off. @default 5
   */
  globalMaxRetries?: number;
}

/** Faults configured at start. */
export interface DevFaultOptions {
  /** Each entry: the next `n` calls of `method` fail with gRPC status `code` (a number or a name like "UNAVAILABLE"). */
  failNext?: { method: string; n: number; code: number | string; message?: string }[];
  /** Latency per method (short name), in clock milliseconds. */
  latency?: Record<string, number>;
  /** The first event stream ends with UNAVAILABLE after this many messages. */
  dropEventStreamAfter?: number;
}

/** Options after defaults are applied. */
export type ResolvedDevServerOptions = Required<
  Omit<
    DevServerOptions,
    "auth" | "tls" | "statePath" | "kubeToken" | "timing" | "faults" | "failureCategories"
  >
> &
  Pick<DevServerOptions, "auth" | "tls" | "statePath" | "kubeToken"> & {
    timing: LifecycleTiming;
    failureCategories: FailureCategory[];
    faults: {
      failNext: { method: GrpcMethodName; n: number; code: status; message?: string }[];
      latency: [GrpcMethodName, number][];
      dropEventStreamAfter?: number;
    };
  };

/** The default clusters: two, so `cluster` in run details means something. */
export const DEFAULT_CLUSTERS: ClusterConfig[] = [1, 2].map((c) => ({
  id: `cluster-${c}`,
  nodes: [1, 2].map((n) => ({ name: `cluster-${c}-node-${n}`, cpu: "8", memory: "32Gi" })),
}));

const quantity = z.string().refine(
  (s) => {
    try {
      return parseQuantity(s) > 0;
    } catch {
      return false;
    }
  },
  { message: 'must be a positive Kubernetes quantity such as "8", "500m" or "32Gi"' },
);
const port = z.number().int().min(0).max(65535);
const grpcMethod = z.string().transform((v, ctx) => {
  try {
    return methodName(v);
  } catch (err) {
    ctx.addIssue({ code: "custom", message: (err as Error).message });
    return z.NEVER;
  }
});
const ms = z.number().finite().min(0);
const dnsLabel = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "must be a lowercase RFC 1123 label such as team-a")
  .max(63);

const schema = z.object({
  host: z.string().min(1).optional(),
  grpcPort: port.optional(),
  httpPort: port.optional(),
  clock: z
    .custom<Clock>((v) => typeof (v as Clock)?.nowMs === "function", { message: "must be a Clock" })
    .optional(),
  ingestionDelayMs: ms.optional(),
  executor: z.enum(["simulate", "process"]).optional(),
  clusters: z
    .array(
      z.object({
        id: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "must be a lowercase name like cluster-1"),
        nodes: z
          .array(
            z.object({
              name: z.string().min(1),
              cpu: quantity,
              memory: quantity,
              labels: z.record(z.string(), z.string()).optional(),
              gpus: z.number().int().min(0).optional(),
            }),
          )
          .min(1),
      }),
    )
    .min(1)
    .optional(),
  queues: z.array(z.string().min(1)).optional(),
  auth: z
    .object({
      bearerTokens: z.array(z.string().min(1)).optional(),
      basic: z.array(z.object({ username: z.string().min(1), password: z.string() })).optional(),
    })
    .optional(),
  tls: z
    .object({ certFile: z.string().min(1), keyFile: z.string().min(1), caFile: z.string().min(1).optional() })
    .optional(),
  statePath: z.string().min(1).optional(),
  kubeToken: z.string().min(1).optional(),
  defaultRunMs: ms.optional(),
  timing: z
    .object({ scheduleDelayMs: ms, pendingDelayMs: ms, startDelayMs: ms, podRetentionMs: ms })
    .partial()
    .optional(),
  faults: z
    .object({
      failNext: z
        .array(
          z.object({
            method: grpcMethod,
            n: z.number().int().min(1),
            code: z.union([z.number().int().min(1).max(16), z.string()]).transform((v, ctx) => {
              const code =
                typeof v === "number" ? v : (status as unknown as Record<string, number>)[v.toUpperCase()];
              if (code === undefined || code === 0) {
                ctx.addIssue({
                  code: "custom",
                  message: `"${v}" is not a gRPC error status (e.g. UNAVAILABLE or 14)`,
                });
                return z.NEVER;
              }
              return code as status;
            }),
            message: z.string().optional(),
          }),
        )
        .optional(),
      latency: z.record(z.string(), ms).optional(),
      dropEventStreamAfter: z.number().int().min(0).optional(),
    })
    .optional(),
  namespaces: z.array(dnsLabel).min(1).optional(),
  images: z
    .array(z.string().min(1, "must be a non-empty image pattern such as busybox:* or python:3.*"))
    .optional(),
  priorityClasses: z.array(z.string().min(1)).optional(),
  globalMaxRetries: z.number().int().min(0).optional(),
  failureCategories: z
    .array(
      z.unknown().transform((v, ctx): FailureCategory => {
        if (typeof v === "string") {
          try {
            return parseFailureCategoryRule(v);
          } catch (err) {
            ctx.addIssue({ code: "custom", message: (err as Error).message });
            return z.NEVER;
          }
        }
        const c = v as FailureCategory;
        if (typeof c?.name === "string" && Array.isArray(c.rules)) return c;
        ctx.addIssue({
          code: "custom",
          message: "must be a rule string (NAME=KIND:VALUE) or { name, rules: [...] }",
        });
        return z.NEVER;
      }),
    )
    .optional(),
});

/** Validates options and applies defaults; throws an Error naming each bad field. */
export function resolveDevServerOptions(options: DevServerOptions = {}): ResolvedDevServerOptions {
  const parsed = schema.safeParse(options);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "options"}: ${i.message}`);
    throw new ArmadaAirflowError(
      ErrorCode.InvalidArgument,
      `Invalid dev server options: ${problems.join("; ")}`,
    );
  }
  const o = parsed.data;
  const clusters = (o.clusters as ClusterConfig[] | undefined) ?? DEFAULT_CLUSTERS;
  const ids = clusters.map((c) => c.id);
  const dup = ids.find((id, i) => ids.indexOf(id) !== i);
  if (dup)
    throw new ArmadaAirflowError(
      ErrorCode.InvalidArgument,
      `Invalid dev server options: clusters: cluster id "${dup}" is used twice`,
    );
  return {
    host: o.host ?? "127.0.0.1",
    grpcPort: o.grpcPort ?? 0,
    httpPort: o.httpPort ?? 0,
    clock: options.clock ?? systemClock,
    ingestionDelayMs: o.ingestionDelayMs ?? 0,
    executor: o.executor ?? "simulate",
    clusters,
    queues: o.queues ?? ["default"],
    auth: o.auth,
    tls: o.tls,
    statePath: o.statePath,
    kubeToken: o.kubeToken,
    defaultRunMs: o.defaultRunMs ?? 1000,
    timing: { ...DEFAULT_TIMING, ...o.timing },
    namespaces: o.namespaces ?? [...DEFAULT_NAMESPACES],
    images: o.images ?? [],
    priorityClasses: o.priorityClasses ?? [...DEFAULT_PRIORITY_CLASSES],
    failureCategories: mergeFailureCategories(o.failureCategories ?? []),
    globalMaxRetries: o.globalMaxRetries ?? DEFAULT_GLOBAL_MAX_RETRIES,
    faults: {
      failNext: o.faults?.failNext ?? [],
      latency: Object.entries(o.faults?.latency ?? {}).map(([m, v]) => {
        try {
          return [methodName(m), v] as [GrpcMethodName, number];
        } catch (err) {
          throw new ArmadaAirflowError(
            ErrorCode.InvalidArgument,
            `Invalid dev server options: faults.latency.${m}: ${(err as Error).message}`,
            {
              cause: err,
            },
          );
        }
      }),
      dropEventStreamAfter: o.faults?.dropEventStreamAfter,
    },
  };
}
