import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { BaseOperator, DAG, TemplateEnv, TemplateRenderError, type Context, macros } from "armada-airflow";
import { fakeContext } from "./fake-context.js";

class Echo extends BaseOperator {
  jobRequest: unknown;
  jobSetPrefix: string;
  constructor(o: { taskId: string; dag?: DAG; jobRequest: unknown; jobSetPrefix?: string }) {
    super(o);
    this.templateFields = ["job_request", "job_set_prefix"];
    this.jobRequest = o.jobRequest;
    this.jobSetPrefix = o.jobSetPrefix ?? "";
  }
  async execute(_context: Context): Promise<unknown> {
    return this.jobRequest;
  }
}

function sanitize(v: unknown): unknown {
  if (typeof v === "string") return v.replace(/[{]/g, "(");
  if (Array.isArray(v)) return v.map(sanitize);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, sanitize(x)]));
  return v;
}

describe("templating", () => {
  const env = new TemplateEnv();

  it("renders Airflow variables and macros in nested objects and arrays", () => {
    const dag = new DAG({ dagId: "d", params: { n: 3 } });
    const op = new Echo({
      taskId: "t",
      dag,
      jobRequest: { a: ["{{ ds }}", { b: "x-{{ run_id }}-{{ params.n }}" }], c: "{{ macros.ds_add(ds, 5) }}", d: 7 },
      jobSetPrefix: "{{ dag.dag_id }}-{{ ti.try_number }}-{{ ds_nodash }}",
    });
    const ctx = fakeContext(op, { logicalDate: new Date("2024-03-01T10:20:30Z"), params: { n: 3 } });
    op.renderTemplateFields(ctx, env);
    expect(op.jobRequest).toEqual({ a: ["2024-03-01", { b: "x-manual__1-3" }], c: "2024-03-06", d: 7 });
    expect(op.jobSetPrefix).toBe("d-1-20240301");
  });

  it("keeps the native value of a string that is one expression", () => {
    const op = new Echo({ taskId: "t", jobRequest: { n: "{{ params.n }}", o: "{{ params.obj }}", s: " {{ params.n }}" } });
    const ctx = fakeContext(op, { params: { n: 3, obj: { k: [1, 2] } } });
    op.renderTemplateFields(ctx, env);
    expect(op.jobRequest).toEqual({ n: 3, o: { k: [1, 2] }, s: " 3" });
  });

  it("supports tojson, format and Jinja compatibility", () => {
    const ctx = fakeContext(new Echo({ taskId: "t", jobRequest: null }), { params: { l: [1, "a"] } });
    expect(env.render("{{ params.l | tojson }}", ctx, "f")).toBe('[1,"a"]');
    expect(env.render("{{ '%s-%d' | format('x', 4) }}", ctx, "f")).toBe("x-4");
    expect(env.render("{{ 'a,b'.split(',') | join('+') }}", ctx, "f")).toBe("a+b");
    expect(env.render("{{ ts }}|{{ ts_nodash }}", ctx, "f")).toBe("2024-01-01T00:00:00+00:00|20240101T000000");
    expect(env.render("{% for x in params.l %}{{ x }};{% endfor %}", ctx, "f")).toBe("1;a;");
    expect(env.render("{{ missing | default('dflt') }}", ctx, "f")).toBe("dflt");
    expect(macros.ds_format("2015-01-01", "%Y-%m-%d", "%m-%d-%y")).toBe("01-01-15");
  });

  it("an undefined variable names the template field path and the variable", () => {
    const op = new Echo({ taskId: "t", jobRequest: { pods: [{ args: ["ok", "{{ params.nope }}"] }] } });
    const ctx = fakeContext(op, {});
    let err: unknown;
    try {
      op.renderTemplateFields(ctx, env);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TemplateRenderError);
    const e = err as TemplateRenderError;
    expect(e.fieldPath).toBe("job_request.pods[0].args[1]");
    expect(e.variable).toBe("params.nope");
    expect(e.message).toContain("job_request.pods[0].args[1]");
    expect(e.message).toContain("'params.nope' is undefined");
    expect(() => env.render("a {{ nothing_here }} b", ctx, "job_set_prefix")).toThrow(
      /job_set_prefix.*'nothing_here' is undefined/,
    );
    expect(() => env.render("{{ nothing_here }}", ctx, "x")).toThrow(/'nothing_here' is undefined/);
  });

  it("renders strings without template markers unchanged (property)", () => {
    const ctx = fakeContext(new Echo({ taskId: "t", jobRequest: null }), {});
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const safe = sanitize(v);
        expect(env.render(safe, ctx, "f")).toEqual(safe);
      }),
    );
  });
});
