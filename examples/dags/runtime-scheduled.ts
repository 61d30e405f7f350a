/**
 * A scheduled DAG: weekdays at 06:30 Paris time (across DST changes), one run
 * at a time, no catch-up of missed days. Each run reports the dates it covers.
 *
 *   armada-airflow scheduler --dags-folder examples/dags     # then: armada-airflow dags unpause runtime_scheduled
 *   armada-airflow dags backfill runtime_scheduled --start-date 2024-03-25 --end-date 2024-03-29
 */
import { BaseOperator, DAG, type BaseOperatorOptions, type Context } from "armada-airflow";

/** Logs and returns the run's logical date and data interval, rendered from templates. */
class ReportDates extends BaseOperator {
  summary: unknown;
  constructor(options: BaseOperatorOptions) {
    super(options);
    this.templateFields = ["summary"];
    this.summary =
      "ds {{ ds }}, ts {{ ts }}, data interval {{ data_interval_start }} to {{ data_interval_end }}";
  }
  async execute(context: Context): Promise<unknown> {
    this.log.info("run %s (%s): %s", context.runId, context.dagRun.runType, this.summary);
    return this.summary;
  }
}

export const dag = new DAG({
  dagId: "runtime_scheduled",
  schedule: "30 6 * * 1-5",
  timezone: "Europe/Paris",
  startDate: "2024-01-01",
  catchup: false,
  maxActiveRuns: 1,
  description: "weekdays at 06:30 Europe/Paris",
});

new ReportDates({ taskId: "report", dag });
