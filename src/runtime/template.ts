import nunjucks from "nunjucks";
import { dateStrings, type Context } from "./context.js";
import { RuntimeError, TemplateRenderError } from "./errors.js";
import { macros, strftime } from "./macros.js";
import { redactSecrets } from "./secrets-masker.js";

let jinjaCompatInstalled = false;

/** Extra globals and filters for templates (Airflow's `user_defined_macros` / `user_defined_filters`). */
export interface TemplateEnvOptions {
  globals?: Record<string, unknown>;
  filters?: Record<string, (value: unknown, ...args: unknown[]) => unknown>;
}

function pyFormat(fmt: unknown, ...args: unknown[]): string {
  let i = 0;
  const named = args.length === 1 && typeof args[0] === "object" && args[0] !== null ? args[0] : undefined;
  return String(fmt).replace(
    /%(\(([^)]+)\))?([sdifr%])/g,
    (_m, _n, name: string | undefined, conv: string) => {
      if (conv === "%") return "%";
      const v = name !== undefined && named ? (named as Record<string, unknown>)[name] : args[i++];
      if (conv === "d" || conv === "i") return String(Math.trunc(Number(v)));
      if (conv === "f") return Number(v).toFixed(6);
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
  /** The underlying nunjucks environment (add filters or globals here). */
  readonly nunjucks: nunjucks.Environment;

  constructor(options: TemplateEnvOptions = {}) {
    if (!jinjaCompatInstalled) {
      nunjucks.installJinjaCompat();
      jinjaCompatInstalled = true;
    }
    this.nunjucks = new nunjucks.Environment(null, { autoescape: false, throwOnUndefined: true });
    this.nunjucks.addFilter("tojson", (v: unknown, indent?: number) => JSON.stringify(v, null, indent));
    this.nunjucks.addFilter("format", pyFormat);
    this.nunjucks.addFilter("strftime", (v: unknown, fmt: string) => strftime(new Date(v as string), fmt));
    for (const [name, fn] of Object.entries(options.filters ?? {})) this.nunjucks.addFilter(name, fn);
    for (const [name, value] of Object.entries(options.globals ?? {})) this.nunjucks.addGlobal(name, value);
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
    const single = /^\{\{([\s\S]*)\}\}$/.exec(template);
    try {
      if (single && !single[1]!.includes("{{") && !single[1]!.includes("}}")) {
        let captured: { value: unknown } | undefined;
        const capture = (v: unknown) => {
          captured = { value: v };
          return "";
        };
        this.nunjucks.renderString(`{{ __armada_native__((${single[1]})) }}`, {
          ...ns,
          __armada_native__: capture,
        });
        if (!captured || captured.value === undefined) {
          throw new Error("attempted to output null or undefined value");
        }
        return captured.value;
      }
      return this.nunjucks.renderString(template, ns);
    } catch (err) {
      const variable = findUndefinedVariable(template, ns, this.nunjucks);
      const detail = variable
        ? `'${variable}' is undefined`
        : redactSecrets(err instanceof Error ? err.message.replace(/\s+/g, " ").trim() : String(err));
      throw new TemplateRenderError(
        fieldPath,
        `${detail} (template: ${JSON.stringify(redactSecrets(template))})`,
        variable,
        err,
      );
    }
  }
}

interface NjNode {
  typename: string;
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
