/**
 * The dev server's `--node` flag: one node of a cluster written on the
 * command line, so a user can give the local cluster the shape of the real
 * one (GPU nodes, bigger machines, labels a gang's uniformity label reads)
 * without a config file.
 *
 * Form: `[CLUSTER/]NAME:cpu=8,memory=32Gi[,gpus=N][,label.KEY=VALUE ...]`.
 * The cluster defaults to `cluster-1`; nodes naming the same cluster join it.
 */
import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import { ErrorCode } from "../common/error-code.js";
import { parseQuantity } from "./quantity.js";
import type { ClusterConfig, NodeConfig } from "./scheduler.js";

/** One parsed `--node` value. */
export interface NodeSpec {
  clusterId: string;
  node: NodeConfig;
}

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const FORM = "[CLUSTER/]NAME:cpu=8,memory=32Gi[,gpus=N][,label.KEY=VALUE]";

/** Parses one `--node` value; throws an Error that quotes the value and says the form it takes. */
export function parseNodeSpec(text: string): NodeSpec {
  const fail = (why: string): never => {
    throw new ArmadaAirflowError(ErrorCode.InvalidArgument, `--node "${text}": ${why} (form: ${FORM})`);
  };
  const colon = text.indexOf(":");
  if (colon < 0) fail('no ":" between the node\'s name and its resources');
  const where = text.slice(0, colon);
  const slash = where.indexOf("/");
  const clusterId = slash < 0 ? "cluster-1" : where.slice(0, slash);
  const name = slash < 0 ? where : where.slice(slash + 1);
  if (!NAME.test(clusterId)) fail(`cluster "${clusterId}" must be a lowercase name like cluster-1`);
  if (!NAME.test(name)) fail(`node name "${name}" must be a lowercase name like gpu-node-1`);

  let cpu: string | undefined;
  let memory: string | undefined;
  let gpus: number | undefined;
  const labels: Record<string, string> = {};
  for (const part of text.slice(colon + 1).split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) fail(`"${part}" is not KEY=VALUE`);
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === "cpu" || key === "memory") {
      let n: number;
      try {
        n = parseQuantity(value);
      } catch (err) {
        return fail(`${key}: ${(err as Error).message}`);
      }
      if (!(n > 0)) fail(`${key} must be more than 0, got "${value}"`);
      if (key === "cpu") cpu = value;
      else memory = value;
    } else if (key === "gpus") {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0 || value === "")
        fail(`gpus must be a whole number >= 0, got "${value}"`);
      gpus = n;
    } else if (key.startsWith("label.") && key.length > "label.".length) {
      labels[key.slice("label.".length)] = value;
    } else {
      fail(`unknown key "${key}"; use cpu, memory, gpus or label.KEY`);
    }
  }
  if (cpu === undefined) fail("cpu is missing");
  if (memory === undefined) fail("memory is missing");
  return {
    clusterId,
    node: {
      name,
      cpu: cpu!,
      memory: memory!,
      ...(gpus ? { gpus } : {}),
      ...(Object.keys(labels).length ? { labels } : {}),
    },
  };
}

/** Groups parsed nodes into clusters, in the order they were first named; a node name used twice is an error. */
export function clustersFromNodeSpecs(specs: readonly NodeSpec[]): ClusterConfig[] {
  const clusters = new Map<string, ClusterConfig>();
  const names = new Set<string>();
  for (const { clusterId, node } of specs) {
    if (names.has(node.name))
      throw new ArmadaAirflowError(
        ErrorCode.InvalidArgument,
        `--node: node name "${node.name}" is used twice`,
      );
    names.add(node.name);
    let cluster = clusters.get(clusterId);
    if (!cluster) clusters.set(clusterId, (cluster = { id: clusterId, nodes: [] }));
    cluster.nodes.push(node);
  }
  return [...clusters.values()];
}
