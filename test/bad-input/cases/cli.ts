/**
 * Bad command-line flags, arguments and configuration of `armada-airflow`.
 * `argv` may name fixture DAG files as `<noop>` (a plain task), `<armada>`
 * (an ArmadaOperator on ARMADA_TARGET) and `<environment>` (one that calls
 * armadaEnvironment()); `<tmp>` is a scratch folder. `spawn` marks the
 * subset also run as a separate process (the installed command's path).
 */
import { badInputTable } from "../table.js";

export interface CliInput {
  argv: string[];
  /** Environment of the command (over a sandbox home and ARMADA_TARGET at the test's dev server). */
  env?: Record<string, string>;
  /** Also run through a spawned process. */
  spawn?: true;
}

const cli = (argv: string[], env?: Record<string, string>, spawn?: true): CliInput => ({
  argv,
  ...(env ? { env } : {}),
  ...(spawn ? { spawn } : {}),
});

export const CLI_CASES = badInputTable<CliInput>("CLI flags and config", [
  {
    name: "--db with an unknown scheme",
    input: cli(["runs", "list", "--db", "garbage://x"], undefined, true),
    field: "--db",
    says: /scheme "garbage:" is not supported/,
  },
  {
    name: "--db mysql://",
    input: cli(["runs", "list", "--db", "mysql://db.example/x"]),
    field: "--db",
    says: /use postgres:\/\/user@host\/db, sqlite:<file> or a file path/,
  },
  {
    name: "--db in a folder that does not exist",
    input: cli(["runs", "list", "--db", "sqlite:/nonexistent-aa/dir/x.db"]),
    field: "--db",
    says: /folder \/nonexistent-aa\/dir .*does not exist; create it/,
  },
  {
    name: "[database] url with an unknown scheme",
    input: cli(["runs", "list"], { ARMADA_AIRFLOW__DATABASE__URL: "garbage://x" }),
    field: "[database] url",
    says: /scheme "garbage:" is not supported/,
  },
  {
    name: "runs list --state bogus",
    input: cli(["runs", "list", "--state", "bogus"], undefined, true),
    field: "--state",
    says: /must be one of queued, running, success, failed; got "bogus"/,
  },
  {
    name: "xcom list of an unknown run",
    input: cli(["xcom", "list", "nope", "nope_run"]),
    field: "nope/nope_run",
    says: /no DAG run/,
  },
  {
    name: "runs show of an unknown run",
    input: cli(["runs", "show", "nope", "r"]),
    field: "nope/r",
    says: /no DAG run/,
  },
  {
    name: "tasks kill of an unknown task instance",
    input: cli(["tasks", "kill", "nope", "r", "t"]),
    field: "nope/r/t",
    says: /no task instance/,
  },
  {
    name: "tasks mark-failed of an unknown task instance",
    input: cli(["tasks", "mark-failed", "nope", "r", "t"]),
    field: "nope/r/t",
    says: /no task instance/,
  },
  {
    name: "--conf that is not JSON",
    input: cli(["dags", "test", "<noop>", "--conf", "{bad"], undefined, true),
    field: "--conf",
    says: /must be a JSON object/,
  },
  {
    name: "--conf a list",
    input: cli(["dags", "test", "<noop>", "--conf", "[1]"]),
    field: "--conf",
    says: /got \[1\]/,
  },
  {
    name: "--conf a string",
    input: cli(["dags", "trigger", "<noop>", "--conf", '"x"']),
    field: "--conf",
    says: /must be a JSON object/,
  },
  {
    name: "--logical-date not a date",
    input: cli(["dags", "test", "<noop>", "--logical-date", "yesterday"]),
    field: "--logical-date",
    says: /must be an ISO date/,
  },
  {
    name: "--map-index a word",
    input: cli(["tasks", "kill", "d", "r", "t", "--map-index", "x"]),
    field: "--map-index",
    says: /integer >= -1/,
  },
  {
    name: "--map-index -2",
    input: cli(["tasks", "mark-failed", "d", "r", "t", "--map-index", "-2"]),
    field: "--map-index",
    says: /integer >= -1/,
  },
  { name: "resume --wait -1", input: cli(["resume", "--wait", "-1"]), field: "--wait", says: /seconds >= 0/ },
  {
    name: "resume --wait soon",
    input: cli(["resume", "--wait", "soon"]),
    field: "--wait",
    says: /seconds >= 0/,
  },
  {
    name: "an unknown command",
    input: cli(["dagz"]),
    field: "dagz",
    says: /unknown command.*Did you mean dags\?/s,
  },
  {
    name: "an unknown option",
    input: cli(["runs", "list", "--frobnicate"]),
    field: "--frobnicate",
    says: /unknown option/,
  },
  {
    name: "a missing argument",
    input: cli(["dags", "test"]),
    field: "'file'",
    says: /missing required argument/,
  },
  {
    name: "dags test of a file that does not exist",
    input: cli(["dags", "test", "<tmp>/nope.ts"]),
    field: "nope.ts",
    says: /does not exist/,
  },
  {
    name: "dags list of a folder that does not exist",
    input: cli(["dags", "list", "<tmp>/no-folder"]),
    field: "no-folder",
    says: /does not exist/,
  },
  {
    name: "dags test of a DAG id the file does not define",
    input: cli(["dags", "test", "<noop>", "nope_dag"]),
    field: 'DAG "nope_dag"',
    says: /not found in .*; it defines: noop/,
  },
  {
    name: "tasks test of a task the DAG does not have",
    input: cli(["tasks", "test", "<noop>", "noop", "nope_task"]),
    field: '"nope_task"',
    says: /has no task .*; tasks: t/,
  },
  {
    name: "ARMADA_AIRFLOW_CONFIG naming a missing file",
    input: cli(["runs", "list"], { ARMADA_AIRFLOW_CONFIG: "/nonexistent/armada-airflow.cfg" }),
    field: "ARMADA_AIRFLOW_CONFIG",
    says: /cannot be read/,
  },
  {
    name: "a config file line outside a section",
    input: cli(["runs", "list"], { ARMADA_AIRFLOW_CONFIG: "<tmp>/bad.cfg" }),
    field: "bad.cfg:1",
    says: /expected "\[section\]" or "key = value" inside a section/,
  },
  {
    name: "[core] dagbag_import_timeout not a number",
    input: cli(["dags", "test", "<noop>"], { ARMADA_AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT: "soon" }),
    field: "core.dagbag_import_timeout",
    says: /must be a number, got "soon"/,
  },
  {
    name: "[core] default_task_retries = -1",
    input: cli(["dags", "test", "<noop>"], { ARMADA_AIRFLOW__CORE__DEFAULT_TASK_RETRIES: "-1" }, true),
    field: "[core] default_task_retries",
    says: /whole number >= 0/,
  },
  {
    name: "[armada_operator] rpc_deadline_s = 0",
    input: cli(["dags", "test", "<armada>"], { ARMADA_AIRFLOW__ARMADA_OPERATOR__RPC_DEADLINE_S: "0" }, true),
    field: "armada_operator.rpc_deadline_s",
    says: /every call would time out at once/,
  },
  {
    name: "[armada_operator] default_poll_interval_s = 0",
    input: cli(["dags", "test", "<armada>"], { AIRFLOW__ARMADA_OPERATOR__DEFAULT_POLL_INTERVAL_S: "0" }),
    field: "armada_operator.default_poll_interval_s",
    says: /> 0, got 0/,
  },
  {
    name: "[operators] default_deferrable = sometimes",
    input: cli(["dags", "test", "<armada>"], { ARMADA_AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE: "sometimes" }),
    field: "operators.default_deferrable",
    says: /true or false/,
  },
  {
    name: "ARMADA_TOKEN_ENV naming an unset variable",
    input: cli(["dags", "test", "<environment>"], { ARMADA_TOKEN_ENV: "BAD_INPUT_UNSET_TOKEN" }, true),
    field: "ARMADA_TOKEN_ENV",
    says: /BAD_INPUT_UNSET_TOKEN, which is not set/,
  },
  {
    name: "ARMADA_TARGET with an http:// scheme",
    input: cli(["dags", "test", "<environment>"], { ARMADA_TARGET: "http://armada.example.com:50051" }),
    field: "ARMADA_TARGET",
    says: /gRPC targets have no http\(s\):\/\/ scheme/,
  },
  {
    name: "ANNOTATION_KEY_PREFIX that makes bad keys",
    input: cli(["dags", "test", "<armada>"], { ANNOTATION_KEY_PREFIX: "bad prefix!" }),
    field: "ANNOTATION_KEY_PREFIX",
    says: /does not make valid annotation keys/,
  },
  {
    name: "dev --grpc-port 70000",
    input: cli(["dev", "--grpc-port", "70000"]),
    field: "--grpc-port",
    says: /integer from 0 to 65535, got "70000"/,
  },
  {
    name: "dev --http-port -1",
    input: cli(["dev", "--http-port", "-1"]),
    field: "--http-port",
    says: /integer from 0 to 65535/,
  },
  {
    name: "dev --executor bogus",
    input: cli(["dev", "--executor", "bogus"]),
    field: "--executor",
    says: /Allowed choices are simulate, process/,
  },
  {
    name: "dev --ingestion-delay soon",
    input: cli(["dev", "--ingestion-delay", "soon"]),
    field: "--ingestion-delay",
    says: /must be an integer/,
  },
  {
    name: "dev --failure-category with an unknown rule",
    input: cli(["dev", "--failure-category", "x=bogus:1"]),
    field: "--failure-category",
    says: /unknown rule kind "bogus"/,
  },
  {
    name: "dev --node without memory",
    input: cli(["dev", "--node", "gpu-1:cpu=8,gpus=2"]),
    field: "--node",
    says: /memory is missing \(form: \[CLUSTER\/\]NAME:cpu=8,memory=32Gi/,
  },
  {
    name: "dev --node with an unknown key",
    input: cli(["dev", "--node", "gpu-1:cpu=8,memory=1Gi,gpu=2"]),
    field: "--node",
    says: /unknown key "gpu"; use cpu, memory, gpus or label.KEY/,
  },
  {
    name: "dev --global-max-retries -1",
    input: cli(["dev", "--global-max-retries", "-1"]),
    field: "--global-max-retries",
    says: /integer from 0 to 1000/,
  },
  {
    name: "dev --tls-cert without --tls-key",
    input: cli(["dev", "--tls-cert", "/nonexistent/cert.pem"]),
    field: "--tls-key",
    says: /go together/,
  },
  {
    name: "dev --bearer-token-env naming an unset variable",
    input: cli(["dev", "--bearer-token-env", "BAD_INPUT_UNSET_VAR"]),
    field: "--bearer-token-env",
    says: /BAD_INPUT_UNSET_VAR, which is not set or empty/,
  },
]);
