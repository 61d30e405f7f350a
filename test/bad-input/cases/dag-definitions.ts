/**
 * Mistakes in a DAG file: ids, BaseOperator options (the trigger rule
 * above all), DAG options and default args, dependencies. Each case is the
 * body of a DAG file; loading it must fail naming the field, so no run is
 * created and nothing is submitted.
 */
import { badInputTable } from "../table.js";

/** The body of a DAG file, after the prelude (see {@link dagFileSource}), and settings to load it with. */
export interface DagFileInput {
  body: string;
  /** Settings in the env of the CLI call that loads the file (config the constructors read). */
  env?: Record<string, string>;
}

/**
 * The whole DAG file: `src` is the absolute path of the package's source
 * entry. The prelude defines `Noop`, a do-nothing operator, and `armada(o)`,
 * a good ArmadaOperator with `o` over it.
 */
export function dagFileSource(src: string, body: string): string {
  return `import { ArmadaOperator, BaseOperator, DAG, chain } from ${JSON.stringify(src)};
class Noop extends BaseOperator {
  async execute() { return null; }
}
const job = { namespace: "default", podSpec: { restartPolicy: "Never", containers: [{ name: "main", image: "busybox:1.36", args: ["true"],
  resources: { requests: { cpu: "100m", memory: "64Mi" }, limits: { cpu: "100m", memory: "64Mi" } } }] } };
const armada = (o) => new ArmadaOperator({ name: "n", channelArgs: { target: process.env.ARMADA_TARGET }, armadaQueue: "q", jobRequest: job, ...o });
void chain; void armada;
${body}
`;
}

const task = (options: string) => ({
  body: `const dag = new DAG({ dagId: "d" });\nnew Noop({ taskId: "t", dag, ${options} });`,
});
const withDefaults = (defaults: string) => ({
  body: `const dag = new DAG({ dagId: "d", defaultArgs: { ${defaults} } });\nnew Noop({ taskId: "t", dag });`,
});
const dagWith = (options: string) => ({ body: `new DAG({ dagId: "d", ${options} });` });

const RULES =
  /use one of all_success, all_failed, all_done, all_skipped, one_success, one_failed, one_done, none_failed, none_skipped, none_failed_min_one_success, always/;

export const DAG_DEFINITION_CASES = badInputTable<DagFileInput>("DAG definitions", [
  {
    name: 'triggerRule "whenever"',
    input: task('triggerRule: "whenever"'),
    field: "triggerRule",
    says: RULES,
  },
  {
    name: 'triggerRule "allSuccess" (camelCase)',
    input: task('triggerRule: "allSuccess"'),
    field: "triggerRule",
    says: /did you mean "all_success"\?/,
  },
  {
    name: 'triggerRule "ALL-DONE"',
    input: task('triggerRule: "ALL-DONE"'),
    field: "triggerRule",
    says: /did you mean "all_done"\?/,
  },
  { name: "triggerRule a number", input: task("triggerRule: 5"), field: "triggerRule", says: RULES },
  { name: "triggerRule empty", input: task('triggerRule: ""'), field: "triggerRule", says: RULES },
  { name: "retries -1", input: task("retries: -1"), field: "retries", says: /whole number >= 0/ },
  { name: "retries 1.5", input: task("retries: 1.5"), field: "retries", says: /whole number >= 0.*got 1.5/ },
  { name: 'retries "3"', input: task('retries: "3"'), field: "retries", says: /whole number/ },
  { name: "retries NaN", input: task("retries: NaN"), field: "retries", says: /got NaN/ },
  { name: "retries Infinity", input: task("retries: Infinity"), field: "retries", says: /whole number/ },
  {
    name: 'retryDelay "5m"',
    input: task('retryDelay: "5m"'),
    field: "retryDelay",
    says: /seconds >= 0 \(a number, not a string such as "5m"\)/,
  },
  { name: "retryDelay -10", input: task("retryDelay: -10"), field: "retryDelay", says: /seconds >= 0/ },
  {
    name: "maxRetryDelay -1",
    input: task("maxRetryDelay: -1"),
    field: "maxRetryDelay",
    says: /seconds >= 0/,
  },
  {
    name: "executionTimeout 0",
    input: task("executionTimeout: 0"),
    field: "executionTimeout",
    says: /seconds > 0/,
  },
  {
    name: "executionTimeout -5",
    input: task("executionTimeout: -5"),
    field: "executionTimeout",
    says: /seconds > 0/,
  },
  {
    name: 'executionTimeout "1h"',
    input: task('executionTimeout: "1h"'),
    field: "executionTimeout",
    says: /a number, not a string/,
  },
  {
    name: 'retryExponentialBackoff "yes"',
    input: task('retryExponentialBackoff: "yes"'),
    field: "retryExponentialBackoff",
    says: /true or false/,
  },
  { name: 'doXcomPush "no"', input: task('doXcomPush: "no"'), field: "doXcomPush", says: /true or false/ },
  { name: "task params a string", input: task('params: "x"'), field: "params", says: /plain object/ },
  { name: "task params a list", input: task("params: [1]"), field: "params", says: /plain object/ },
  {
    name: 'taskId "bad id!"',
    input: { body: 'new Noop({ taskId: "bad id!", dag: new DAG({ dagId: "d" }) });' },
    field: "taskId",
    says: /letters, digits, "_", "-" or "."/,
  },
  {
    name: "taskId empty",
    input: { body: 'new Noop({ taskId: "", dag: new DAG({ dagId: "d" }) });' },
    field: "taskId",
    says: /non-empty string/,
  },
  {
    name: "taskId of 251 characters",
    input: { body: 'new Noop({ taskId: "t".repeat(251), dag: new DAG({ dagId: "d" }) });' },
    field: "taskId",
    says: /at most 250.*is 251 characters long/,
  },
  {
    name: "taskId missing",
    input: { body: 'new Noop({ dag: new DAG({ dagId: "d" }) });' },
    field: "taskId",
    says: /got undefined/,
  },
  {
    name: "operator options missing",
    input: { body: 'new DAG({ dagId: "d" }); new Noop();' },
    field: "options",
    says: /options object such as \{ taskId/,
  },
  {
    name: 'dagId "my dag"',
    input: { body: 'new DAG({ dagId: "my dag" });' },
    field: "dagId",
    says: /letters/,
  },
  {
    name: "dagId of 300 characters",
    input: { body: 'new DAG({ dagId: "d".repeat(300) });' },
    field: "dagId",
    says: /is 300 characters long/,
  },
  { name: "dagId a number", input: { body: "new DAG({ dagId: 7 });" }, field: "dagId", says: /got 7/ },
  { name: "DAG options missing", input: { body: "new DAG();" }, field: "options", says: /dagId/ },
  {
    name: "dag option a string",
    input: { body: 'new DAG({ dagId: "d" }); new Noop({ taskId: "t", dag: "d" });' },
    field: "dag",
    says: /must be a DAG created with new DAG/,
  },
  {
    name: "two tasks with one id",
    input: {
      body: 'const dag = new DAG({ dagId: "d" }); new Noop({ taskId: "t", dag }); new Noop({ taskId: "t", dag });',
    },
    field: 'task "t"',
    says: /task ids must be unique within a DAG, so give one of them another taskId/,
  },
  {
    name: "a cycle of two",
    input: {
      body: 'const dag = new DAG({ dagId: "d" }); const a = new Noop({ taskId: "a", dag }); const b = new Noop({ taskId: "b", dag }); a.then(b); b.then(a);',
    },
    field: "cycle",
    says: /a -> b -> a|b -> a -> b/,
  },
  {
    name: "a cycle of three through chain",
    input: {
      body: 'const dag = new DAG({ dagId: "d" }); const [a, b, c] = ["a", "b", "c"].map((id) => new Noop({ taskId: id, dag })); chain(a, b, c); c.then(a);',
    },
    field: "cycle",
    says: /remove one of these dependencies/,
  },
  {
    name: "a task depending on itself",
    input: {
      body: 'const dag = new DAG({ dagId: "d" }); const a = new Noop({ taskId: "a", dag }); a.then(a);',
    },
    field: 'task "a"',
    says: /cannot depend on itself/,
  },
  {
    name: "a dependency on another DAG's task",
    input: {
      body: 'const dag = new DAG({ dagId: "d" }); const other = new DAG({ dagId: "o" }); new Noop({ taskId: "a", dag }).then(new Noop({ taskId: "b", dag: other }));',
    },
    field: 'depends on "b"',
    says: /which is not in the DAG; pass dag to its constructor/,
  },
  {
    name: "then() given a task id",
    input: { body: 'const dag = new DAG({ dagId: "d" }); new Noop({ taskId: "a", dag }).then("b");' },
    field: "dependency",
    says: /must be an operator/,
  },
  {
    name: "expand() given a number",
    input: { body: 'const dag = new DAG({ dagId: "d" }); new Noop({ taskId: "a", dag }).expand({ x: 3 });' },
    field: "expand(x)",
    says: /needs an array or an upstream task's output/,
  },
  {
    name: "defaultArgs.retries -1",
    input: withDefaults("retries: -1"),
    field: "defaultArgs.retries",
    says: /whole number >= 0/,
  },
  {
    name: 'defaultArgs.triggerRule "sometimes"',
    input: withDefaults('triggerRule: "sometimes"'),
    field: "defaultArgs.triggerRule",
    says: RULES,
  },
  {
    name: 'defaultArgs.retryDelay "30s"',
    input: withDefaults('retryDelay: "30s"'),
    field: "defaultArgs.retryDelay",
    says: /a number, not a string/,
  },
  {
    name: "defaultArgs.taskId",
    input: withDefaults('taskId: "x"'),
    field: "defaultArgs.taskId",
    says: /cannot be a default: pass taskId to each task's constructor/,
  },
  {
    name: "defaultArgs a list",
    input: dagWith("defaultArgs: []"),
    field: "defaultArgs",
    says: /plain object/,
  },
  { name: "DAG params a string", input: dagWith('params: "p"'), field: "params", says: /plain object/ },
  { name: "schedule a number", input: dagWith("schedule: 5"), field: "schedule", says: /"@daily"/ },
  { name: "tags a string", input: dagWith('tags: "nightly"'), field: "tags", says: /list of strings/ },
  { name: "description a number", input: dagWith("description: 5"), field: "description", says: /string/ },
  {
    name: "ArmadaOperator with a bad triggerRule",
    input: {
      body: 'const dag = new DAG({ dagId: "d" }); armada({ taskId: "t", dag, triggerRule: "whenever" });',
    },
    field: "triggerRule",
    says: RULES,
  },
  {
    name: "ArmadaOperator with retries from bad defaultArgs",
    input: {
      body: 'const dag = new DAG({ dagId: "d", defaultArgs: { retries: 2.5 } }); armada({ taskId: "t", dag });',
    },
    field: "defaultArgs.retries",
    says: /got 2.5/,
  },
  {
    name: "ArmadaOperator with malformed YAML",
    input: {
      body: 'const dag = new DAG({ dagId: "d" }); armada({ taskId: "t", dag, jobRequest: "namespace: default\\npodSpec: [\\n" });',
    },
    field: "job_request",
    says: /not valid YAML or JSON at line 3, column 1/,
  },
  {
    name: "ArmadaOperator with pollInterval 0",
    input: { body: 'const dag = new DAG({ dagId: "d" }); armada({ taskId: "t", dag, pollInterval: 0 });' },
    field: "pollInterval",
    says: /> 0/,
  },
  {
    name: "[core] default_task_retries = -1",
    input: {
      ...{ body: 'const dag = new DAG({ dagId: "d" }); new Noop({ taskId: "t", dag });' },
      env: { ARMADA_AIRFLOW__CORE__DEFAULT_TASK_RETRIES: "-1" },
    },
    field: "[core] default_task_retries",
    says: /whole number >= 0/,
  },
  {
    name: "[core] default_task_retry_delay not a number",
    input: {
      body: 'const dag = new DAG({ dagId: "d" }); new Noop({ taskId: "t", dag });',
      env: { AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY: "soon" },
    },
    field: "core.default_task_retry_delay",
    says: /must be a number, got "soon"/,
  },
  {
    name: "two DAGs with one id",
    input: { body: 'new DAG({ dagId: "twice" }); new DAG({ dagId: "twice" });' },
    field: 'dagId "twice"',
    says: /defines two DAGs with .*give each DAG its own dagId/,
  },
  {
    name: "a file with no DAG",
    input: { body: "export const nothing = 1;" },
    field: "DAG",
    says: /defines no DAG: construct one with new DAG/,
  },
]);
