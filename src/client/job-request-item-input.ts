import type { DeepPartial, JobSubmitRequestItem } from "../gen/armada/submit.js";
import { type KubernetesObject, jobRequestItemFromEitherForm } from "./kubernetes-job-request-item.js";

/**
 * A job request item as `submitJobs` accepts it: a proto-form partial
 * (`JobSubmitRequestItem`), a Kubernetes-native object, or YAML/JSON text.
 */
export type JobRequestItemInput = DeepPartial<JobSubmitRequestItem> | KubernetesObject | string;

/** Items {@link checkedJobRequestItem} read: a call sends them as they are. */
const checkedItems = new WeakSet<object>();

/** Converts one accepted item form to the generated message, validating it. `path` names it in errors. */
export function toJobSubmitRequestItem(item: JobRequestItemInput, path: string): JobSubmitRequestItem {
  if (typeof item === "object" && item !== null && checkedItems.has(item)) return item as JobSubmitRequestItem;
  return jobRequestItemFromEitherForm(item, path);
}

/**
 * Reads and checks an item ahead of the call that will send it, as
 * {@link toJobSubmitRequestItem} does; that call then sends the result
 * without reading it again. For items that wait to share a call: each is
 * read as it joins (by the task or trigger that submits it, in its own
 * turn), not all 500 of a call at once when it is sent, which held the
 * event loop for tens of milliseconds. The result must not be changed
 * afterwards: it is not checked again.
 */
export function checkedJobRequestItem(item: JobRequestItemInput, path: string): JobSubmitRequestItem {
  const read = toJobSubmitRequestItem(item, path);
  checkedItems.add(read);
  return read;
}
