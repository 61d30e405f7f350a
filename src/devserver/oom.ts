/**
 * How a container killed for going over its memory ends, in both executors:
 * exit code 137 (SIGKILL), kubelet reason `OOMKilled`, and a message naming
 * the limit, so the job fails as it would on Kubernetes.
 */
import type { Container } from "../gen/k8s.io/api/core/v1/generated.js";

/** Exit code of a container the OOM killer ended (128 + SIGKILL). */
export const OOM_EXIT_CODE = 137;

/** The failure text of an OOM-killed container. */
export function oomReason(name: string, container: Container): string {
  const limit = container.resources?.limits?.memory?.string;
  return limit
    ? `container ${name} was OOMKilled (exit code ${OOM_EXIT_CODE}): its memory use went over limits.memory ${limit}`
    : `container ${name} was OOMKilled (exit code ${OOM_EXIT_CODE}): it has no limits.memory and used up the node's memory`;
}

/** One failure text from the failed containers' texts, or undefined when none failed. */
export function podFailureReason(reasons: readonly string[]): string | undefined {
  return reasons.length > 0 ? reasons.join("; ") : undefined;
}
