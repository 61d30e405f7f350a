import nunjucks from "nunjucks";

/**
 * The template sandbox (what Airflow gets from Jinja's SandboxedEnvironment):
 * a template reaches the values it is given and nothing else — no
 * constructors, prototypes, globals or the process — and stops at a time and
 * output bound.
 *
 * Two layers, so that neither alone has to be perfect:
 * 1. {@link checkTemplateAst} refuses, before anything runs, every name and
 *    literal attribute that leads out of the data (`constructor`, `__proto__`,
 *    `this`, `process`, ...), with its line and column.
 * 2. {@link SandboxRuntime} replaces, for one render, the nunjucks runtime
 *    functions compiled templates call for variable and attribute lookups,
 *    calls and output, so computed keys (`x["con" ~ "structor"]`), values
 *    returned by methods and filters, and long or large renders are checked
 *    as they happen.
 */

/** Why the sandbox stopped a template. */
export type SandboxViolationKind = "unsafe" | "timeout" | "output";

/** Thrown inside a render when the sandbox refuses something; the renderer turns it into a field error. */
export class TemplateSandboxViolation extends Error {
  readonly kind: SandboxViolationKind;
  /** 1-based position in the template, when known before rendering. */
  readonly line: number | undefined;
  readonly column: number | undefined;
  constructor(kind: SandboxViolationKind, message: string, line?: number, column?: number) {
    super(line !== undefined ? `${message} (line ${line}, column ${column ?? 1})` : message);
    this.name = "TemplateSandboxViolation";
    this.kind = kind;
    this.line = line;
    this.column = column;
  }
}

/** The violation that caused `err` (nunjucks wraps errors thrown inside a render), if any. */
export function sandboxViolationOf(err: unknown): TemplateSandboxViolation | undefined {
  for (let e = err, depth = 0; e && depth < 10; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof TemplateSandboxViolation) return e;
  }
  return undefined;
}

/** Attributes that lead from a value to its constructor, prototype or caller, whatever the value. */
const UNSAFE_ATTRIBUTES = new Set(["constructor", "prototype", "__proto__", "caller", "callee", "arguments"]);

/** Variable names that would name the process or the JavaScript global scope. */
const UNSAFE_VARIABLES = new Set([
  "this",
  "globalThis",
  "global",
  "window",
  "require",
  "process",
  "module",
  "exports",
  "import",
  "Function",
  "eval",
  "Reflect",
  "Proxy",
  "Object",
]);

/** Whether attribute `name` is refused on any value. */
export function isUnsafeAttribute(name: string): boolean {
  // Dunder names (`__defineGetter__`, `__lookupGetter__`, ...) are JavaScript's own machinery, never data.
  return UNSAFE_ATTRIBUTES.has(name) || /^__.*__$/.test(name);
}

/** Whether variable `name` is refused (a global, or an inherited member of every object such as `toString`). */
export function isUnsafeVariable(name: string): boolean {
  // `caller` is Jinja's own variable inside `{% call %}` blocks, so only the attribute is refused.
  if (name === "caller") return false;
  return UNSAFE_VARIABLES.has(name) || isUnsafeAttribute(name) || name in Object.prototype;
}

let intrinsicSet: WeakSet<object> | undefined;

/**
 * The built-in objects of the process (global constructors, their prototypes,
 * the function constructors, `process`, `globalThis`). No template value may
 * be one of them: they are the way from data to code.
 */
function intrinsics(): WeakSet<object> {
  if (intrinsicSet) return intrinsicSet;
  const set = new WeakSet<object>();
  const add = (v: unknown) => {
    if ((typeof v === "object" && v !== null) || typeof v === "function") set.add(v);
  };
  for (const name of Object.getOwnPropertyNames(globalThis)) {
    // Data properties only: reading an accessor can load a module or print an experimental warning.
    const d = Object.getOwnPropertyDescriptor(globalThis, name);
    if (!d || !("value" in d)) continue;
    add(d.value);
    if (typeof d.value === "function") add((d.value as { prototype?: unknown }).prototype);
  }
  const fnKinds = [function () {}, async function () {}, function* () {}, async function* () {}];
  for (const f of fnKinds) {
    const proto = Object.getPrototypeOf(f) as { constructor: unknown };
    add(proto);
    add(proto.constructor);
  }
  add(globalThis);
  add(process);
  intrinsicSet = set;
  return set;
}

/** Whether `value` is one of the process's built-in objects (see {@link intrinsics}). */
export function isIntrinsic(value: unknown): boolean {
  return (
    ((typeof value === "object" && value !== null) || typeof value === "function") && intrinsics().has(value)
  );
}

interface NjNode {
  typename: string;
  lineno: number;
  colno: number;
  fields: string[];
  children?: NjNode[];
  [k: string]: unknown;
}

function unsafeAt(node: NjNode, what: string): TemplateSandboxViolation {
  // Parser positions are 0-based.
  return new TemplateSandboxViolation("unsafe", what, node.lineno + 1, node.colno + 1);
}

/**
 * Refuses, before rendering, a template that names anything outside its data:
 * unsafe variables ({@link isUnsafeVariable}), unsafe literal attributes and
 * dict keys ({@link isUnsafeAttribute}). Throws a {@link TemplateSandboxViolation}
 * with the position of the first one.
 */
export function checkTemplateAst(root: unknown): void {
  const visit = (node: unknown): void => {
    if (!node || typeof node !== "object") return;
    if (Array.isArray(node)) {
      node.forEach(visit);
      return;
    }
    const n = node as NjNode;
    if (typeof n.typename !== "string") return;
    if (n.typename === "Symbol" && typeof n.value === "string" && isUnsafeVariable(n.value)) {
      throw unsafeAt(n, `'${n.value}' is not available in templates (sandbox)`);
    }
    if (n.typename === "LookupVal") {
      const val = n.val as NjNode;
      if (val.typename === "Literal" && typeof val.value === "string" && isUnsafeAttribute(val.value)) {
        throw unsafeAt(val, `attribute '${val.value}' is not accessible in templates (sandbox)`);
      }
    }
    if (n.typename === "Pair") {
      const key = n.key as NjNode;
      if (key.typename === "Literal" && typeof key.value === "string" && isUnsafeAttribute(key.value)) {
        throw unsafeAt(key, `key '${key.value}' is not allowed in templates (sandbox)`);
      }
    }
    for (const f of n.fields) visit(n[f]);
  };
  visit(root);
}

/** Limits of one render. */
export interface RenderBounds {
  /** Wall-clock time one template field may take, in milliseconds. */
  timeoutMs: number;
  /** Text one template field may produce, in bytes (counted as it is produced). */
  maxOutputBytes: number;
  /** Time source in milliseconds. */
  nowMs: () => number;
  /** How the time bound is named in errors (the config key). */
  timeoutName: string;
  /** How the output bound is named in errors (the config key). */
  outputName: string;
}

/** Jinja's sandbox refuses longer ranges too; a bigger one is built eagerly before any bound can stop it. */
export const MAX_RANGE = 100_000;

/** The state of one render against its {@link RenderBounds}. */
export class RenderBudget {
  readonly bounds: RenderBounds;
  readonly #deadline: number;
  #produced = 0;

  constructor(bounds: RenderBounds) {
    this.bounds = bounds;
    this.#deadline = bounds.nowMs() + bounds.timeoutMs;
  }

  /** Called at every loop iteration, call, lookup and output: stops a render past its deadline. */
  step(): void {
    if (this.bounds.nowMs() > this.#deadline) {
      throw new TemplateSandboxViolation(
        "timeout",
        `rendering took longer than ${this.bounds.timeoutMs / 1000} s (${this.bounds.timeoutName})`,
      );
    }
  }

  /** Counts `n` more bytes of output. */
  output(n: number): void {
    this.#produced += n;
    this.checkSize(this.#produced);
    this.step();
  }

  /** Refuses a single value or output of `n` bytes when it is over the output bound. */
  checkSize(n: number): void {
    if (n > this.bounds.maxOutputBytes) {
      throw new TemplateSandboxViolation(
        "output",
        `the template renders more than ${this.bounds.maxOutputBytes} bytes (${this.bounds.outputName})`,
      );
    }
  }
}

type NjRuntime = Record<string, unknown> & {
  memberLookup: (...args: unknown[]) => unknown;
  callWrap: (fn: unknown, name: string, context: unknown, args: unknown[]) => unknown;
  contextOrFrameLookup: (context: unknown, frame: unknown, name: string) => unknown;
  suppressValue: (val: unknown, autoescape: boolean) => unknown;
};

const baseRuntime = (nunjucks as unknown as { runtime: NjRuntime }).runtime;

/** Methods of Jinja compatibility (dict.get, ...) whose first argument is a key of the object. */
const KEY_METHODS = new Set(["get", "pop", "setdefault", "has_key"]);

function refuseKey(key: unknown): void {
  if (typeof key === "string" && isUnsafeAttribute(key)) {
    throw new TemplateSandboxViolation("unsafe", `key '${key}' is not accessible in templates (sandbox)`);
  }
}

/** Refuses a value a template must never hold, and a string over the output bound. */
export function checkTemplateValue(value: unknown, what: string, budget: RenderBudget): unknown {
  if (isIntrinsic(value)) {
    throw new TemplateSandboxViolation(
      "unsafe",
      `${what} gives a built-in object, not accessible in templates (sandbox)`,
    );
  }
  if (typeof value === "string") budget.checkSize(value.length);
  return value;
}

function checkAttribute(obj: unknown, key: unknown): string {
  if (typeof key === "symbol") {
    throw new TemplateSandboxViolation(
      "unsafe",
      "symbol attributes are not accessible in templates (sandbox)",
    );
  }
  const k = String(key);
  if (isUnsafeAttribute(k)) {
    throw new TemplateSandboxViolation("unsafe", `attribute '${k}' is not accessible in templates (sandbox)`);
  }
  if (typeof obj === "function" && !Object.prototype.hasOwnProperty.call(obj, k)) {
    // call/apply/bind/toString of a function would let a template re-target or read code.
    throw new TemplateSandboxViolation("unsafe", `functions have no attribute '${k}' in templates (sandbox)`);
  }
  if (isIntrinsic(obj)) {
    throw new TemplateSandboxViolation(
      "unsafe",
      `built-in objects are not accessible in templates (sandbox)`,
    );
  }
  return k;
}

/** Refuses a string method call whose result would be over the output bound, before it allocates it. */
function checkStringGrowth(obj: unknown, key: string, args: unknown[], budget: RenderBudget): void {
  if (typeof obj !== "string") return;
  if (key === "repeat") budget.checkSize(obj.length * Number(args[0] ?? 0));
  if (key === "padStart" || key === "padEnd") budget.checkSize(Number(args[0] ?? 0));
}

/** `fn` (a method of `obj` found as attribute `key`) with its arguments and result checked. */
function guardMethod(obj: unknown, key: string, fn: (...a: unknown[]) => unknown, budget: RenderBudget) {
  return function sandboxedMethod(...args: unknown[]): unknown {
    budget.step();
    if (KEY_METHODS.has(key)) refuseKey(args[0]);
    if (key === "update" && typeof args[0] === "object" && args[0] !== null)
      Object.keys(args[0]).forEach(refuseKey);
    checkStringGrowth(obj, key, args, budget);
    return checkTemplateValue(fn(...args), `'${key}()'`, budget);
  };
}

/**
 * A nunjucks runtime for one render: the real runtime with variable and
 * attribute lookups, calls and output checked against the sandbox rules and
 * `budget`. Compiled templates receive their runtime as an argument, so this
 * object is used by one render only and the shared runtime is left as it is.
 */
export function sandboxRuntime(budget: RenderBudget): NjRuntime {
  const rt = Object.create(baseRuntime) as NjRuntime;
  rt.memberLookup = function memberLookup(this: unknown, ...args: unknown[]): unknown {
    budget.step();
    // Four arguments is Jinja compatibility's slice (`x[1:3]`): numeric indexes only.
    if (args.length === 4) return baseRuntime.memberLookup.apply(this, args);
    const [obj] = args;
    const key = checkAttribute(obj, args[1]);
    const value = baseRuntime.memberLookup.apply(this, args);
    if (typeof value === "function") {
      // nunjucks hands methods out wrapped in a closure: the check is on the property itself.
      checkTemplateValue(
        obj === null || obj === undefined ? undefined : (Object(obj) as Record<string, unknown>)[key],
        `attribute '${key}'`,
        budget,
      );
      return guardMethod(obj, key, value as (...a: unknown[]) => unknown, budget);
    }
    return checkTemplateValue(value, `attribute '${key}'`, budget);
  };
  rt.callWrap = (fn, name, context, args) => {
    budget.step();
    if (isIntrinsic(fn)) {
      throw new TemplateSandboxViolation(
        "unsafe",
        `'${name}' is a built-in function, not callable in templates (sandbox)`,
      );
    }
    return checkTemplateValue(baseRuntime.callWrap(fn, name, context, args), `'${name}()'`, budget);
  };
  rt.contextOrFrameLookup = (context, frame, name) => {
    budget.step();
    if (isUnsafeVariable(name)) {
      throw new TemplateSandboxViolation("unsafe", `'${name}' is not available in templates (sandbox)`);
    }
    return baseRuntime.contextOrFrameLookup(context, frame, name);
  };
  rt.suppressValue = (val, autoescape) => {
    const out = baseRuntime.suppressValue(val, autoescape);
    budget.output(typeof out === "string" ? out.length : String(out).length);
    return out;
  };
  return rt;
}

/** Filters whose arguments name attributes of the items (`sort(attribute=...)`, `groupby`, ...). */
const ATTRIBUTE_FILTERS = new Set(["sort", "groupby", "join", "sum", "selectattr", "rejectattr", "dictsort"]);
/** Filters whose first argument is a width or count they loop over before returning. */
const SIZE_FILTERS = new Set(["center", "indent", "batch", "slice"]);

/** `filter` (named `name`) with its arguments and result checked against the render in progress. */
export function guardFilter(
  name: string,
  filter: (...a: unknown[]) => unknown,
  active: () => RenderBudget | undefined,
): (...a: unknown[]) => unknown {
  return function sandboxedFilter(this: unknown, ...args: unknown[]): unknown {
    const budget = active();
    if (!budget) return filter.apply(this, args);
    budget.step();
    if (ATTRIBUTE_FILTERS.has(name)) args.slice(1).forEach(refuseKey);
    if (SIZE_FILTERS.has(name) && typeof args[1] === "number") {
      if (args[1] > MAX_RANGE) {
        throw new TemplateSandboxViolation(
          "output",
          `filter ${name}: ${args[1]} is larger than the sandbox allows (${MAX_RANGE})`,
        );
      }
    }
    return checkTemplateValue(filter.apply(this, args), `filter ${name}`, budget);
  };
}

/** nunjucks' `range` refusing ranges longer than {@link MAX_RANGE}. */
export function boundedRange(range: (...a: unknown[]) => unknown) {
  return function sandboxedRange(start: unknown, stop?: unknown, step?: unknown): unknown {
    const s = Number(stop === undefined ? 0 : start);
    const e = Number(stop === undefined ? start : stop);
    const st = stop === undefined || !step ? 1 : Number(step);
    const n = st > 0 ? Math.ceil((e - s) / st) : Math.ceil((s - e) / -st);
    if (!Number.isFinite(n) || n > MAX_RANGE) {
      throw new TemplateSandboxViolation(
        "output",
        `range(${[start, stop, step].filter((a) => a !== undefined).join(", ")}) is longer than the sandbox allows (${MAX_RANGE} items)`,
      );
    }
    return stop === undefined ? range(start) : range(start, stop, step);
  };
}

type NodeCtor = new (lineno: number, colno: number, ...rest: unknown[]) => NjNode;
const nodes = (nunjucks as unknown as { nodes: Record<string, NodeCtor> }).nodes;

/**
 * Makes every bit of output and every loop iteration of `root` go through the
 * runtime's `suppressValue`, where the budget is counted: literal text becomes
 * a literal expression and each loop body starts with an empty output.
 */
export function instrumentForBudget(root: unknown): void {
  const visit = (node: unknown): void => {
    if (!node || typeof node !== "object") return;
    if (Array.isArray(node)) {
      node.forEach(visit);
      return;
    }
    const n = node as NjNode;
    if (typeof n.typename !== "string") return;
    if (n.typename === "Output" && n.children) {
      n.children = n.children.map((c) =>
        c.typename === "TemplateData" ? new nodes.Literal!(c.lineno, c.colno, c.value) : c,
      );
    }
    if ((n.typename === "For" || n.typename === "AsyncEach" || n.typename === "AsyncAll") && n.body) {
      const body = n.body as NjNode;
      const tick = new nodes.Output!(n.lineno, n.colno, [new nodes.Literal!(n.lineno, n.colno, "")]);
      body.children = [tick, ...(body.children ?? [])];
    }
    for (const f of n.fields) visit(n[f]);
  };
  visit(root);
}
