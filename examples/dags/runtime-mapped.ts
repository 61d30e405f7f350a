/**
 * Dynamic task mapping: one `square` task instance per element of the list
 * `make_list` returns, then `total` sums their results.
 * Run: armada-airflow dags test examples/dags/runtime-mapped.ts --conf '{"count": 5}'
 */
import { BaseOperator, DAG, type BaseOperatorOptions, type Context } from "armada-airflow";

/** Returns [1..params.count]. */
class MakeListOperator extends BaseOperator {
  async execute(context: Context): Promise<unknown> {
    return Array.from({ length: Number(context.params.count) }, (_, i) => i + 1);
  }
}

/** Squares its mapped `value`. */
class SquareOperator extends BaseOperator {
  value = 0;
  constructor(options: BaseOperatorOptions) {
    super(options);
  }
  async execute(context: Context): Promise<unknown> {
    this.log.info("map index %d squares %d", context.ti.mapIndex, this.value);
    return this.value * this.value;
  }
}

/** Sums every mapped result. */
class TotalOperator extends BaseOperator {
  async execute(context: Context): Promise<unknown> {
    const squares = (await context.ti.xcomPull({ taskIds: "square" })) as number[];
    return squares.reduce((a, b) => a + b, 0);
  }
}

export const dag = new DAG({ dagId: "runtime_mapped", params: { count: 3 } });

const makeList = new MakeListOperator({ taskId: "make_list", dag });
const square = new SquareOperator({ taskId: "square", dag }).expand({ value: makeList.output });
square.then(new TotalOperator({ taskId: "total", dag }));
