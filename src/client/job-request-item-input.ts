import type { DeepPartial, JobSubmitRequestItem } from "../gen/armada/submit.js";
import { type KubernetesObject, jobRequestItemFromEitherForm } from "./kubernetes-job-request-item.js";

/**
 * A job request item as `submitJobs` accepts it: a proto-form partial
 * (`JobSubmitRequestItem`), a Kubernetes-native object, or YAML/JSON text.
 */
export type JobRequestItemInput = DeepPartial<JobSubmitRequestItem> | KubernetesObject | string;

/** Converts one accepted item form to the generated message, validating it. `path` names it in errors. */
export function toJobSubmitRequestItem(item: JobRequestItemInput, path: string): JobSubmitRequestItem {
  return jobRequestItemFromEitherForm(item, path);
}
