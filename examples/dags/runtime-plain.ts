/**
 * Plain operators: a templated extract, a transform reading its XCom, a load.
 * Run: armada-airflow dags test examples/dags/runtime-plain.ts --conf '{"name": "Ada"}'
 */
import { BaseOperator, DAG, type BaseOperatorOptions, type Context, type OperatorLink } from "armada-airflow";

/** An extra link read from the XCom the task pushed (shown by `runs show`). */
const sourceLink: OperatorLink = {
  name: "Source",
  getLink: async (_operator, { xcomPull }) => (await xcomPull("source_url")) as string | undefined,
};

/** Returns a templated greeting and some numbers. */
class ExtractOperator extends BaseOperator {
  greeting: string;
  constructor(options: BaseOperatorOptions & { greeting: string }) {
    super(options);
    this.templateFields = ["greeting"];
    this.operatorExtraLinks = [sourceLink];
    this.greeting = options.greeting;
  }
  async execute(context: Context): Promise<unknown> {
    this.log.info("extracting: %s", this.greeting);
    await context.ti.xcomPush("source_url", `https://example.com/data/${context.ds}`);
    return { greeting: this.greeting, numbers: [1, 2, 3] };
  }
}

/** Sums the numbers the upstream task returned. */
class TransformOperator extends BaseOperator {
  async execute(context: Context): Promise<unknown> {
    const data = (await context.ti.xcomPull({ taskIds: "extract" })) as { numbers: number[] };
    const total = data.numbers.reduce((a, b) => a + b, 0);
    this.log.info("total is %d", total);
    return total;
  }
}

/** Logs the result. */
class LoadOperator extends BaseOperator {
  async execute(context: Context): Promise<unknown> {
    const total = await context.ti.xcomPull({ taskIds: "transform" });
    this.log.info("loaded total %s for run %s", total, context.runId);
    return undefined;
  }
}

export const dag = new DAG({ dagId: "runtime_plain", params: { name: "world" }, defaultArgs: { retries: 0 } });

const extract = new ExtractOperator({ taskId: "extract", dag, greeting: "Hello {{ params.name }} on {{ ds }}" });
const transform = new TransformOperator({ taskId: "transform", dag });
const load = new LoadOperator({ taskId: "load", dag });
extract.then(transform).then(load);
