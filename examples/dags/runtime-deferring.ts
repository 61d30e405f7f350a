/**
 * A deferring operator: it hands its wait to the triggerer and resumes when
 * the trigger fires. Run: armada-airflow dags test examples/dags/runtime-deferring.ts --conf '{"wait_seconds": 1}'
 */
import { BaseOperator, DAG, DateTimeTrigger, type BaseOperatorOptions, type Context } from "armada-airflow";

/** Waits `waitSeconds` without holding a worker, then returns when it resumed. */
class WaitOperator extends BaseOperator {
  waitSeconds: unknown;
  constructor(options: BaseOperatorOptions & { waitSeconds: unknown }) {
    super(options);
    this.templateFields = ["wait_seconds"];
    this.waitSeconds = options.waitSeconds;
  }

  async execute(context: Context): Promise<unknown> {
    const seconds = Number(this.waitSeconds);
    this.log.info("deferring for %d seconds (try %d)", seconds, context.ti.tryNumber);
    this.defer({
      trigger: new DateTimeTrigger(context.clock.nowMs() + seconds * 1000),
      methodName: "executeComplete",
      kwargs: { seconds },
      timeout: seconds + 600,
    });
  }

  async executeComplete(context: Context, event: unknown, kwargs: Record<string, unknown>): Promise<unknown> {
    this.log.info("resumed after %s seconds (event %s, try %d)", kwargs.seconds, event, context.ti.tryNumber);
    return { firedAt: event, tryNumber: context.ti.tryNumber };
  }
}

export const dag = new DAG({ dagId: "runtime_deferring", params: { wait_seconds: 0.2 } });

new WaitOperator({ taskId: "wait", dag, waitSeconds: "{{ params.wait_seconds }}" });
