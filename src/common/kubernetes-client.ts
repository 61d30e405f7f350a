/**
 * `@kubernetes/client-node`, loaded on first use. It is the heaviest module
 * the product depends on (about 65 MiB and half a second of CPU to load),
 * and most runs never read a pod log or an embedded kubeconfig: a runner of
 * thousands of deferred tasks should not carry it for nothing.
 */
export type KubernetesClient = typeof import("@kubernetes/client-node");

let loading: Promise<KubernetesClient> | undefined;

/** The Kubernetes client module (imported once, on the first call). */
export function kubernetesClient(): Promise<KubernetesClient> {
  return (loading ??= import("@kubernetes/client-node"));
}
