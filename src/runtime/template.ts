import { createRequire } from "node:module";
import nunjucks from "nunjucks";
import type { Clock } from "../common/clock.js";
import { currentRuntimeConfig, type RuntimeConfig } from "./runtime-config.js";
import { dateStrings, type Context } from "./context.js";
import { RuntimeError, TemplateRenderError } from "./errors.js";
import { macros, strftime } from "./macros.js";
import { redactSecrets } from "./secrets-masker.js";
import {
  RenderBudget,
  boundedRange,
  checkTemplateAst,
  guardFilter,
  instrumentForBudget,
  sandboxRuntime,
  sandboxViolationOf,
} from "./template-sandbox.js";

let jinjaCompatInstalled = false;

/** Options of {@link TemplateEnv}: extra globals and filters (Airflow's `user_defined_macros` / `user_defined_filters`) and the render bounds. */
export interface TemplateEnvOptions {
  globals?: Record<string, unknown>;
  filters?: Record<string, (value: unknown, ...args: unknown[]) => unknown>;
  /**
   * Seconds one template field may take to render; a longer render is stopped
   * with an error naming the field.
   * @default config `[core] template_render_timeout_s`, else 10
   */
  renderTimeoutS?: number;
  /**
   * Bytes of text one template field may render; more is stopped with an
   * error naming the field.
   * @default config `[core] template_max_output_bytes`, else 4 MiB
   */
  maxOutputBytes?: number;
  /** Time source of the render timeout. @default the wall clock */
  clock?: Pick<Clock, "nowMs">;
  /** Settings the defaults of the bounds above come from. @default {@link currentRuntimeConfig} */
  config?: RuntimeConfig;
}

/** The variable the native-value rendering hands the expression's value to (not a dunder: those are refused). */
const NATIVE_CAPTURE = "_armada_native_capture";

interface NjParser {
  parseAsRoot(): NjNode;
  extensions: unknown[];
  tokens: { lineno: number; colno: number; index: number; len: number };
}
interface NjModule {
  parser: { Parser: new (tokens: unknown) => NjParser };
  lexer: { lex(src: string, opts: unknown): unknown };
  compiler: {
    Compiler: new (
      name: string | undefined,
      throwOnUndefined: boolean,
    ) => { compile(ast: unknown): void; getCode(): string };
  };
  nodes: Record<string, new (lineno: number, colno: number, ...rest: unknown[]) => NjNode>;
}
const nj = nunjucks as unknown as NjModule;
// Not re-exported by nunjucks' index; it only lifts `super()` and async constructs, as nunjucks' own compile does.
const transformer = createRequire(import.meta.url)("nunjucks/src/transformer.js") as {
  transform(ast: unknown, asyncFilters: string[], name?: string): unknown;
};

/** A template that does not parse: the message and its 1-based position. */
class TemplateSyntaxProblem extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(message);
  }
}

function positiveOption(name: string, value: number): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new RuntimeError(
      "invalid_argument",
      `TemplateEnv option ${name} must be a positive number, got ${String(value)}`,
    );
  }
  return value;
}

function pyFormat(fmt: unknown, ...args: unknown[]): string {
  let i = 0;
  const named = args.length === 1 && typeof args[0] === "object" && args[0] !== null ? args[0] : undefined;
  return String(fmt).replace(
    /%(\(([^)]+)\))?([sdifr%])/g,
    (_m, _n, name: string | undefined, conv: string) => {
      if (conv === "%") return "%";
      if (name === undefined && i >= args.length) {
        throw new RuntimeError("template", `format: not enough arguments for ${JSON.stringify(String(fmt))}`);
      }
      const v = name !== undefined && named ? (named as Record<string, unknown>)[name] : args[i++];
      const n = Number(v);
      if ((conv === "d" || conv === "i" || conv === "f") && (typeof v === "object" || !Number.isFinite(n))) {
        throw new RuntimeError(
          "template",
          `format: %${conv} needs a number, got ${JSON.stringify(v) ?? String(v)}`,
        );
      }
      if (conv === "d" || conv === "i") return String(Math.trunc(n));
      if (conv === "f") return n.toFixed(6);
      if (conv === "r") return JSON.stringify(v);
      return typeof v === "object" && v !== null ? JSON.stringify(v) : String(v);
    },
  );
}

/** How errors name `key` inside `parent`: `a.b` for identifiers, `a["x-y"]` otherwise. */
export function childFieldPath(parent: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${parent}.${key}` : `${parent}[${JSON.stringify(key)}]`;
}

/**
 * The template engine: nunjucks with Jinja compatibility, strict undefined
 * variables, no HTML escaping, the `tojson` and `format` filters and Airflow's
 * `macros`.
 */
export class TemplateEnv {
  /**
   * The underlying nunjucks environment (add filters or globals here). Render
   * through {@link TemplateEnv.render}: rendering with nunjucks directly
   * bypasses the sandbox.
   */
  readonly nunjucks: nunjucks.Environment;
  /** Seconds one template field may take to render. */
  readonly renderTimeoutS: number;
  /** Bytes of text one template field may render. */
  readonly maxOutputBytes: number;
  readonly #clock: Pick<Clock, "nowMs">;
  /** The budget of the render in progress (renders are synchronous; a nested one saves and restores it). */
  #active: RenderBudget | undefined;

  constructor(options: TemplateEnvOptions = {}) {
    if (!jinjaCompatInstalled) {
      nunjucks.installJinjaCompat();
      jinjaCompatInstalled = true;
    }
    // dev: keep the error thrown inside a render as the cause (nunjucks otherwise re-creates it from its message).
    this.nunjucks = new nunjucks.Environment(null, { autoescape: false, throwOnUndefined: true, dev: true });
    this.nunjucks.addFilter("tojson", (v: unknown, indent?: number) => JSON.stringify(v, null, indent));
    this.nunjucks.addFilter("format", pyFormat);
    this.nunjucks.addFilter("strftime", (v: unknown, fmt: string) => {
      const d = v instanceof Date ? v : new Date(v as string);
      if (Number.isNaN(d.getTime())) {
        throw new RuntimeError(
          "template",
          `strftime: ${JSON.stringify(v) ?? String(v)} is not a date or timestamp`,
        );
      }
      if (typeof fmt !== "string")
        throw new RuntimeError("template", "strftime: the format must be a string");
      return strftime(d, fmt);
    });
    for (const [name, fn] of Object.entries(options.filters ?? {})) this.nunjucks.addFilter(name, fn);
    const njGlobals = (this.nunjucks as unknown as { globals: Record<string, unknown> }).globals;
    this.nunjucks.addGlobal("range", boundedRange(njGlobals.range as (...a: unknown[]) => unknown));
    for (const [name, value] of Object.entries(options.globals ?? {})) this.nunjucks.addGlobal(name, value);
    // Every filter, also one added later through `nunjucks.addFilter`, is checked against the render in progress.
    const getFilter = this.nunjucks.getFilter.bind(this.nunjucks);
    const guarded = new WeakMap<object, (...a: unknown[]) => unknown>();
    this.nunjucks.getFilter = (name: string) => {
      const f = getFilter(name) as (...a: unknown[]) => unknown;
      let g = guarded.get(f);
      if (!g) guarded.set(f, (g = guardFilter(name, f, () => this.#active)));
      return g as ReturnType<nunjucks.Environment["getFilter"]>;
    };
    // Read only when an option is not given: a TemplateEnv with both set reads no setting at all.
    const configured = () => options.config ?? currentRuntimeConfig();
    this.renderTimeoutS = positiveOption(
      "renderTimeoutS",
      options.renderTimeoutS ?? configured().core.template_render_timeout_s,
    );
    this.maxOutputBytes = positiveOption(
      "maxOutputBytes",
      options.maxOutputBytes ?? configured().core.template_max_output_bytes,
    );
    this.#clock = options.clock ?? { nowMs: () => Date.now() };
  }

  /** The variables a template sees for `context`, with Airflow's snake_case names. */
  namespace(context: Context): Record<string, unknown> {
    const ti = context.ti;
    const tiView = {
      dag_id: ti.dagId,
      task_id: ti.taskId,
      run_id: ti.runId,
      map_index: ti.mapIndex,
      try_number: ti.tryNumber,
      max_tries: ti.maxTries,
      xcom_pull: () => {
        throw new RuntimeError("template", "ti.xcom_pull is asynchronous and cannot be called in a template");
      },
    };
    const dagRun = {
      dag_id: context.dagRun.dagId,
      run_id: context.dagRun.runId,
      logical_date: context.dagRun.logicalDate.toISOString(),
      conf: context.dagRun.conf,
      run_type: context.dagRun.runType,
    };
    const ds = dateStrings(context.logicalDate);
    return {
      dag: { dag_id: context.dag.dagId },
      task: { task_id: context.task.taskId },
      ti: tiView,
      task_instance: tiView,
      run_id: context.runId,
      logical_date: context.logicalDate.toISOString(),
      data_interval_start: context.dataIntervalStart.toISOString(),
      data_interval_end: context.dataIntervalEnd.toISOString(),
      ds: ds.ds,
      ds_nodash: ds.dsNodash,
      ts: ds.ts,
      ts_nodash: ds.tsNodash,
      ts_nodash_with_tz: ds.tsNodashWithTz,
      params: context.params,
      conf: context.conf,
      dag_run: dagRun,
      macros,
    };
  }

  /**
   * Renders `value`: every string nested in plain objects and arrays is a
   * template; other values are returned as they are. A string that is exactly
   * one `{{ expr }}` evaluates to the expression's native value (number, object,
   * ...), as Airflow's native rendering. `fieldPath` names the value in errors.
   */
  render(value: unknown, context: Context, fieldPath: string): unknown {
    return this.renderWith(value, this.namespace(context), fieldPath);
  }

  /** As {@link render} with an explicit variable namespace. */
  renderWith(value: unknown, ns: Record<string, unknown>, fieldPath: string): unknown {
    if (typeof value === "string") return this.renderString(value, ns, fieldPath);
    if (Array.isArray(value)) return value.map((v, i) => this.renderWith(v, ns, `${fieldPath}[${i}]`));
    if (value !== null && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
      // fromEntries keeps a "__proto__" key (JSON.parse makes one) as data; assignment would set the prototype.
      return Object.fromEntries(
        Object.entries(value).map(([k, v]) => [k, this.renderWith(v, ns, childFieldPath(fieldPath, k))]),
      );
    }
    return value;
  }

  private renderString(template: string, ns: Record<string, unknown>, fieldPath: string): unknown {
    if (!template.includes("{{") && !template.includes("{%") && !template.includes("{#")) return template;
    const quoted = () => JSON.stringify(redactSecrets(template));
    let ast: NjNode;
    try {
      ast = this.parse(template);
      checkTemplateAst(ast);
    } catch (err) {
      if (err instanceof TemplateSyntaxProblem) {
        throw new TemplateRenderError(
          fieldPath,
          `template syntax error at line ${err.line}, column ${err.column}: ${redactSecrets(err.message)} (template: ${quoted()})`,
          undefined,
          err,
        );
      }
      const violation = sandboxViolationOf(err);
      if (violation)
        throw new TemplateRenderError(
          fieldPath,
          `${violation.message} (template: ${quoted()})`,
          undefined,
          err,
        );
      throw err;
    }
    const single = /^\{\{([\s\S]*)\}\}$/.exec(template);
    const nativeExpr =
      single && !single[1]!.includes("{{") && !single[1]!.includes("}}") ? singleExpression(ast) : undefined;
    try {
      if (nativeExpr) {
        let captured: { value: unknown } | undefined;
        const capture = (v: unknown) => {
          captured = { value: v };
          return "";
        };
        const { Root, Output, FunCall, Symbol: Sym, NodeList } = nj.nodes;
        const at = [nativeExpr.lineno, nativeExpr.colno] as const;
        const call = new FunCall!(...at, new Sym!(...at, NATIVE_CAPTURE), new NodeList!(...at, [nativeExpr]));
        this.run(new Root!(0, 0, [new Output!(...at, [call])]), { ...ns, [NATIVE_CAPTURE]: capture });
        if (!captured || captured.value === undefined) {
          throw new Error("attempted to output null or undefined value");
        }
        return captured.value;
      }
      return this.run(ast, ns);
    } catch (err) {
      const violation = sandboxViolationOf(err);
      if (violation)
        throw new TemplateRenderError(
          fieldPath,
          `${violation.message} (template: ${quoted()})`,
          undefined,
          err,
        );
      const variable = findUndefinedVariable(template, ns, this.nunjucks);
      const own = templateErrorOf(err);
      const detail = variable
        ? `'${variable}' is undefined`
        : redactSecrets(
            own ? own.message : err instanceof Error ? err.message.replace(/\s+/g, " ").trim() : String(err),
          );
      throw new TemplateRenderError(fieldPath, `${detail} (template: ${quoted()})`, variable, err);
    }
  }

  /** Parses `template`, turning any parser failure (some are plain TypeErrors) into a positioned {@link TemplateSyntaxProblem}. */
  private parse(template: string): NjNode {
    const opts = (this.nunjucks as unknown as { opts: unknown }).opts;
    const parser = new nj.parser.Parser(nj.lexer.lex(template, opts));
    parser.extensions = (this.nunjucks as unknown as { extensionsList: unknown[] }).extensionsList;
    try {
      return parser.parseAsRoot();
    } catch (err) {
      const e = err as { lineno?: number; colno?: number; message?: string; name?: string };
      const atEnd = parser.tokens.index >= parser.tokens.len;
      const line = typeof e.lineno === "number" ? e.lineno : parser.tokens.lineno + 1;
      const column = typeof e.colno === "number" ? e.colno : parser.tokens.colno + 1;
      const message =
        e.name === "Template render error" && e.message
          ? e.message
          : atEnd
            ? "unexpected end of template (an expression, bracket or tag is not closed)"
            : "invalid syntax";
      throw new TemplateSyntaxProblem(message, line, column);
    }
  }

  /** Compiles `ast` and renders it with the sandboxed runtime and a fresh budget. */
  private run(ast: NjNode, ctx: Record<string, unknown>): string {
    instrumentForBudget(ast);
    const env = this.nunjucks as unknown as { opts: { throwOnUndefined?: boolean }; asyncFilters: string[] };
    const compiler = new nj.compiler.Compiler(undefined, env.opts.throwOnUndefined ?? false);
    compiler.compile(transformer.transform(ast, env.asyncFilters));
    type Root = (env: unknown, context: unknown, frame: unknown, runtime: unknown, cb: unknown) => void;
    // As nunjucks loads its own compiled templates; the code is generated from the checked AST, never from user text directly.
    const props = new Function(compiler.getCode())() as Record<string, unknown> & { root: Root };
    const budget = new RenderBudget({
      timeoutMs: this.renderTimeoutS * 1000,
      maxOutputBytes: this.maxOutputBytes,
      nowMs: () => this.#clock.nowMs(),
      timeoutName: "[core] template_render_timeout_s",
      outputName: "[core] template_max_output_bytes",
    });
    const runtime = sandboxRuntime(budget);
    const root: Root = (e, context, frame, _runtime, cb) => props.root(e, context, frame, runtime, cb);
    const tmpl = new nunjucks.Template({ type: "code", obj: { ...props, root } } as never, this.nunjucks);
    const outer = this.#active;
    this.#active = budget;
    try {
      const out = tmpl.render(ctx);
      // The budget counts UTF-16 units as text is produced; the bound is in bytes.
      budget.checkSize(Buffer.byteLength(out, "utf8"));
      return out;
    } finally {
      this.#active = outer;
    }
  }
}

/** A macro's or filter's own error (a RuntimeError "template") under nunjucks' wrapping, if that was the cause. */
function templateErrorOf(err: unknown): RuntimeError | undefined {
  for (let e = err, depth = 0; e && depth < 10; e = (e as { cause?: unknown }).cause, depth++) {
    if (RuntimeError.is(e) && e.code === "template") return e;
  }
  return undefined;
}

/** The expression of a template that is exactly one `{{ expr }}`, else undefined. */
function singleExpression(ast: NjNode): NjNode | undefined {
  const children = ast.children ?? [];
  if (children.length !== 1 || children[0]!.typename !== "Output") return undefined;
  const parts = (children[0]!.children ?? []).filter(
    (c) => !(c.typename === "TemplateData" && c.value === ""),
  );
  return parts.length === 1 && parts[0]!.typename !== "TemplateData" ? parts[0] : undefined;
}

interface NjNode {
  typename: string;
  lineno: number;
  colno: number;
  fields?: string[];
  children?: NjNode[];
  [k: string]: unknown;
}

/** Dotted path of a Symbol/LookupVal chain with literal keys, or undefined when it is not such a chain. */
function chainOf(node: NjNode): (string | number)[] | undefined {
  if (node.typename === "Symbol") return [node.value as string];
  if (node.typename === "LookupVal") {
    const target = chainOf(node.target as NjNode);
    const val = node.val as NjNode;
    if (!target || val.typename !== "Literal") return undefined;
    return [...target, val.value as string | number];
  }
  return undefined;
}

function findUndefinedVariable(
  template: string,
  ns: Record<string, unknown>,
  env: nunjucks.Environment,
): string | undefined {
  let ast: NjNode;
  try {
    ast = (nunjucks as unknown as { parser: { parse(s: string): NjNode } }).parser.parse(template);
  } catch {
    return undefined;
  }
  const assigned = new Set<string>();
  const chains: (string | number)[][] = [];
  const walk = (node: unknown): void => {
    if (!node || typeof node !== "object") return;
    const n = node as NjNode;
    if (typeof n.typename !== "string") return;
    if (n.typename === "Set")
      for (const t of (n.targets as NjNode[]) ?? [])
        if (t.typename === "Symbol") assigned.add(t.value as string);
    if (n.typename === "For" || n.typename === "AsyncEach" || n.typename === "AsyncAll") {
      const name = n.name as NjNode;
      if (name.typename === "Symbol") assigned.add(name.value as string);
      for (const c of name.children ?? []) if (c.typename === "Symbol") assigned.add(c.value as string);
    }
    if (n.typename === "Filter") {
      // The filter's name is not a variable: only its arguments (the piped value first) are looked at.
      walk(n.args);
      return;
    }
    const chain = chainOf(n);
    if (chain) {
      chains.push(chain);
      return;
    }
    for (const f of n.fields ?? []) {
      const v = n[f];
      if (Array.isArray(v)) v.forEach(walk);
      else walk(v);
    }
    for (const c of n.children ?? []) walk(c);
  };
  walk(ast);
  const globals = (env as unknown as { globals: Record<string, unknown> }).globals ?? {};
  for (const chain of chains) {
    const root = chain[0] as string;
    if (assigned.has(root) || root === "loop") continue;
    let current: unknown = root in ns ? ns[root] : globals[root];
    if (current === undefined) return root;
    for (let i = 1; i < chain.length; i++) {
      current =
        current === null || current === undefined
          ? undefined
          : (current as Record<string | number, unknown>)[chain[i]!];
      if (current === undefined) {
        return chain
          .slice(0, i + 1)
          .reduce<string>(
            (acc, p, j) => (j === 0 ? String(p) : typeof p === "number" ? `${acc}[${p}]` : `${acc}.${p}`),
            "",
          );
      }
    }
  }
  return undefined;
}

let defaultEnv: TemplateEnv | undefined;

/** The shared default {@link TemplateEnv}. */
export function defaultTemplateEnv(): TemplateEnv {
  return (defaultEnv ??= new TemplateEnv());
}

/** Renders `value` (see {@link TemplateEnv.render}) with `env` or the default environment. */
export function renderTemplate(
  value: unknown,
  context: Context,
  options: { env?: TemplateEnv; fieldPath?: string } = {},
): unknown {
  return (options.env ?? defaultTemplateEnv()).render(value, context, options.fieldPath ?? "value");
}
