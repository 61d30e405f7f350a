/**
 * A failing-and-retrying operator: it fails until `succeed_on_try`, retrying
 * with Airflow's try numbers. With `{"succeed_on_try": 9}` it runs out of
 * retries and the run fails.
 * Run: armada-airflow dags test examples/dags/runtime-retrying.ts --conf '{"succeed_on_try": 2}'
 */
import { BaseOperator, DAG, type Context } from "armada-airflow";

/** Throws on every try before `params.succeed_on_try`. */
class FlakyOperator extends BaseOperator {
  async execute(context: Context): Promise<unknown> {
    const goal = Number(context.params.succeed_on_try);
    const { tryNumber, maxTries } = context.ti;
    if (tryNumber < goal) throw new Error(`try ${tryNumber} of ${maxTries + 1} failed on purpose`);
    this.log.info("succeeded on try %d", tryNumber);
    return tryNumber;
  }
}

export const dag = new DAG({
  dagId: "runtime_retrying",
  params: { succeed_on_try: 2 },
  defaultArgs: { retries: 2, retryDelay: 0 },
});

new FlakyOperator({ taskId: "flaky", dag });
