import { afterEach, describe, expect, it } from "vitest";
import { BaseOperator, DAG, TemplateEnv, TemplateRenderError, type Context } from "armada-airflow";
import { clearConfigCache, resolveRuntimeConfig } from "armada-airflow/testing";
import { macros } from "../../src/runtime/macros.js";
import { SANDBOX_ESCAPES } from "../bad-input/cases/templates.js";
import { fakeContext } from "./fake-context.js";

class Echo extends BaseOperator {
  async execute(_context: Context): Promise<unknown> {
    return null;
  }
}

const op = new Echo({ taskId: "t", dag: new DAG({ dagId: "d" }) });
const ctx = fakeContext(op, {
  logicalDate: new Date("2024-03-01T10:20:30Z"),
  params: { n: 3, s: "con", obj: { a: 1, b: [1, 2] }, days: "2" },
});

/** The error `fn` throws (the test fails when it throws nothing). */
function errorOf(fn: () => unknown): TemplateRenderError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, "expected the template to be refused").toBeInstanceOf(TemplateRenderError);
  return caught as TemplateRenderError;
}

describe("template sandbox: escapes are refused with an error naming the field", () => {
  const env = new TemplateEnv();
  const escapes = SANDBOX_ESCAPES;

  for (const [template, reason] of escapes) {
    it(`refuses ${template}`, () => {
      const e = errorOf(() => env.render({ spec: { args: [template] } }, ctx, "job_request"));
      expect(e.fieldPath).toBe("job_request.spec.args[0]");
      expect(e.message).toContain("job_request.spec.args[0]");
      expect(e.message).toMatch(reason);
      expect(e.message).toContain("sandbox");
      expect(e.message).not.toMatch(/PATH|HOME=/);
    });
  }

  it("names the line and column of a refused name known before rendering", () => {
    const e = errorOf(() => env.render("ok\n  {{ range.constructor }}", ctx, "f"));
    expect(e.message).toMatch(/line 2, column 12/);
  });

  it("refuses a built-in object reached through a user-supplied value", () => {
    const withGlobals = new TemplateEnv({ globals: { holder: { math: Math, fn: Object } } });
    expect(errorOf(() => withGlobals.render("{{ holder.math }}", ctx, "f")).message).toMatch(
      /built-in object/,
    );
    expect(errorOf(() => withGlobals.render("{{ holder.fn('x') }}", ctx, "f")).message).toMatch(/built-in/);
  });
});

describe("template sandbox: ordinary Airflow templates render as before", () => {
  const env = new TemplateEnv();
  const cases: [unknown, unknown][] = [
    ["{{ params.n }}", 3],
    ["{{ params.obj }}", { a: 1, b: [1, 2] }],
    ["n={{ params.n }}", "n=3"],
    ["{{ params['obj']['b'][1] }}", 2],
    ["{{ params.obj.a }}-{{ params.obj['b'] | length }}", "1-2"],
    ["{{ ds }} {{ ds_nodash }} {{ ts }}", "2024-03-01 20240301 2024-03-01T10:20:30+00:00"],
    ["{{ ti.task_id }}/{{ ti.try_number }}/{{ dag.dag_id }}/{{ run_id }}", "t/1/d/manual__1"],
    ["{{ macros.ds_add(ds, 5) }}", "2024-03-06"],
    ["{{ macros.ds_add(ds, -1) }}", "2024-02-29"],
    ["{{ macros.ds_add(ds, params.days) }}", "2024-03-03"],
    ["{{ macros.ds_format(ds, '%Y-%m-%d', '%d/%m/%Y') }}", "01/03/2024"],
    ["{{ macros.json.dumps(params.obj) }}", '{"a":1,"b":[1,2]}'],
    ["{{ params.obj | tojson }}", '{"a":1,"b":[1,2]}'],
    ["{{ params.obj | tojson(2) }}", '{\n  "a": 1,\n  "b": [\n    1,\n    2\n  ]\n}'],
    ["{% for x in params.obj.b %}{{ loop.index }}:{{ x }};{% endfor %}", "1:1;2:2;"],
    ["{% for k, v in params.obj | dictsort %}{{ k }}{% endfor %}", "ab"],
    ["{% for k, v in params.obj.items() %}{{ k }}={{ v }} {% endfor %}", "a=1 b=1,2 "],
    ["{{ params.obj.get('a') }}|{{ params.obj.get('zz', 'd') }}", "1|d"],
    ["{% if params.n > 2 %}big{% else %}small{% endif %}", "big"],
    ["{{ 'a-b' | replace('-', '_') | upper }}", "A_B"],
    ["{{ 'a,b'.split(',') | join('+') }}", "a+b"],
    ["{{ params.s.toUpperCase() }}", "CON"],
    ["{{ range(3) | list | join(',') }}", "0,1,2"],
    ["{% set c = cycler('x', 'y') %}{{ c.next() }}{{ c.next() }}{{ c.next() }}", "xyx"],
    ["{% set j = joiner('|') %}{% for i in range(3) %}{{ j() }}{{ i }}{% endfor %}", "0|1|2"],
    ["{% macro tag(x) %}<{{ x }}>{% endmacro %}{{ tag(params.n) }}", "<3>"],
    ["{% macro w() %}[{{ caller() }}]{% endmacro %}{% call w() %}in{% endcall %}", "[in]"],
    ["{{ '%s-%d' | format('id', 7.9) }}", "id-7"],
    ["{{ logical_date | strftime('%Y%m%d') }}", "20240301"],
    ["{{ missing | default('dflt') }}", "dflt"],
    ["{{ params.n is defined }}", true],
    ["{{ [1, 2, 3][1:] | join(',') }}", "2,3"],
    ["{# comment #}x{%- raw %} {{ y }}{% endraw %}", "x {{ y }}"],
  ];
  for (const [template, expected] of cases) {
    it(`renders ${JSON.stringify(template)}`, () => {
      expect(env.render(template, ctx, "f")).toEqual(expected);
    });
  }

  it("user-defined globals and filters still work, also methods on their prototypes", () => {
    class Helper {
      shout(s: string): string {
        return `${s}!`;
      }
    }
    const custom = new TemplateEnv({
      globals: { helper: new Helper() },
      filters: { twice: (v) => `${String(v)}${String(v)}` },
    });
    expect(custom.render("{{ helper.shout('hi') | twice }}", ctx, "f")).toBe("hi!hi!");
  });
});

describe("template bounds", () => {
  afterEach(() => clearConfigCache());

  it("defaults to 10 s and 4 MiB, read from [core] config when set", () => {
    const env = new TemplateEnv();
    expect(env.renderTimeoutS).toBe(10);
    expect(env.maxOutputBytes).toBe(4 * 1024 * 1024);
    const config = resolveRuntimeConfig({
      env: {
        ARMADA_AIRFLOW__CORE__TEMPLATE_RENDER_TIMEOUT_S: "2.5",
        ARMADA_AIRFLOW__CORE__TEMPLATE_MAX_OUTPUT_BYTES: "1000",
      },
    });
    const configured = new TemplateEnv({ config });
    expect(configured.renderTimeoutS).toBe(2.5);
    expect(configured.maxOutputBytes).toBe(1000);
    expect(new TemplateEnv({ renderTimeoutS: 1, maxOutputBytes: 5 }).maxOutputBytes).toBe(5);
    expect(() => new TemplateEnv({ maxOutputBytes: 0 })).toThrow(/maxOutputBytes must be a positive number/);
    expect(() => new TemplateEnv({ renderTimeoutS: Number.NaN })).toThrow(/renderTimeoutS/);
  });

  it("stops a huge {% for %} that renders nothing at the time bound", () => {
    // Every look at the clock moves it 1 ms: a deterministic stand-in for a slow render.
    let now = 0;
    const env = new TemplateEnv({ renderTimeoutS: 2, clock: { nowMs: () => now++ } });
    const loop =
      "{% for i in range(100000) %}{% for j in range(100000) %}{% set x = i %}{% endfor %}{% endfor %}";
    const e = errorOf(() => env.render({ args: [loop] }, ctx, "job_request"));
    expect(e.fieldPath).toBe("job_request.args[0]");
    expect(e.message).toMatch(/rendering took longer than 2 s \(\[core\] template_render_timeout_s\)/);
    expect(now).toBeLessThan(2100);
    // The bound is per render: a short template on the same environment still renders.
    expect(env.render("{{ params.n }}", ctx, "f")).toBe(3);
  });

  it("stops a huge {% for %} at the output bound", () => {
    const env = new TemplateEnv({ maxOutputBytes: 1024 * 1024 });
    const loop = "{% for i in range(100000) %}{% for j in range(100000) %}0123456789{% endfor %}{% endfor %}";
    const e = errorOf(() => env.render(loop, ctx, "job_request.args[0]"));
    expect(e.message).toMatch(/renders more than 1048576 bytes \(\[core\] template_max_output_bytes\)/);
    expect(e.message).toContain("job_request.args[0]");
  });

  it("stops one large value, a too long range and size-amplifying calls before they allocate", () => {
    const env = new TemplateEnv({ maxOutputBytes: 1000 });
    expect(errorOf(() => env.render("{{ 'x'.repeat(100000000) }}", ctx, "f")).message).toMatch(
      /more than 1000 bytes/,
    );
    expect(errorOf(() => env.render("{{ 'x'.padStart(1000000000) }}", ctx, "f")).message).toMatch(
      /more than 1000 bytes/,
    );
    expect(errorOf(() => env.render("{{ range(1000000000) | length }}", ctx, "f")).message).toMatch(
      /range\(1000000000\) is longer than the sandbox allows \(100000 items\)/,
    );
    expect(errorOf(() => env.render("{{ 'x' | center(1000000000) }}", ctx, "f")).message).toMatch(/center/);
    expect(errorOf(() => env.render(`{{ "${"é".repeat(600)}" }}x`, ctx, "f")).message).toMatch(/1000 bytes/);
    expect(env.render("{{ 'ab'.repeat(10) }}", ctx, "f")).toBe("ab".repeat(10));
  });
});

describe("template errors", () => {
  const env = new TemplateEnv();

  it("a syntax error names the field, line and column", () => {
    expect(errorOf(() => env.render("{{ nope(", ctx, "job_set_prefix")).message).toBe(
      "Cannot render template field 'job_set_prefix': template syntax error at line 1, column 9: " +
        'unexpected end of template (an expression, bracket or tag is not closed) (template: "{{ nope(")',
    );
    expect(errorOf(() => env.render("a\n  {{ x + }}", ctx, "f")).message).toMatch(
      /field 'f': template syntax error at line 2, column 10: unexpected token: }}/,
    );
    expect(errorOf(() => env.render("{% for %}", ctx, "f")).message).toMatch(/line 1, column 8/);
    expect(errorOf(() => env.render("{% if x %}open", ctx, "f")).message).toMatch(
      /template syntax error at line 1, column \d+: parseIf: expected elif, else, or endif/,
    );
  });

  it("macros check their arguments instead of rendering NaN", () => {
    const message = (t: string) => errorOf(() => env.render(t, ctx, "f")).message;
    expect(message("{{ macros.ds_add(ds, 'x') }}")).toMatch(
      /field 'f': macros\.ds_add: days must be a number of days, got "x"/,
    );
    expect(message("{{ macros.ds_add(ds) }}")).toMatch(/days must be a number of days, got nothing/);
    expect(message("{{ macros.ds_add(ds, params.obj) }}")).toMatch(/days must be a number/);
    expect(message("{{ macros.ds_add('2024-02-30', 1) }}")).toMatch(/"2024-02-30" is not a valid date/);
    expect(message("{{ macros.ds_add(5, 1) }}")).toMatch(/expected a date stamp YYYY-MM-DD, got 5/);
    expect(message("{{ macros.ds_format(ds, 5, '%Y') }}")).toMatch(
      /macros\.ds_format: input_format must be a string/,
    );
    expect(message("{{ macros.ds_format(ds, '%d/%m', '%Y') }}")).toMatch(/does not match format/);
    expect(message("{{ macros.json.loads('{bad') }}")).toMatch(/macros\.json\.loads: not JSON/);
    expect(message("{{ '%d' | format('x') }}")).toMatch(/format: %d needs a number, got "x"/);
    expect(message("{{ '%s %s' | format('x') }}")).toMatch(/format: not enough arguments/);
    expect(message("{{ 'nope' | strftime('%Y') }}")).toMatch(/strftime: "nope" is not a date/);
    expect(message("{{ ti.xcom_pull('x') }}")).toMatch(/field 'f': ti\.xcom_pull is asynchronous/);
  });

  it("ds_add follows Python's date arithmetic for null and fractional days", () => {
    expect(macros.ds_add("2024-03-01", null as unknown as number)).toBe("2024-03-01");
    expect(macros.ds_add("2024-03-01", 1.5)).toBe("2024-03-02");
    expect(macros.ds_add("2024-03-01", -1.5)).toBe("2024-02-28");
  });
});
