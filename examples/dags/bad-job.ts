/**
 * A job that fails: the task fails with ArmadaOperatorJobFailedError, its
 * last XCom job_context says FAILED, and the failing container's output is
 * in the task log. Exits non-zero on purpose.
 *
 *   npx armada-airflow dags test examples/dags/bad-job.ts
 */
import { ArmadaOperator, DAG, armadaEnvironment } from "armada-airflow";

const armada = await armadaEnvironment();

export const dag = new DAG({ dagId: "bad_job", description: "An Armada job that exits 1" });

new ArmadaOperator({
  dag,
  taskId: "bad_job",
  name: "bad-job",
  channelArgs: armada.channelArgs,
  armadaQueue: armada.armadaQueue,
  lookoutUrlTemplate: armada.lookoutUrlTemplate,
  kubeConfig: armada.kubeConfig,
  containerLogs: "main",
  pollInterval: 1,
  jobRequest: {
    namespace: "default",
    podSpec: {
      containers: [
        {
          name: "main",
          image: "busybox:1.36",
          command: ["sh", "-c"],
          args: ["echo 'about to fail' && exit 1"],
          resources: { requests: { cpu: "100m", memory: "64Mi" }, limits: { cpu: "100m", memory: "64Mi" } },
        },
      ],
    },
  },
});
