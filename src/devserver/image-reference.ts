/**
 * Container image references. The dev server pulls nothing, but a reference
 * Kubernetes could not parse fails the pod as a real kubelet would
 * (`InvalidImageName`), so a broken image still fails the job.
 */

const COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const DOMAIN =
  "(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)";
const REFERENCE = new RegExp(
  `^${DOMAIN}?${COMPONENT}(?:/${COMPONENT})*(?::[\\w][\\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$`,
);

/** Why the kubelet would refuse `image`, or undefined when it is a valid reference. */
export function invalidImageReason(container: string, image: string | undefined): string | undefined {
  if (image && REFERENCE.test(image)) return undefined;
  return (
    `container ${container}: InvalidImageName: Failed to apply default image tag "${image ?? ""}": ` +
    `couldn't parse image name "${image ?? ""}": invalid reference format`
  );
}
