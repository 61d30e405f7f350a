/**
 * What exists on the dev server's pretend Kubernetes clusters: namespaces and
 * pullable images. A pod in a namespace that does not exist cannot be created,
 * and a container whose image cannot be pulled never starts; both fail the job
 * with the words Kubernetes uses, so a job that would fail on a real cluster
 * fails here too.
 */

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_LABEL_HELP =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and " +
  "end with an alphanumeric character (e.g. 'my-name', or '123-abc', regex used for validation is " +
  "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

/**
 * Why the API server refuses to create the pod for its container names (Armada's submit checks do not look
 * at them), or undefined when they are valid.
 */
export function invalidPodReason(
  podName: string,
  containers: readonly { name?: string }[],
): string | undefined {
  const seen = new Set<string>();
  for (const [i, c] of containers.entries()) {
    const name = c.name ?? "";
    const field = `spec.containers[${i}].name`;
    let why: string | undefined;
    if (name === "") why = `${field}: Required value`;
    else if (name.length > 63) why = `${field}: Invalid value: "${name}": must be no more than 63 characters`;
    else if (!DNS1123_LABEL.test(name)) why = `${field}: Invalid value: "${name}": ${DNS1123_LABEL_HELP}`;
    else if (seen.has(name)) why = `${field}: Duplicate value: "${name}"`;
    if (why) return `failed to create pod ${podName}: Pod "${podName}" is invalid: ${why}`;
    seen.add(name);
  }
  return undefined;
}

/** Namespaces a new dev server has, as a fresh Armada cluster set-up does. */
export const DEFAULT_NAMESPACES: readonly string[] = ["default", "personal-anonymous"];

/** Why a pod cannot be created in `namespace`, or undefined when the namespace exists. */
export function missingNamespaceReason(
  podName: string,
  namespace: string,
  namespaces: ReadonlySet<string>,
): string | undefined {
  if (namespaces.has(namespace)) return undefined;
  return (
    `failed to create pod ${podName}: namespaces "${namespace}" not found ` +
    `(the dev server has namespaces ${[...namespaces].join(", ")}; add one with --namespace ${namespace})`
  );
}

function globToRegExp(pattern: string): RegExp {
  const body = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${body}$`);
}

/** The images the dev server can "pull": every image, or those matching a set of glob patterns. */
export class ImagePolicy {
  private readonly patterns: { text: string; re: RegExp }[];

  /** `patterns` use `*` (any characters) and `?` (one character); an empty list accepts every image. */
  constructor(patterns: readonly string[] = []) {
    this.patterns = patterns.map((text) => ({ text, re: globToRegExp(text) }));
  }

  /** Whether `image` (as written, or with the `:latest` tag Kubernetes adds when none is given) matches. */
  accepts(image: string): boolean {
    if (this.patterns.length === 0) return true;
    const lastPart = image.slice(image.lastIndexOf("/") + 1);
    const forms = [image];
    if (!lastPart.includes(":") && !image.includes("@")) forms.push(`${image}:latest`);
    return this.patterns.some((p) => forms.some((f) => p.re.test(f)));
  }

  /** The kubelet's failure for a container whose image cannot be pulled, or undefined when it can. */
  pullFailure(container: string, image: string): string | undefined {
    if (this.accepts(image)) return undefined;
    return (
      `container ${container}: ImagePullBackOff: Back-off pulling image "${image}": ErrImagePull: ` +
      `image "${image}" is not among the dev server's known images (--image ${this.patterns.map((p) => p.text).join(", --image ")})`
    );
  }
}
