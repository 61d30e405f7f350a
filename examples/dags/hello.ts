/**
 * Hello, Armada: one job that prints a greeting, with its logs streamed into
 * the task log and a Lookout link.
 *
 *   npx armada-airflow dags test examples/dags/hello.ts
 *
 * Runs against the Armada named by ARMADA_TARGET (see armadaEnvironment), or
 * against an embedded dev server when none is named.
 */
import { ArmadaOperator, DAG, armadaEnvironment } from "armada-airflow";

const armada = await armadaEnvironment();

export const dag = new DAG({
  dagId: "hello",
  description: "Submit one Armada job and follow it to success",
  params: { greeting: "Hello" },
});

new ArmadaOperator({
  dag,
  taskId: "hello",
  name: "hello",
  channelArgs: armada.channelArgs,
  armadaQueue: armada.armadaQueue,
  lookoutUrlTemplate: armada.lookoutUrlTemplate,
  kubeConfig: armada.kubeConfig,
  jobSetPrefix: "hello-",
  containerLogs: "main",
  pollInterval: 1,
  jobRequest: {
    namespace: "default",
    priority: 1,
    podSpec: {
      restartPolicy: "Never",
      containers: [
        {
          name: "main",
          image: "busybox:1.36",
          command: ["sh", "-c"],
          args: ["echo '{{ params.greeting }} from {{ ti.task_id }} in run {{ run_id }}' && sleep 2 && echo 'all done'"],
          resources: {
            requests: { cpu: "100m", memory: "64Mi" },
            limits: { cpu: "100m", memory: "64Mi" },
          },
        },
      ],
    },
  },
});
