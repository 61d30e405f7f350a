/**
 * Hello, deferred: the task waits for its job in a trigger instead of a
 * sleeping worker, resuming at each poll moment.
 *
 *   npx armada-airflow dags test examples/dags/hello-deferrable.ts
 */
import { ArmadaOperator, DAG, armadaEnvironment } from "armada-airflow";

const armada = await armadaEnvironment();

export const dag = new DAG({ dagId: "hello_deferrable", description: "One Armada job, waited for by a trigger" });

new ArmadaOperator({
  dag,
  taskId: "hello_deferrable",
  name: "hello-deferrable",
  channelArgs: armada.channelArgs,
  armadaQueue: armada.armadaQueue,
  lookoutUrlTemplate: armada.lookoutUrlTemplate,
  kubeConfig: armada.kubeConfig,
  containerLogs: "main",
  deferrable: true,
  pollInterval: 1,
  jobRequest: {
    namespace: "default",
    podSpec: {
      containers: [
        {
          name: "main",
          image: "busybox:1.36",
          command: ["sh", "-c"],
          args: ["echo 'deferred hello from {{ run_id }}' && sleep 3 && echo 'finished'"],
          resources: { requests: { cpu: "100m", memory: "64Mi" }, limits: { cpu: "100m", memory: "64Mi" } },
        },
      ],
    },
  },
});
