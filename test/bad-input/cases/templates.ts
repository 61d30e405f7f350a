/**
 * Bad templates in a job request (and the operator's other templated
 * fields): sandbox escapes, syntax errors, undefined names, macro misuse,
 * render bounds, and values that render to an invalid job. The sandbox's
 * own tests (test/runtime/template-sandbox.test.ts) check the escapes on
 * TemplateEnv; here each goes through the operator and nothing is submitted.
 */
import { TemplateEnv } from "../../../src/runtime/template.js";
import { badInputTable, type BadInput } from "../table.js";
import { goodKubernetesRequest, type OperatorInput } from "./operator.js";

/** Known ways out of a template sandbox, and what the refusal says. */
export const SANDBOX_ESCAPES: [string, RegExp][] = [
  ["{{ range.constructor('return process.env')() }}", /attribute 'constructor' is not accessible/],
  ["{{ ''.constructor.constructor('return process')() }}", /attribute 'constructor'/],
  ['{{ "".constructor }}', /attribute 'constructor'/],
  ["{{ (0).constructor }}", /attribute 'constructor'/],
  ["{{ [].constructor }}", /attribute 'constructor'/],
  ["{{ {}.constructor }}", /attribute 'constructor'/],
  ["{{ cycler.constructor }}", /attribute 'constructor'/],
  ["{{ cycler(1, 2).next.constructor }}", /attribute 'constructor'/],
  ["{{ joiner.constructor }}", /attribute 'constructor'/],
  ["{{ joiner().constructor }}", /attribute 'constructor'/],
  ["{{ macros.ds_add.constructor }}", /attribute 'constructor'/],
  ["{{ params.obj.b.pop.constructor }}", /attribute 'constructor'/],
  ["{{ params.s.__proto__ }}", /attribute '__proto__'/],
  ["{{ {}.__proto__ }}", /attribute '__proto__'/],
  ["{{ params.obj['__proto__'] }}", /attribute '__proto__'/],
  ["{{ {}.__lookupGetter__('__proto__') }}", /attribute '__lookupGetter__'/],
  ["{{ range.prototype }}", /attribute 'prototype'/],
  ["{% set x = {'__proto__': params} %}", /key '__proto__' is not allowed/],
  ["{{ this }}", /'this' is not available/],
  ["{{ globalThis.process }}", /'globalThis' is not available/],
  ["{{ global }}", /'global' is not available/],
  ["{{ require('child_process') }}", /'require' is not available/],
  ["{{ process.env }}", /'process' is not available/],
  ["{{ Function('return process')() }}", /'Function' is not available/],
  ["{{ eval('1') }}", /'eval' is not available/],
  ["{{ constructor }}", /'constructor' is not available/],
  ["{{ toString }}", /'toString' is not available/],
  ["{{ params | constructor }}", /'constructor' is not available/],
  ["{% set constructor = 1 %}", /'constructor' is not available/],
  ["{% for __proto__ in [1] %}{% endfor %}", /'__proto__' is not available/],
  // Computed names are only known while rendering: the runtime guard refuses them.
  ["{{ range[params.s ~ 'structor'] }}", /attribute 'constructor' is not accessible/],
  ["{{ ''[['con', 'structor'] | join('')] }}", /attribute 'constructor'/],
  ["{{ {}.get('constructor') }}", /key 'constructor' is not accessible/],
  ["{{ {}.setdefault('__proto__') }}", /key '__proto__'/],
  ["{{ range.call }}", /functions have no attribute 'call'/],
  ["{{ macros.ds_add.bind }}", /functions have no attribute 'bind'/],
  ["{{ [range] | sort(false, false, 'constructor') }}", /key 'constructor'/],
  ["{{ [params.obj] | groupby('constructor') }}", /key 'constructor'/],
];

/** Params the templates below read (the sandbox tests use the same). */
export const TEMPLATE_PARAMS = { n: 3, s: "con", obj: { a: 1, b: [1, 2] }, days: "2", cpu: "lots", prio: -5 };

/** A case's input: the operator options, and the template environment to render with. */
export interface TemplateInput extends OperatorInput {
  templateEnv?: TemplateEnv;
}

const ARG0 = "job_request.podSpec.containers[0].args[0]";
/** The template as the job's first argument. */
const inArg = (template: string): TemplateInput => ({
  options: { jobRequest: goodKubernetesRequest({ args: [template] }) },
});

const argCase = (name: string, template: string, says: RegExp): BadInput<TemplateInput> => ({
  name,
  input: inArg(template),
  field: ARG0,
  says,
});

// Every look at the clock moves it 1 ms: a deterministic stand-in for a slow render.
const slowClock = () => {
  let now = 0;
  return { nowMs: () => now++ };
};

export const TEMPLATE_CASES = badInputTable<TemplateInput>("templates", [
  ...SANDBOX_ESCAPES.map(([template, says]) => argCase(`sandbox: ${template}`, template, says)),
  // Syntax errors: field, line and column
  argCase("unclosed call", "{{ nope(", /template syntax error at line 1, column 9/),
  argCase("operator with no operand", "a\n  {{ x + }}", /line 2, column 10: unexpected token/),
  argCase("for with no target", "{% for %}", /line 1, column 8/),
  argCase("if with no endif", "{% if x %}open", /parseIf: expected elif, else, or endif/),
  argCase("unclosed string", "{{ 'abc }}", /template syntax error at line 1/),
  argCase("unknown tag", "{% frobnicate %}", /template syntax error/),
  argCase("unclosed comment", "{# never closed", /template syntax error/),
  // Undefined names
  argCase("undefined variable", "{{ nope }}", /nope/),
  argCase("undefined param", "{{ params.missing.deeper }}", /missing/),
  argCase("undefined dag_run attribute", "{{ dag_run.conf.nope.x }}", /nope/),
  // Macros and filters check their arguments
  argCase(
    "ds_add with a word",
    "{{ macros.ds_add(ds, 'x') }}",
    /macros\.ds_add: days must be a number of days, got "x"/,
  ),
  argCase("ds_add with no days", "{{ macros.ds_add(ds) }}", /got nothing/),
  argCase("ds_add with an object", "{{ macros.ds_add(ds, params.obj) }}", /days must be a number/),
  argCase("ds_add of an impossible date", "{{ macros.ds_add('2024-02-30', 1) }}", /is not a valid date/),
  argCase("ds_add of a number", "{{ macros.ds_add(5, 1) }}", /expected a date stamp YYYY-MM-DD/),
  argCase(
    "ds_format with a number format",
    "{{ macros.ds_format(ds, 5, '%Y') }}",
    /input_format must be a string/,
  ),
  argCase("ds_format not matching", "{{ macros.ds_format(ds, '%d/%m', '%Y') }}", /does not match format/),
  argCase("json.loads of bad JSON", "{{ macros.json.loads('{bad') }}", /macros\.json\.loads: not JSON/),
  argCase("format %d of a word", "{{ '%d' | format('x') }}", /format: %d needs a number/),
  argCase("format with too few arguments", "{{ '%s %s' | format('x') }}", /not enough arguments/),
  argCase("strftime of a word", "{{ 'nope' | strftime('%Y') }}", /strftime: "nope" is not a date/),
  argCase("xcom_pull in a template", "{{ ti.xcom_pull('x') }}", /ti\.xcom_pull is asynchronous/),
  // Bounds
  argCase(
    "range over the sandbox limit",
    "{{ range(1000000000) | length }}",
    /longer than the sandbox allows/,
  ),
  {
    name: "a huge loop at the time bound",
    input: {
      ...inArg(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% set x = i %}{% endfor %}{% endfor %}",
      ),
      templateEnv: new TemplateEnv({ renderTimeoutS: 2, clock: slowClock() }),
    },
    field: ARG0,
    says: /longer than 2 s \(\[core\] template_render_timeout_s\)/,
  },
  {
    name: "a huge loop at the output bound",
    input: {
      ...inArg("{% for i in range(100000) %}{% for j in range(100000) %}0123456789{% endfor %}{% endfor %}"),
      templateEnv: new TemplateEnv({ maxOutputBytes: 64 * 1024 }),
    },
    field: ARG0,
    says: /renders more than 65536 bytes \(\[core\] template_max_output_bytes\)/,
  },
  {
    name: "one huge repeat at the output bound",
    input: {
      ...inArg("{{ 'x'.repeat(100000000) }}"),
      templateEnv: new TemplateEnv({ maxOutputBytes: 1000 }),
    },
    field: ARG0,
    says: /more than 1000 bytes/,
  },
  // Other templated places name their own path
  {
    name: "a bad template in a label",
    input: { options: { jobRequest: goodKubernetesRequest({}, { labels: { team: "{{ nope }}" } }) } },
    field: "job_request.labels.team",
    says: /nope/,
  },
  {
    name: "a bad template in an env value",
    input: {
      options: { jobRequest: goodKubernetesRequest({ env: [{ name: "A", value: "{{ process.env }}" }] }) },
    },
    field: "job_request.podSpec.containers[0].env[0].value",
    says: /'process' is not available/,
  },
  {
    name: "a bad template in the image",
    input: { options: { jobRequest: goodKubernetesRequest({ image: "busybox:{{ params.s.__proto__ }}" }) } },
    field: "job_request.podSpec.containers[0].image",
    says: /attribute '__proto__'/,
  },
  {
    name: "a bad template in jobSetPrefix",
    input: { options: { jobSetPrefix: "{{ nope(" } },
    field: "job_set_prefix",
    says: /syntax error at line 1, column 9/,
  },
  {
    name: "a bad template in an extra link",
    input: { options: { extraLinks: { Grafana: "https://g/{{ this }}" } } },
    field: "extra_links.Grafana",
    says: /'this' is not available/,
  },
  {
    name: "a bad template in YAML text",
    input: {
      options: {
        jobRequest:
          'namespace: default\npodSpec:\n  containers:\n    - name: main\n      image: "{{ globalThis.process }}"\n',
      },
    },
    field: "job_request.podSpec.containers[0].image",
    says: /'globalThis' is not available/,
  },
  // Templates that render, into something that is not a valid job
  {
    name: "priority rendered negative",
    input: { options: { jobRequest: goodKubernetesRequest({}, { priority: "{{ params.prio }}" }) } },
    field: "job_request.priority",
    says: />= 0/,
  },
  {
    name: "cpu rendered from a bad param",
    input: {
      options: {
        jobRequest: goodKubernetesRequest({
          resources: { requests: { cpu: "{{ params.cpu }}" }, limits: {} },
        }),
      },
    },
    field: "job_request.podSpec.containers[0].resources.requests.cpu",
    says: /quantity/,
  },
  {
    name: "containerPort rendered from a word",
    input: {
      options: { jobRequest: goodKubernetesRequest({ ports: [{ containerPort: "{{ params.s }}" }] }) },
    },
    field: "job_request.podSpec.containers[0].ports[0].containerPort",
    says: /integer/,
  },
  {
    name: "namespace rendered with capitals",
    input: { options: { jobRequest: goodKubernetesRequest({}, { namespace: "{{ params.s | upper }}" }) } },
    field: "job_request.namespace",
    says: /lower case|RFC 1123|DNS/,
  },
  {
    name: "label value rendered too long",
    input: { options: { jobRequest: goodKubernetesRequest({}, { labels: { x: "{{ 'v'.repeat(64) }}" } }) } },
    field: 'job_request.labels["x"]',
    says: /63/,
  },
]);
