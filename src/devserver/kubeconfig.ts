/**
 * A kubeconfig pointing at the dev server's pod-log API, with one context per
 * cluster id (the operator picks the context named after a run's cluster).
 */

/** Inputs of {@link renderKubeconfig}. */
export interface KubeconfigInput {
  /** Base URL; each cluster's API server is `<server>/clusters/<id>`. */
  server: string;
  token: string;
  clusters: string[];
  namespace?: string;
}

/** The kubeconfig as YAML (JSON-quoted scalars, which are valid YAML). */
export function renderKubeconfig(input: KubeconfigInput): string {
  const q = (s: string) => JSON.stringify(s);
  const lines = [
    "apiVersion: v1",
    "kind: Config",
    "preferences: {}",
    `current-context: ${q(input.clusters[0] ?? "")}`,
  ];
  lines.push("clusters:");
  for (const id of input.clusters) {
    // One API server per cluster, so a pod is only found through the context of the cluster it runs on.
    lines.push(`- name: ${q(id)}`, "  cluster:", `    server: ${q(`${input.server}/clusters/${id}`)}`);
    // @kubernetes/client-node refuses plain http unless TLS verification is explicitly off.
    if (input.server.startsWith("http:")) lines.push("    insecure-skip-tls-verify: true");
  }
  lines.push("users:", `- name: "armada-dev"`, "  user:", `    token: ${q(input.token)}`);
  lines.push("contexts:");
  for (const id of input.clusters) {
    lines.push(
      `- name: ${q(id)}`,
      "  context:",
      `    cluster: ${q(id)}`,
      `    user: "armada-dev"`,
      `    namespace: ${q(input.namespace ?? "default")}`,
    );
  }
  return lines.join("\n") + "\n";
}
