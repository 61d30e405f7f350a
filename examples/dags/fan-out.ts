/**
 * Big fan-out: 100 deferred Armada jobs in one job set, mapped from a list.
 * Their status checks share one batched GetJobStatus call per poll round.
 *
 *   npx armada-airflow dags test examples/dags/fan-out.ts
 */
import { ArmadaOperator, DAG, armadaEnvironment } from "armada-airflow";

const armada = await armadaEnvironment();
const WIDTH = 100;

export const dag = new DAG({ dagId: "fan_out", description: `${WIDTH} Armada jobs at once` });

new ArmadaOperator({
  dag,
  taskId: "shard",
  name: "shard",
  channelArgs: armada.channelArgs,
  armadaQueue: armada.armadaQueue,
  lookoutUrlTemplate: armada.lookoutUrlTemplate,
  kubeConfig: armada.kubeConfig,
  jobSetPrefix: "fan-out-",
  deferrable: true,
  pollInterval: 2,
  jobRequest: {
    namespace: "default",
    podSpec: {
      containers: [
        {
          name: "main",
          image: "busybox:1.36",
          command: ["sh", "-c"],
          args: ["echo 'shard {{ ti.map_index }} of {{ params.width }}' && sleep 2"],
          resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "10m", memory: "16Mi" } },
        },
      ],
    },
  },
  params: { width: WIDTH },
}).expand({ name: Array.from({ length: WIDTH }, (_, i) => `shard-${i}`) });
