/**
 * Links found in logs: the job prints a dashboard URL; a RegExp extra link
 * picks the first match out of the container log and stores it as the task's
 * "Dashboard" link (XCom armada_dashboard_url), beside a templated "Runbook".
 *
 *   npx armada-airflow dags test examples/dags/log-link.ts
 */
import { ArmadaOperator, DAG, armadaEnvironment } from "armada-airflow";

const armada = await armadaEnvironment();

export const dag = new DAG({ dagId: "log_link", description: "Extract a link from a job's logs" });

new ArmadaOperator({
  dag,
  taskId: "log_link",
  name: "log-link",
  channelArgs: armada.channelArgs,
  armadaQueue: armada.armadaQueue,
  lookoutUrlTemplate: armada.lookoutUrlTemplate,
  kubeConfig: armada.kubeConfig,
  containerLogs: "main",
  pollInterval: 1,
  extraLinks: {
    Dashboard: /https:\/\/dashboard\.example\.com\/runs\/\S+/,
    Runbook: "https://runbooks.example.com/{{ dag.dag_id }}/{{ run_id }}",
  },
  jobRequest: {
    namespace: "default",
    podSpec: {
      containers: [
        {
          name: "main",
          image: "busybox:1.36",
          command: ["sh", "-c"],
          args: [
            "echo 'training started' && echo 'metrics at https://dashboard.example.com/runs/{{ ti.task_id }}-42' && sleep 1 && echo 'done'",
          ],
          resources: { requests: { cpu: "100m", memory: "64Mi" }, limits: { cpu: "100m", memory: "64Mi" } },
        },
      ],
    },
  },
});
