/**
 * ArmadaOperator: runs one Armada job as a task. Submits it (or reattaches
 * to the job an earlier try submitted), follows it to a final state while
 * publishing its container logs, and turns that state into the task's
 * outcome. Waits by sleeping, or by deferring to a trigger so the worker is
 * free while the job runs.
 */
import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { ErrorCode } from "../common/error-code.js";
import { createHash } from "node:crypto";
import type { KubeConfig } from "@kubernetes/client-node";
import { systemClock, type Clock } from "../common/clock.js";
import { crashPoint } from "../common/crash-point.js";
import { ArmadaError } from "../client/armada-error.js";
import { GrpcChannelArgs, type GrpcChannelArgsInit } from "../client/channel-args.js";
import { checkChannelArgs, ChannelConfigError } from "../client/channel-preflight.js";
import type { TokenRetriever } from "../client/token-retriever.js";
import { qualifiedNameProblem, validateSubmitItem } from "../client/submit-validation.js";
import type { JobSubmitRequestItem } from "../gen/armada/submit.js";
import { BaseOperator, type BaseOperatorOptions, type OperatorLink } from "../runtime/base-operator.js";
import {
  currentRuntimeConfig,
  type ArmadaOperatorConfig,
  type RuntimeConfig,
} from "../runtime/runtime-config.js";
import { tryGetCurrentContext, type Context, type TaskInstance } from "../runtime/context.js";
import type { TemplateEnv } from "../runtime/template.js";
import { defaultTemplateEnv } from "../runtime/template.js";
import {
  ArmadaOperatorInputError,
  ArmadaOperatorJobFailedError,
  ArmadaOperatorJobFailedFatalError,
} from "./errors.js";
import { ArmadaHook, configuredHookOptions, liveJobsByExternalJobUri, type ArmadaHookApi } from "./hook.js";
import { ArmadaConnectionPool } from "./connection-pool.js";
import type { JobEventSubscription } from "./job-set-watch.js";
import { maxEventStreams, resolveTracking, type ArmadaTracking } from "./tracking.js";
import {
  containerNames,
  jobRequestFromJson,
  jobRequestToJson,
  normalizeRenderedJobRequest,
  renderJobRequestJson,
  type JobRequest,
  type JobRequestFactory,
  type JobRequestJson,
} from "./job-request.js";
import { isTerminalJobState, JobState, jobStateName } from "../client/job-states.js";
import {
  jobDetailsSuffix,
  linkXComKey,
  lookoutUrl,
  LOOKOUT_URL_XCOM_KEY,
  UrlFromLogsExtractor,
  type ExtraLinks,
} from "./links.js";
import { firstTimeThisTry } from "./once-per-try.js";
import { armadaPodName, KubernetesPodLogManager } from "./pod-log-manager.js";
import { ArmadaPollJobTrigger, type ArmadaJobWatch } from "./poll-job-trigger.js";
import {
  externalJobUri,
  resolveReattachPolicy,
  type ReattachPolicy,
  type ReattachPolicyFunction,
} from "./reattach-policy.js";
import { RunningJobContext } from "./running-job-context.js";
import { resultLinks, type ArmadaOperatorResult } from "./job-success-end.js";
import { jobWatchFor, WAITING_FOR_CAPACITY, type JobWatchPlan } from "./job-watch-plan.js";
import { ArmadaSubmitJobTrigger, type SubmitFailedEvent } from "./submit-job-trigger.js";

/** XCom keys the operator writes. */
export const XCOM_KEYS = {
  jobRequest: "job_request",
  jobContext: "job_context",
  channelArgs: "channel_args",
  lookoutUrl: LOOKOUT_URL_XCOM_KEY,
} as const;

/** The default annotation key prefix (env `ANNOTATION_KEY_PREFIX`, config `armada_operator.annotation_key_prefix`, overrides it). */
export const DEFAULT_ANNOTATION_KEY_PREFIX = "armadaproject.io/";

/** Options of {@link ArmadaOperator}. */
export interface ArmadaOperatorOptions extends BaseOperatorOptions {
  /** Display name of the job (not sent to Armada). */
  name: string;
  /** How to reach Armada: a GrpcChannelArgs, or its constructor options. */
  channelArgs: GrpcChannelArgs | GrpcChannelArgsInit;
  /** The Armada queue to submit to. */
  armadaQueue: string;
  /**
   * The job: a job request item written the Kubernetes way
   * (`{ namespace, podSpec: { containers: [...] } }`), every string a template;
   * or a function `(context, env) => item` called at run time.
   */
  jobRequest: JobRequest | JobRequestFactory;
  /** Prepended to the run id to form the job set id (templated). @default "" */
  jobSetPrefix?: string;
  /** Lookout URL with `<job_id>`, e.g. `http://lookout:8089/jobs/<job_id>`. @default none (no link) */
  lookoutUrlTemplate?: string;
  /** Seconds between status checks. @default config `armada_operator.default_poll_interval_s`, else 30 */
  pollInterval?: number;
  /** Container whose logs are published to the task log. @default none */
  containerLogs?: string;
  /** Supplies a bearer token for reading logs from Kubernetes. @default none (kubeconfig credentials) */
  k8sTokenRetriever?: TokenRetriever;
  /** Wait in a trigger instead of a sleeping worker. @default config `operators.default_deferrable`, else false */
  deferrable?: boolean;
  /**
   * How a waiting task learns that its job moved. `poll`: a batched status
   * check at each (aligned) poll moment. `events`: woken by its job set's
   * event stream, shared by every task of the process on that job set, and
   * confirmed by one batched status check before acting; falls back to
   * polling when the stream cannot be kept (see the README). A deferred task
   * then needs no poll at all; one that does not defer still checks every
   * `pollInterval`, and earlier when an event comes.
   * @default config `armada_operator.tracking`, else `"events"`
   */
  tracking?: ArmadaTracking;
  /** Seconds the job may stay unknown to Armada's query API before it is cancelled. @default config `armada_operator.default_job_acknowledgement_timeout_s`, else 300 */
  jobAcknowledgementTimeout?: number;
  /**
   * Seconds the job may wait for capacity (QUEUED or LEASED, counted from its
   * submission) before the task cancels it and fails retryably; a RUNNING job
   * is never stopped by it. Waiting for capacity and running too long are
   * different failures: `executionTimeout` is the other one.
   * @default none (wait as long as it takes)
   */
  queueTimeout?: number;
  /**
   * Who retries a failed job run. `inherit`: the queue's Armada retry policy
   * may run the job again (a new run of the same job, perhaps on another
   * cluster) before the task sees it end; the task follows each run. `failFast`:
   * the job carries Armada's fail-fast annotation, so Armada never re-runs it
   * and only the task's own `retries` apply (no double retrying).
   * @default "inherit"
   */
  armadaRetries?: ArmadaRetries;
  /** Render and log the job request, submit nothing. @default config `armada_operator.default_dry_run`, else false */
  dryRun?: boolean;
  /**
   * Whether a retry may attach to the job an earlier try submitted:
   * `never`, `always`, `running_or_succeeded`, or `(state, reason) => boolean`.
   * @default DAG default args `reattachPolicy`, then config `armada_operator.reattach_policy`, else `never`
   */
  reattachPolicy?: ReattachPolicy;
  /** Extra links: name -> URL template, or RegExp matched against container logs. @default {} */
  extraLinks?: ExtraLinks;
  /** Kubeconfig (contexts named by Armada cluster id) for container logs. @default the standard kubeconfig */
  kubeConfig?: KubeConfig;
  /**
   * Replaces the Armada hook (tests, custom transports); called where the try runs, so an `ArmadaHook` it makes
   * is in that runner's connection pool. @default an {@link ArmadaHook} in the runner's pool
   */
  hookFactory?: (channelArgs: GrpcChannelArgs, clock: Clock) => ArmadaHookApi;
  /** Replaces the pod log manager. @default a {@link KubernetesPodLogManager} */
  podLogManager?: KubernetesPodLogManager;
}

/** Values of {@link ArmadaOperatorOptions.armadaRetries}. */
export type ArmadaRetries = "inherit" | "failFast";

/** Annotation that makes Armada's retry engine leave a job alone (it fails on its first failed run). */
export const ARMADA_FAIL_FAST_ANNOTATION = "armadaproject.io/failFast";

export type { ArmadaOperatorResult } from "./job-success-end.js";

const STATES_WITH_POD: ReadonlySet<JobState> = new Set([
  JobState.RUNNING,
  JobState.FAILED,
  JobState.SUCCEEDED,
]);
const STATES_WITH_REASON: ReadonlySet<JobState> = new Set([
  JobState.FAILED,
  JobState.PREEMPTED,
  JobState.REJECTED,
]);
/** Status checks that may fail in a row (server away) before the try fails. */
const MAX_CONSECUTIVE_STATUS_FAILURES = 10;

function positiveNumber(field: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new ArmadaOperatorInputError(
      field,
      `must be a number of seconds > 0, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function nonEmptyString(field: string, value: unknown, example: string): string {
  if (typeof value !== "string" || value.trim() === "") {
    throw new ArmadaOperatorInputError(
      field,
      `must be a non-empty string, e.g. ${example}; got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/**
 * The annotation key prefix (`armada_operator.annotation_key_prefix`, env `ANNOTATION_KEY_PREFIX`),
 * refused when it cannot make valid keys.
 */
function annotationKeyPrefix(config: ArmadaOperatorConfig): string {
  const prefix = config.annotation_key_prefix;
  const problem = qualifiedNameProblem(`${prefix}taskId`.toLowerCase());
  if (problem) {
    throw new ArmadaOperatorInputError(
      "ANNOTATION_KEY_PREFIX",
      `${JSON.stringify(prefix)} does not make valid annotation keys (e.g. ${JSON.stringify(`${prefix}taskId`)}): ${problem}. ` +
        `Use a DNS subdomain followed by '/', like the default ${JSON.stringify(DEFAULT_ANNOTATION_KEY_PREFIX)}, or unset it.`,
    );
  }
  return prefix;
}

/**
 * Refuses call settings that would make every Armada call fail (a deadline
 * of 0, a negative look-up grace), naming the setting.
 */
function checkCallSettings(config: ArmadaOperatorConfig): void {
  const deadline = config.rpc_deadline_s;
  if (!(deadline > 0)) {
    throw new ArmadaOperatorInputError(
      "armada_operator.rpc_deadline_s",
      `must be a number of seconds > 0, got ${deadline}: every call would time out at once. ` +
        "Set it to the longest an Armada call may take (default 30), or remove it.",
    );
  }
  const grace = config.submit_lookup_grace_s;
  if (!(grace >= 0)) {
    throw new ArmadaOperatorInputError(
      "armada_operator.submit_lookup_grace_s",
      `must be a number of seconds >= 0, got ${grace} (default 30)`,
    );
  }
}

function optionalBoolean(field: string, value: unknown): boolean | undefined {
  if (value === undefined || typeof value === "boolean") return value;
  throw new ArmadaOperatorInputError(field, `must be true or false, got ${JSON.stringify(value)}`);
}

function optionalLookoutTemplate(value: unknown): string | undefined {
  if (value === undefined || value === "") return undefined;
  if (typeof value !== "string" || !value.includes("<job_id>")) {
    throw new ArmadaOperatorInputError(
      "lookoutUrlTemplate",
      `must be a URL with <job_id> where the job id goes, e.g. "http://lookout:8089/jobs/<job_id>"; got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/**
 * Refuses an item Armada or Kubernetes would refuse (see
 * {@link validateSubmitItem}), naming the first field at fault and listing
 * the others, so nothing doomed is submitted.
 */
function assertSubmittable(item: JobSubmitRequestItem): void {
  // More than one pod spec is left to Armada (it rejects the job): the
  // operator has long accepted podSpecs lists, and its container-log option
  // is checked against all of them.
  const issues = validateSubmitItem(item, { except: ["pod-spec-count"] });
  if (issues.length === 0) return;
  const [first, ...rest] = issues;
  const more =
    rest.length > 0 ? ` (also: ${rest.map((i) => `job_request.${i.path}: ${i.message}`).join("; ")})` : "";
  throw new ArmadaOperatorInputError(`job_request.${first!.path}`, `${first!.message}${more}`);
}

/** See the module comment. Options and defaults: {@link ArmadaOperatorOptions}. */
export class ArmadaOperator extends BaseOperator {
  readonly name: string;
  readonly channelArgs: GrpcChannelArgs;
  readonly armadaQueue: string;
  /** The job request as given; after rendering, the rendered JSON form. */
  jobRequest: JobRequest | JobRequestFactory;
  /** After rendering, the rendered prefix. */
  jobSetPrefix: string;
  readonly lookoutUrlTemplate: string | undefined;
  readonly pollInterval: number;
  /** Container whose logs are published (checked against the job's containers when rendering). */
  readonly containerLogs: string | undefined;
  readonly k8sTokenRetriever: TokenRetriever | undefined;
  readonly deferrable: boolean;
  readonly tracking: ArmadaTracking;
  readonly jobAcknowledgementTimeout: number;
  readonly queueTimeout: number | undefined;
  readonly armadaRetries: ArmadaRetries;
  readonly dryRun: boolean;
  readonly reattachPolicy: ReattachPolicyFunction;
  readonly extraLinks: ExtraLinks;

  private readonly kubeConfig: KubeConfig | undefined;
  private readonly hookFactory: ((channelArgs: GrpcChannelArgs, clock: Clock) => ArmadaHookApi) | undefined;
  private podLogManagerOverride: KubernetesPodLogManager | undefined;
  private hookInstance: ArmadaHookApi | undefined;
  /** The pool {@link hookInstance} was made in. */
  private hookPool: ArmadaConnectionPool | undefined;
  private podLogManagerInstance: KubernetesPodLogManager | undefined;
  /** The parsed, annotated request to submit: see {@link renderedItem}. */
  private renderedItemCache: JobSubmitRequestItem | undefined;
  private renderedJson: JobRequestJson | undefined;
  /** The context the request was rendered in (its annotations name the task instance). */
  private renderedContext: Context | undefined;
  private renderedLinks: Record<string, string> = {};
  private linkExtractor: UrlFromLogsExtractor | undefined;
  private statusFailures = 0;
  private lastLogError: string | undefined;
  /** True when this try rendered before (a resume, or a re-run of the same try after a crash). */
  private renderedBefore = false;
  private taskInstance: TaskInstance | undefined;
  private clock: Clock = systemClock;
  /** The settings of the runner running this try (its context's), once attached. */
  private runConfig: RuntimeConfig | undefined;

  constructor(options: ArmadaOperatorOptions) {
    super(options);
    const o = this.resolvedOptions as unknown as ArmadaOperatorOptions;
    // The defaults are taken when the DAG file's code runs: from the config the CLI resolved, else process.env.
    const config = currentRuntimeConfig();
    this.name = nonEmptyString("name", o.name, '"my-job"');
    this.channelArgs = ArmadaOperator.toChannelArgs(o.channelArgs);
    this.armadaQueue = nonEmptyString("armadaQueue", o.armadaQueue, '"my-queue"');
    if (
      o.jobRequest === null ||
      Array.isArray(o.jobRequest) ||
      !["object", "function", "string"].includes(typeof o.jobRequest)
    ) {
      throw new ArmadaOperatorInputError(
        "jobRequest",
        "must be a job request object ({ namespace, podSpec: { containers: [...] } }), its YAML text, " +
          "or a function (context, env) => object",
      );
    }
    // YAML text is read now, so a malformed document stops the DAG file from
    // loading (with its line and column) instead of failing the first try.
    if (typeof o.jobRequest === "string") jobRequestToJson(o.jobRequest);
    this.jobRequest = o.jobRequest;
    this.jobSetPrefix = o.jobSetPrefix ?? "";
    if (typeof this.jobSetPrefix !== "string")
      throw new ArmadaOperatorInputError("jobSetPrefix", "must be a string");
    this.lookoutUrlTemplate = optionalLookoutTemplate(o.lookoutUrlTemplate);
    // A bad default is named by its setting, where the fix goes.
    this.pollInterval =
      o.pollInterval !== undefined
        ? positiveNumber("pollInterval", o.pollInterval)
        : positiveNumber(
            "armada_operator.default_poll_interval_s",
            config.armada_operator.default_poll_interval_s,
          );
    if (o.containerLogs !== undefined && typeof o.containerLogs !== "string") {
      throw new ArmadaOperatorInputError(
        "containerLogs",
        `must be the name of a container of the job, e.g. "main"; got ${JSON.stringify(o.containerLogs)}`,
      );
    }
    this.containerLogs = o.containerLogs || undefined;
    if (
      o.k8sTokenRetriever !== undefined &&
      typeof (o.k8sTokenRetriever as { getToken?: unknown } | null)?.getToken !== "function"
    ) {
      throw new ArmadaOperatorInputError(
        "k8sTokenRetriever",
        "must be an object with a getToken() method returning a bearer token (or a promise of one)",
      );
    }
    this.k8sTokenRetriever = o.k8sTokenRetriever;
    this.deferrable = optionalBoolean("deferrable", o.deferrable) ?? config.operators.default_deferrable;
    this.tracking = resolveTracking(o.tracking, config.armada_operator);
    // Checked at load, like the other settings: a bad cap would otherwise surface in the first trigger.
    if (this.tracking === "events") maxEventStreams(config.armada_operator);
    const ack = o.jobAcknowledgementTimeout ?? config.armada_operator.default_job_acknowledgement_timeout_s;
    if (typeof ack !== "number" || !Number.isFinite(ack)) {
      throw new ArmadaOperatorInputError(
        "jobAcknowledgementTimeout",
        `must be a number of seconds, got ${JSON.stringify(ack)}`,
      );
    }
    this.jobAcknowledgementTimeout = ack;
    this.queueTimeout =
      o.queueTimeout === undefined ? undefined : positiveNumber("queueTimeout", o.queueTimeout);
    const retries = o.armadaRetries ?? "inherit";
    if (retries !== "inherit" && retries !== "failFast") {
      throw new ArmadaOperatorInputError(
        "armadaRetries",
        `must be "inherit" (the queue's Armada retry policy may re-run the job) or "failFast" (Armada never ` +
          `re-runs it; only the task's retries apply), got ${JSON.stringify(retries)}`,
      );
    }
    this.armadaRetries = retries;
    this.dryRun = optionalBoolean("dryRun", o.dryRun) ?? config.armada_operator.default_dry_run;
    try {
      this.reattachPolicy = resolveReattachPolicy(o.reattachPolicy, config.armada_operator.reattach_policy);
    } catch (err) {
      throw new ArmadaOperatorInputError(
        "reattachPolicy",
        `${(err as Error).message}; use "never", "always", "running_or_succeeded" or a function (state, reason) => boolean`,
      );
    }
    if (
      o.extraLinks !== undefined &&
      (o.extraLinks === null || typeof o.extraLinks !== "object" || Array.isArray(o.extraLinks))
    ) {
      throw new ArmadaOperatorInputError(
        "extraLinks",
        'must be an object of name -> URL template or RegExp, e.g. { Grafana: "https://grafana/d?job=<job_id>" }',
      );
    }
    this.extraLinks = { ...(o.extraLinks ?? {}) };
    for (const [name, link] of Object.entries(this.extraLinks)) {
      if (typeof link !== "string" && !(link instanceof RegExp)) {
        throw new ArmadaOperatorInputError(`extraLinks.${name}`, "must be a URL template string or a RegExp");
      }
    }
    this.kubeConfig = o.kubeConfig;
    this.hookFactory = o.hookFactory;
    this.podLogManagerOverride = o.podLogManager;

    // Settings read from the environment are checked when the DAG is loaded
    // too, so a bad one stops the load instead of failing every task's try.
    // (TLS files and token variables are checked at run time: they may exist
    // only where tasks run.)
    annotationKeyPrefix(config.armada_operator);
    if (!this.hookFactory) checkCallSettings(config.armada_operator);

    this.templateFields = ["job_request", "job_set_prefix"];
    this.templateFieldsRenderers = { job_request: "py" };
    this.operatorExtraLinks = this.buildOperatorLinks();
  }

  private static toChannelArgs(value: unknown): GrpcChannelArgs {
    if (value instanceof GrpcChannelArgs) return value;
    if (value === null || typeof value !== "object") {
      throw new ArmadaOperatorInputError(
        "channelArgs",
        'must be a GrpcChannelArgs or its options, e.g. { target: "armada.example.com:50051" }',
      );
    }
    try {
      return new GrpcChannelArgs(value as GrpcChannelArgsInit);
    } catch (err) {
      throw new ArmadaOperatorInputError("channelArgs", (err as Error).message, { cause: err });
    }
  }

  private buildOperatorLinks(): OperatorLink[] {
    const links: OperatorLink[] = [];
    if (this.lookoutUrlTemplate) {
      links.push({
        name: "Lookout",
        getLink: async (_op, t) => (await t.xcomPull(LOOKOUT_URL_XCOM_KEY)) as string | undefined,
      });
    }
    for (const name of Object.keys(this.extraLinks)) {
      links.push({
        name,
        getLink: async (_op, t) => (await t.xcomPull(linkXComKey(name))) as string | undefined,
      });
    }
    return links;
  }

  /**
   * The settings a try reads at execute time: its runner's (from the task
   * context), else, before a context is attached, the current ones.
   */
  private get settings(): ArmadaOperatorConfig {
    return (this.runConfig ?? currentRuntimeConfig()).armada_operator;
  }

  /**
   * The Armada hook for this operator's channel, in the connection pool of
   * the runner running the try (made again when another runner runs this
   * operator: a hook must not outlive its runner's pool).
   */
  get hook(): ArmadaHookApi {
    const pool = ArmadaConnectionPool.current();
    if (this.hookInstance && this.hookPool === pool) return this.hookInstance;
    this.hookPool = pool;
    if (this.hookFactory) return (this.hookInstance = this.hookFactory(this.channelArgs, this.clock));
    return (this.hookInstance = new ArmadaHook(this.channelArgs, {
      pool,
      clock: this.clock,
      ...configuredHookOptions(this.settings),
    }));
  }

  /** Reads container logs from Kubernetes. */
  get podManager(): KubernetesPodLogManager {
    return (this.podLogManagerInstance ??=
      this.podLogManagerOverride ??
      new KubernetesPodLogManager({
        ...(this.k8sTokenRetriever ? { tokenRetriever: this.k8sTokenRetriever } : {}),
        ...(this.kubeConfig ? { kubeConfig: this.kubeConfig } : {}),
      }));
  }

  /** The Lookout link of a job, when a template is set. */
  lookoutUrl(jobId: string): string | undefined {
    return this.lookoutUrlTemplate ? lookoutUrl(this.lookoutUrlTemplate, jobId) : undefined;
  }

  private trackingMessage(jobId: string): string {
    return jobDetailsSuffix(this.lookoutUrl(jobId));
  }

  private attach(context: Context): TaskInstance {
    this.taskInstance = context.ti;
    this.clock = context.clock ?? systemClock;
    this.runConfig = context.runtimeConfig;
    return context.ti;
  }

  /** The job set id: the rendered prefix plus the run id (all tasks of a run share it). */
  jobSetId(context: Pick<Context, "runId">): string {
    return `${this.jobSetPrefix}${context.runId}`;
  }

  /**
   * Renders the job request and job set prefix. On a resume after deferral
   * the request rendered by this try is read back from XCom (never rendered
   * twice); otherwise it is built, every string rendered, and stored in XCom
   * `job_request`. Then it is parsed, annotated and checked: a template error
   * or an invalid job fails here, before anything is submitted.
   */
  override async renderTemplateFields(context: Context, env?: TemplateEnv): Promise<void> {
    const ti = this.attach(context);
    const e = env ?? defaultTemplateEnv();
    const stored = (await ti.xcomPull({ key: XCOM_KEYS.jobRequest })) as JobRequestJson | undefined;
    this.jobSetPrefix = String(e.render(this.jobSetPrefix, context, "job_set_prefix"));
    // Rendered before anything is stored, so a bad link template stores nothing.
    this.renderedLinks = {};
    for (const [name, link] of Object.entries(this.extraLinks)) {
      if (typeof link !== "string") continue;
      this.renderedLinks[name] = String(e.render(link, context, `extra_links.${name}`));
    }
    let json: JobRequestJson;
    // A first rendering's checked, annotated item is the one submitted: parsing the stored form again gives the same.
    let firstItem: JobSubmitRequestItem | undefined;
    if (stored && typeof stored === "object") {
      json = stored;
      this.renderedBefore = true;
    } else {
      const source =
        typeof this.jobRequest === "function" ? await this.jobRequest(context, e) : this.jobRequest;
      const ns = e.namespace(context);
      const template = jobRequestToJson(source);
      const rendered = renderJobRequestJson(template, (v, path) => e.renderWith(v, ns, path));
      // Parse and check before storing so an invalid job never reaches XCom or
      // Armada; the stored form is the normalized one that parses as it is.
      const normalized = normalizeRenderedJobRequest(rendered, template);
      const probe = normalized.item;
      this.annotate(context, probe);
      assertSubmittable(probe);
      this.checkContainerLogs(probe);
      // Settings that would fail every call are refused before anything is stored, too.
      if (!this.dryRun) this.preflight();
      json = normalized.json;
      firstItem = probe;
      await ti.xcomPush(XCOM_KEYS.jobRequest, json);
    }
    for (const [name, url] of Object.entries(this.renderedLinks)) await ti.xcomPush(linkXComKey(name), url);
    this.renderedJson = json;
    this.renderedContext = context;
    this.renderedItemCache = firstItem;
    this.jobRequest = json;
    // A resumed try's stored request is parsed only when needed.
  }

  /**
   * The rendered request, parsed and annotated. Parsed on first use: a
   * resumed try polls a job already submitted and never needs it, and
   * parsing it again on every resume was a tenth of a deferred task's cost.
   */
  private renderedItem(): JobSubmitRequestItem {
    if (this.renderedItemCache) return this.renderedItemCache;
    if (!this.renderedJson || !this.renderedContext) {
      throw new ArmadaAirflowError(
        ErrorCode.Internal,
        "ArmadaOperator: the job request is used before rendering",
      );
    }
    const item = jobRequestFromJson(this.renderedJson);
    this.annotate(this.renderedContext, item);
    assertSubmittable(item);
    this.checkContainerLogs(item);
    this.renderedItemCache = item;
    return item;
  }

  /** Refuses a `containerLogs` that names none of the job's containers. */
  private checkContainerLogs(item: JobSubmitRequestItem): void {
    if (!this.containerLogs) return;
    const names = containerNames(item);
    if (!names.includes(this.containerLogs)) {
      throw new ArmadaOperatorInputError(
        "containerLogs",
        `no container named '${this.containerLogs}' in the job request; available containers: ${names.join(", ")}. ` +
          "Set containerLogs to one of them, or leave it unset.",
      );
    }
  }

  private annotate(context: Context, item: JobSubmitRequestItem): void {
    const prefix = annotationKeyPrefix(this.settings);
    const uri = this.externalJobUri(context);
    item.annotations = {
      ...item.annotations,
      [`${prefix}taskId`]: context.ti.taskId,
      [`${prefix}taskRunId`]: context.runId,
      [`${prefix}dagId`]: context.dag.dagId,
      [`${prefix}jobSet`]: this.jobSetId(context),
      [`${prefix}externalJobUri`]: uri,
      // Armada's own annotation, whatever the prefix: its retry engine reads this exact key.
      ...(this.armadaRetries === "failFast" ? { [ARMADA_FAIL_FAST_ANNOTATION]: "true" } : {}),
    };
    // The field as well as the annotation: a custom prefix must not break reattach.
    item.externalJobUri = uri;
    // Deterministic per try: identifies this try's job among all jobs with
    // the URI (and Armada de-duplicates submissions on it).
    item.clientId ||= `airflow-${createHash("sha256").update(`${uri}#${context.ti.tryNumber}`).digest("hex").slice(0, 32)}`;
  }

  private externalJobUri(context: Context): string {
    return externalJobUri({
      dagId: context.dag.dagId,
      taskId: context.ti.taskId,
      runId: context.runId,
      mapIndex: context.ti.mapIndex,
    });
  }

  /** Submits (or reattaches) and follows the job to a final state. */
  async execute(context: Context): Promise<ArmadaOperatorResult | Record<string, never>> {
    const ti = this.attach(context);
    if (!this.renderedJson) await this.renderTemplateFields(context);
    this.log.info(
      `ArmadaOperator(deferrable: ${this.deferrable}, dry_run: ${this.dryRun}, poll_interval: ${this.pollInterval}s, ` +
        `job_acknowledgement_timeout: ${this.jobAcknowledgementTimeout}s, retries: ${this.retries})`,
    );
    const jobSetId = this.jobSetId(context);
    if (this.dryRun) {
      this.log.info(
        `Running in dry_run mode. job_set_id: ${jobSetId}\n${JSON.stringify(this.renderedJson, null, 2)}`,
      );
      return {};
    }
    this.preflight();
    if (this.deferrable) await ti.xcomPush(XCOM_KEYS.channelArgs, this.channelArgs.serialize());
    const jobContext = await this.reattachOrSubmit(context, jobSetId);
    return this.pollForTermination(context, jobContext);
  }

  /**
   * Checks the configuration and channel before the first call, so that a
   * setting that would make every call fail (a deadline of 0, an unreadable
   * TLS file, an unset token variable) fails the task at once, naming the
   * setting, instead of surfacing as unknown submit outcomes or TLS errors.
   */
  private preflight(): void {
    if (!this.hookFactory) checkCallSettings(this.settings);
    try {
      checkChannelArgs(this.channelArgs);
    } catch (err) {
      if (!(err instanceof ChannelConfigError)) throw err;
      throw new ArmadaOperatorInputError(err.field, err.message.slice(err.field.length + 2), { cause: err });
    }
  }

  /**
   * Resumes after the trigger fired: reads the job context from XCom and polls again.
   * Named as in Airflow's ArmadaOperator, snake_case and all: the name is
   * stored with each deferral (the runtime calls the method by it on resume),
   * so tasks deferred by an earlier version resume by the same name.
   */
  async _trigger_reentry(context: Context, event?: unknown): Promise<ArmadaOperatorResult> {
    crashPoint("armada.resumed");
    const ti = this.attach(context);
    const stored = await ti.xcomPull({ key: XCOM_KEYS.jobContext });
    if (!stored && isSubmitFailed(event)) {
      // The triggerer's submit failed: this try submits (the same item and client id, so a job that submit
      // made after all is the one Armada answers with), and its error, if any, is the task's own.
      const jobSetId = this.jobSetId(context);
      return this.pollForTermination(context, await this.submitHere(ti, jobSetId, this.externalJobUri(context)));
    }
    const submitted = submittedJobId(event);
    if (!stored && submitted) {
      // A submit trigger whose task instance could not take XComs: its event names the job.
      const ctx = new RunningJobContext({
        armadaQueue: this.armadaQueue,
        jobId: submitted,
        jobSetId: this.jobSetId(context),
        submitTime: this.clock.now(),
      });
      await this.publishSubmitted(ti, ctx);
      return this.pollForTermination(context, ctx);
    }
    if (!stored) {
      throw new ArmadaAirflowError(
        ErrorCode.NotFound,
        `Resumed without an XCom job_context for task ${ti.taskId}; cannot tell which Armada job to follow`,
      );
    }
    const jobContext = RunningJobContext.fromXCom(stored);
    this.hook.trackJob?.(jobContext.jobId);
    return this.pollForTermination(context, jobContext);
  }

  private isNewRun(ti: TaskInstance): boolean {
    // Airflow's rule: a fresh run or a clear has max_tries - try_number + 1 == retries.
    return ti.maxTries - ti.tryNumber + 1 === this.retries;
  }

  private async reattachOrSubmit(context: Context, jobSetId: string): Promise<RunningJobContext> {
    const ti = context.ti;
    const uri = this.externalJobUri(context);
    if (this.renderedBefore) {
      // This try ran before and stopped (runner killed): its job may exist.
      const resumed = await this.findOwnJob(ti, jobSetId, uri);
      if (resumed) return resumed;
    }
    if (!this.isNewRun(ti)) {
      const existing = await this.hook.jobByExternalJobUri(this.armadaQueue, jobSetId, uri);
      if (existing) {
        const reason = STATES_WITH_REASON.has(existing.state)
          ? await this.hook.getJobTerminationReason(existing.jobId)
          : "";
        if (this.reattachPolicy(existing.state, reason)) {
          this.log.info(
            `Attached to existing Armada job with job-id ${existing.jobId}.${this.trackingMessage(existing.jobId)}`,
          );
          const ctx = new RunningJobContext({
            armadaQueue: this.armadaQueue,
            jobId: existing.jobId,
            jobSetId,
            submitTime: existing.submittedAt ?? this.clock.now(),
            jobState: jobStateName(existing.state),
          });
          await this.publishSubmitted(ti, ctx);
          return ctx;
        }
        this.log.info(
          `Found Armada job ${existing.jobId} in state ${jobStateName(existing.state)}; the reattach policy declined it, submitting a new job.`,
        );
      }
    }
    // A retry, a clear or a declined reattach: no earlier job of this task
    // instance may go on running unfollowed beside the new one.
    if (ti.tryNumber > 1 || this.renderedBefore) await this.cancelEarlierJobs(jobSetId, uri);
    if (this.submitsFromTriggerer) this.deferSubmit(jobSetId, uri);
    return this.submitHere(ti, jobSetId, uri);
  }

  /**
   * Whether the job is submitted from the triggerer (config
   * `armada_operator.submit_from_triggerer`, deferrable tasks): the task
   * defers before its submit, so its slot is free while Armada answers, and
   * the submits of all waiting tasks share `SubmitJobs` calls. Not with a
   * `hookFactory`: a hook given in code cannot travel with a stored trigger.
   */
  private get submitsFromTriggerer(): boolean {
    return this.deferrable && !this.hookFactory && this.settings.submit_from_triggerer;
  }

  /** Defers to an {@link ArmadaSubmitJobTrigger}, which submits the job, writes its XComs and watches it. */
  private deferSubmit(jobSetId: string, uri: string): never {
    this.log.info(
      `Deferring; the triggerer submits the job to queue ${this.armadaQueue}, in one SubmitJobs call with the other tasks submitting now.`,
    );
    this.defer({
      trigger: new ArmadaSubmitJobTrigger(
        { queue: this.armadaQueue, jobSetId, externalJobUri: uri, plan: this.watchPlan() },
        this.renderedItem(),
      ),
      methodName: "_trigger_reentry",
      ...(this.executionTimeout !== undefined ? { timeout: this.executionTimeout } : {}),
    });
  }

  /** Submits the job from this task and publishes its context. */
  private async submitHere(ti: TaskInstance, jobSetId: string, uri: string): Promise<RunningJobContext> {
    crashPoint("armada.before-submit");
    const jobId = await this.hook.submitJob({
      queue: this.armadaQueue,
      jobSetId,
      item: this.renderedItem(),
      externalJobUri: uri,
      log: this.log,
    });
    crashPoint("armada.after-submit");
    this.log.info(`Submitted job to Armada with job-id ${jobId}.${this.trackingMessage(jobId)}`);
    const ctx = new RunningJobContext({
      armadaQueue: this.armadaQueue,
      jobId,
      jobSetId,
      submitTime: this.clock.now(),
    });
    await this.publishSubmitted(ti, ctx);
    return ctx;
  }

  /** Cancels every live job carrying this task instance's external job URI, saying so in the log. */
  private async cancelEarlierJobs(jobSetId: string, uri: string): Promise<void> {
    for (const job of await liveJobsByExternalJobUri(this.hook, this.armadaQueue, jobSetId, uri)) {
      this.log.info(
        `Cancelling earlier Armada job ${job.jobId} of this task instance (state ${jobStateName(job.state)}) before submitting a new one.`,
      );
      const ctx = new RunningJobContext({
        armadaQueue: this.armadaQueue,
        jobId: job.jobId,
        jobSetId,
        submitTime: job.submittedAt ?? this.clock.now(),
        jobState: jobStateName(job.state),
      });
      await this.hook.cancelJob(ctx, this.log);
      crashPoint("armada.cancelling");
    }
  }

  /** Its job lives in Armada, not in the runner: a try whose runner died is followed to its end in the same try. */
  override get resumesAfterCrash(): boolean {
    return !this.dryRun;
  }

  private async findOwnJob(
    ti: TaskInstance,
    jobSetId: string,
    uri: string,
  ): Promise<RunningJobContext | undefined> {
    const stored = await ti.xcomPull({ key: XCOM_KEYS.jobContext });
    if (stored) {
      const ctx = RunningJobContext.fromXCom(stored);
      this.log.info(
        `Resuming Armada job with job-id ${ctx.jobId} submitted earlier by this try.${this.trackingMessage(ctx.jobId)}`,
      );
      return ctx;
    }
    const jobId = await this.hook.findSubmittedJob(
      this.armadaQueue,
      jobSetId,
      uri,
      this.renderedItem().clientId,
    );
    if (!jobId) return undefined;
    this.log.info(
      `Found Armada job with job-id ${jobId} submitted earlier by this try.${this.trackingMessage(jobId)}`,
    );
    const ctx = new RunningJobContext({
      armadaQueue: this.armadaQueue,
      jobId,
      jobSetId,
      submitTime: this.clock.now(),
    });
    await this.publishSubmitted(ti, ctx);
    return ctx;
  }

  private async publishSubmitted(ti: TaskInstance, ctx: RunningJobContext): Promise<void> {
    const url = this.lookoutUrl(ctx.jobId);
    if (url) await ti.xcomPush(XCOM_KEYS.lookoutUrl, url);
    await ti.xcomPush(XCOM_KEYS.jobContext, ctx.toXCom());
  }

  private async pollForTermination(
    context: Context,
    start: RunningJobContext,
  ): Promise<ArmadaOperatorResult> {
    let ctx = start;
    try {
      for (;;) {
        ctx = await this.checkJobStatusAndFetchLogs(context, ctx);
        if (!isTerminalJobState(ctx.state)) crashPoint("armada.polling");
        if (isTerminalJobState(ctx.state)) return await this.terminated(context, ctx);
        if (this.deferrable) {
          const now = this.clock.nowMs();
          this.defer({
            trigger: new ArmadaPollJobTrigger(now + this.pollInterval * 1000, {}, this.watchFor(ctx, now)),
            methodName: "_trigger_reentry",
            ...(this.executionTimeout !== undefined ? { timeout: this.executionTimeout } : {}),
          });
        }
        await this.waitForNextCheck(ctx, context.signal);
      }
    } finally {
      this.leaveEventStream();
    }
  }

  /** Event subscription of a task that waits without deferring (tracking `events`). */
  private subscription: JobEventSubscription | undefined;

  /**
   * A task that does not defer checks every poll interval; with tracking
   * `events` it checks at once when its job set's stream brings an event of
   * its job (the check itself is the confirmation). The subscription is held
   * for the whole wait and left when the job ends or the try stops.
   */
  private async waitForNextCheck(ctx: RunningJobContext, signal: AbortSignal | undefined): Promise<void> {
    if (this.tracking === "events" && !this.subscription) {
      this.subscription = this.hook.watchJobEvents?.(ctx.armadaQueue, ctx.jobSetId, ctx.jobId);
    }
    const sub = this.subscription;
    if (!sub || sub.fallenBack) return this.clock.sleep(this.pollInterval * 1000, signal);
    const timer = new AbortController();
    const stop = () => timer.abort();
    signal?.addEventListener("abort", stop, { once: true });
    try {
      const slept = this.clock.sleep(this.pollInterval * 1000, timer.signal).then(
        () => false,
        () => false,
      );
      for (;;) {
        const woke = await Promise.race([sub.next().then(() => true), slept]);
        signal?.throwIfAborted();
        if (!woke || sub.fallenBack) return;
        // Events that say nothing new (a backlog read when the stream opened) wait on.
        const hint = sub.eventState;
        if (hint !== undefined && (hint !== ctx.state || isTerminalJobState(hint))) return;
      }
    } finally {
      signal?.removeEventListener("abort", stop);
      timer.abort();
    }
  }

  private leaveEventStream(): void {
    this.subscription?.close();
    this.subscription = undefined;
  }

  /**
   * What the deferral's trigger watches for, so that the task resumes only
   * when there is something to do: the job's state changed or became final,
   * or one of this operator's deadlines (acknowledgement, `queueTimeout`)
   * came. Every `armada_operator.max_quiet_s` (default 300) with nothing
   * new the trigger checks the job itself and writes a progress line, and
   * the task resumes only if that check finds something to do. Undefined,
   * so the trigger fires at its moment and the task resumes every poll,
   * while a running job's container log is being streamed: reading it needs
   * the task.
   */
  private watchFor(ctx: RunningJobContext, now: number): ArmadaJobWatch | undefined {
    return jobWatchFor(
      this.watchPlan(),
      {
        jobId: ctx.jobId,
        state: ctx.state,
        submitMs: ctx.submitTime.getTime(),
        queue: ctx.armadaQueue,
        jobSetId: ctx.jobSetId,
      },
      now,
    );
  }

  /** The settings a watch is made from (see {@link jobWatchFor}). */
  private watchPlan(): JobWatchPlan {
    return {
      pollIntervalS: this.pollInterval,
      ackTimeoutS: this.jobAcknowledgementTimeout,
      ...(this.queueTimeout !== undefined ? { queueTimeoutS: this.queueTimeout } : {}),
      ...(this.settings.max_quiet_s > 0 ? { quietS: this.settings.max_quiet_s } : {}),
      ...(this.lookoutUrlTemplate ? { lookoutUrlTemplate: this.lookoutUrlTemplate } : {}),
      ...(this.containerLogs ? { containerLogs: true as const } : {}),
      ...(this.tracking === "events" ? { tracking: "events" as const } : {}),
      ...(this.endsFromTrigger
        ? { endOnSuccess: { links: { ...this.renderedLinks }, pushResult: this.doXcomPush } }
        : {}),
    };
  }

  /**
   * Whether the trigger ends the task when its job succeeds (config
   * `armada_operator.end_from_trigger`): the resumed task would only
   * confirm the state and return its result, which the trigger knows. Not
   * when the task reads the job's container log (to its end, and links
   * found in it), nor for a subclass that changes how the task resumes.
   */
  private get endsFromTrigger(): boolean {
    return (
      this.deferrable &&
      this.settings.end_from_trigger &&
      !this.containerLogs &&
      Object.values(this.extraLinks).every((link) => typeof link === "string") &&
      this._trigger_reentry === ArmadaOperator.prototype._trigger_reentry
    );
  }

  private async checkJobStatusAndFetchLogs(
    context: Context,
    previous: RunningJobContext,
  ): Promise<RunningJobContext> {
    const ti = context.ti;
    let state: JobState;
    try {
      state = await this.hook.getJobState(previous.jobId);
      this.statusFailures = 0;
    } catch (err) {
      this.statusFailures++;
      // Worth waiting out only when the server is briefly away or slow.
      if (!ArmadaError.isTransient(err) || this.statusFailures >= MAX_CONSECUTIVE_STATUS_FAILURES) throw err;
      this.log.warn(
        `Status check of Armada job ${previous.jobId} failed (${(err as Error).message}); trying again at the next poll`,
      );
      return previous;
    }
    if (state !== previous.state) {
      this.log.info(
        `Armada job ${previous.jobId} is in state: ${jobStateName(state)}.${this.trackingMessage(previous.jobId)}`,
      );
    }
    let ctx = previous.with({ jobState: state });

    if (
      state === JobState.UNKNOWN &&
      this.clock.nowMs() - ctx.submitTime.getTime() > this.jobAcknowledgementTimeout * 1000
    ) {
      this.log.info(
        `Armada job with job-id: ${ctx.jobId} not acknowledged within timeout (${this.jobAcknowledgementTimeout}), terminating`,
      );
      ctx = await this.hook.cancelJob(ctx, this.log);
      crashPoint("armada.timeout-cancelling");
      await ti.xcomPush(XCOM_KEYS.jobContext, ctx.toXCom());
      if (!isTerminalJobState(ctx.state)) {
        // Armada had nothing to cancel and still does not know the job: there
        // is no job to follow, and waiting longer would not change that.
        throw new ArmadaOperatorJobFailedError(
          ctx.armadaQueue,
          ctx.jobId,
          ctx.state,
          `not acknowledged by Armada within ${this.jobAcknowledgementTimeout}s, and Armada had nothing to cancel`,
        );
      }
      return ctx;
    }

    const waited = this.clock.nowMs() - ctx.submitTime.getTime();
    if (
      this.queueTimeout !== undefined &&
      WAITING_FOR_CAPACITY.has(state) &&
      waited > this.queueTimeout * 1000
    ) {
      return this.queueTimedOut(ti, ctx, waited);
    }

    // Once a run was followed, a job back in the queue (Armada re-running it) still has that run's pod to finish reading.
    if (this.containerLogs && (state === JobState.RUNNING || isTerminalJobState(state) || ctx.runId)) {
      ctx = await this.fetchLogs(context, ctx);
    }
    await ti.xcomPush(XCOM_KEYS.jobContext, ctx.toXCom());
    return ctx;
  }

  /** The job waited for capacity longer than `queueTimeout`: cancel it and fail the try (retryably). */
  private async queueTimedOut(
    ti: TaskInstance,
    start: RunningJobContext,
    waitedMs: number,
  ): Promise<RunningJobContext> {
    const reason =
      `queueTimeout fired: Armada job ${start.jobId} was still ${jobStateName(start.state)} ` +
      `${Math.round(waitedMs / 1000)}s after submission (queueTimeout ${this.queueTimeout}s)`;
    this.log.warn(`${reason}; cancelling it`);
    const ctx = await this.hook.cancelJob(start, this.log);
    crashPoint("armada.timeout-cancelling");
    await ti.xcomPush(XCOM_KEYS.jobContext, ctx.toXCom());
    // It started or ended in the meantime: follow what it really did.
    if (isTerminalJobState(ctx.state) && ctx.state !== JobState.CANCELLED) return ctx;
    throw new ArmadaOperatorJobFailedError(ctx.armadaQueue, ctx.jobId, ctx.state, reason);
  }

  /**
   * Publishes what is new in the container log of the run being followed.
   * Armada's retry engine may run the job again (a new run id, maybe on
   * another cluster), so the latest run is read at each check: when it
   * changed, the earlier run's pod is read to its end, a line marks the new
   * run, and the new run's log follows from its start.
   */
  private async fetchLogs(context: Context, start: RunningJobContext): Promise<RunningJobContext> {
    let ctx = start;
    try {
      let namespace = (this.renderedJson && this.renderedItem().namespace) || undefined;
      // Whether the followed run's pod can have a log: the job's state says so, or (with a run id) the run's.
      let podExists = STATES_WITH_POD.has(ctx.state);
      // Without a run id (a hook that does not report runs) the first cluster read is kept, as before.
      if (!ctx.cluster || ctx.runId) {
        const info = await this.hook.getJobInfo(ctx.jobId);
        if (info.runId) podExists = !info.runLeasedOnly && ctx.state !== JobState.PENDING;
        namespace ??= info.namespace;
        if (info.runId && info.runId !== ctx.runId) {
          if (ctx.runId && ctx.cluster) {
            if (info.cluster !== ctx.cluster || info.runLeasedOnly) {
              // The rest of the earlier run's log, while its pod may still be there (and before the new
              // run's pod, of the same name, replaces it on that cluster).
              ctx = await this.fetchRunLogs(context, ctx, namespace);
            } else {
              this.log.warn(
                `Armada ran job ${ctx.jobId} again on the same cluster (${ctx.cluster}); the earlier run's pod ` +
                  `is replaced by the new run's, so what it wrote after ${ctx.lastLogTime ?? "its start"} (if anything) cannot be read`,
              );
            }
          }
          if (ctx.runId || (info.runNumber ?? 1) > 1) {
            this.log.info(
              `--- run ${info.runNumber ?? "?"} of job ${ctx.jobId} on ${info.cluster ?? "an unknown cluster"} ---`,
            );
          }
          // Learning the run of a context that had none (older XCom): its lines are that run's, keep the position.
          const lastLogTime = ctx.runId ? null : ctx.lastLogTime;
          ctx = ctx.with({
            runId: info.runId,
            runNumber: info.runNumber,
            cluster: info.cluster,
            lastLogTime,
          });
        } else if (!ctx.cluster && info.cluster) {
          ctx = ctx.with({ cluster: info.cluster });
        }
      }
      if (!ctx.cluster || !podExists) return ctx;
      // Said once per try, when logs are first read and only when the
      // kubeconfig's own credentials are a fixed token to a remote cluster.
      const manager = this.podManager as Partial<KubernetesPodLogManager>;
      if ((await manager.usesFixedRemoteToken?.(ctx.cluster)) && firstTimeThisTry(context.ti, "k8s-token")) {
        this.log.warn(
          `containerLogs is set without k8sTokenRetriever: logs of cluster ${ctx.cluster} are read with the ` +
            "kubeconfig's fixed token, which may expire during a long job; pass k8sTokenRetriever to refresh it",
        );
      }
      ctx = await this.fetchRunLogs(context, ctx, namespace);
      this.lastLogError = undefined;
    } catch (err) {
      // Logs are a convenience: failing to read them must not fail the job's
      // task. Said once per distinct problem and try, not at every poll (a
      // deferrable task is a fresh operator copy at each poll).
      const message = `Error fetching logs of Armada job ${ctx.jobId}: ${(err as Error).message}`;
      if (message !== this.lastLogError && firstTimeThisTry(context.ti, `log-error:${message}`)) {
        this.log.warn(message);
      }
      this.lastLogError = message;
    }
    return ctx;
  }

  /** Publishes the followed run's new log lines from its cluster; returns the context with the new position. */
  private async fetchRunLogs(
    context: Context,
    ctx: RunningJobContext,
    namespace: string | undefined,
  ): Promise<RunningJobContext> {
    const extractor = await this.extractor(context.ti);
    const last = await this.podManager.fetchContainerLogs({
      k8sContext: ctx.cluster!,
      namespace: namespace ?? "default",
      pod: armadaPodName(ctx.jobId),
      container: this.containerLogs!,
      ...(ctx.lastLogTime ? { sinceTime: ctx.lastLogTime } : {}),
      log: this.log,
      ...(extractor ? { linkExtractor: extractor } : {}),
    });
    return last ? ctx.with({ lastLogTime: last }) : ctx;
  }

  private async extractor(ti: TaskInstance): Promise<UrlFromLogsExtractor | undefined> {
    if (this.linkExtractor) return this.linkExtractor;
    const regexNames = Object.entries(this.extraLinks)
      .filter(([, l]) => l instanceof RegExp)
      .map(([n]) => n);
    if (regexNames.length === 0) return undefined;
    const found: string[] = [];
    for (const name of regexNames) if (await ti.xcomPull({ key: linkXComKey(name) })) found.push(name);
    this.linkExtractor = new UrlFromLogsExtractor(
      this.extraLinks,
      async (name, url) => {
        this.log.info(`Found ${name} link in the logs: ${url}`);
        await ti.xcomPush(linkXComKey(name), url);
      },
      found,
    );
    return this.linkExtractor;
  }

  private async terminated(context: Context, ctx: RunningJobContext): Promise<ArmadaOperatorResult> {
    const state = ctx.state;
    this.log.info(`Armada job ${ctx.jobId} terminated with state: ${jobStateName(state)}`);
    this.hook.forgetJob(ctx.jobId);
    if (state === JobState.SUCCEEDED) return this.result(context.ti, ctx);
    let reason = "";
    if (STATES_WITH_REASON.has(state)) {
      try {
        reason = await this.hook.getJobTerminationReason(ctx.jobId);
      } catch (err) {
        this.log.warn(`Could not read why Armada job ${ctx.jobId} ended: ${(err as Error).message}`);
      }
    }
    if (state === JobState.FAILED && this.hook.getJobFailure) {
      // The category is only on the failed event; with Armada retries, the latest run's is the one that counts.
      try {
        const failure = await this.hook.getJobFailure(ctx.armadaQueue, ctx.jobSetId, ctx.jobId);
        if (failure?.failureCategory) {
          const sub = failure.failureSubcategory ? `/${failure.failureSubcategory}` : "";
          reason = `${reason || failure.reason} [failure category: ${failure.failureCategory}${sub}]`;
        }
      } catch (err) {
        this.log.warn(
          `Could not read the failure category of Armada job ${ctx.jobId}: ${(err as Error).message}`,
        );
      }
    }
    if (state === JobState.REJECTED || this.reattachPolicy(state, reason)) {
      const fatal = new ArmadaOperatorJobFailedFatalError(ctx.armadaQueue, ctx.jobId, state, reason);
      this.log.error(fatal.message);
      throw fatal;
    }
    throw new ArmadaOperatorJobFailedError(ctx.armadaQueue, ctx.jobId, state, reason);
  }

  private async result(ti: TaskInstance, ctx: RunningJobContext): Promise<ArmadaOperatorResult> {
    const extra: Record<string, string> = {};
    for (const [name, link] of Object.entries(this.extraLinks)) {
      const url =
        typeof link === "string"
          ? this.renderedLinks[name]
          : ((await ti.xcomPull({ key: linkXComKey(name) })) as string | undefined);
      if (url) extra[name] = url;
    }
    return {
      armada_queue: ctx.armadaQueue,
      job_id: ctx.jobId,
      job_set_id: ctx.jobSetId,
      job_state: ctx.jobState,
      links: resultLinks(this.lookoutUrl(ctx.jobId), extra),
    };
  }

  /**
   * Cancels the job this task instance is following (read from XCom
   * `job_context`). A failure to cancel (after the hook's retries) is logged
   * as an error saying the job may still run, not thrown.
   */
  override async onKill(): Promise<void> {
    // Killed before this copy ran (e.g. after its trigger fired, before the
    // resume): the runner calls onKill in the try's context; use its clock too.
    const current = tryGetCurrentContext();
    if (!this.taskInstance && current?.task === this) this.attach(current);
    const ti = this.taskInstance ?? current?.ti;
    if (!ti) return;
    // onKill may run outside the task's context; write to its log all the same.
    const log = ti.log;
    let stored: unknown;
    try {
      stored = await ti.xcomPull({ key: XCOM_KEYS.jobContext });
    } catch (err) {
      log.warn(`on_kill could not read the job context: ${(err as Error).message}`);
      return;
    }
    if (!stored) return;
    const ctx = RunningJobContext.fromXCom(stored);
    if (isTerminalJobState(ctx.state)) return;
    log.info(`on_kill called, cancelling Armada job with job-id ${ctx.jobId} in queue ${ctx.armadaQueue}`);
    try {
      await this.hook.cancelJob(ctx, log);
      crashPoint("armada.cancelling");
    } catch (err) {
      log.error((err as Error).message);
    }
  }
}

/** The event of an {@link ArmadaSubmitJobTrigger} whose submit failed. */
function isSubmitFailed(event: unknown): event is SubmitFailedEvent {
  return typeof event === "object" && event !== null && typeof (event as SubmitFailedEvent).submit_failed === "string";
}

/** The job id a submit trigger's event names, if any. */
function submittedJobId(event: unknown): string | undefined {
  const id = typeof event === "object" && event !== null ? (event as { job_id?: unknown }).job_id : undefined;
  return typeof id === "string" && id !== "" ? id : undefined;
}
