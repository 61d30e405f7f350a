import { type DeepPartial, JobSubmitRequestItem } from "../gen/armada/submit.js";

/** A job request item as the client accepts it: a proto-form partial. */
export type JobRequestItemInput = DeepPartial<JobSubmitRequestItem>;

/** Converts one accepted item form to the generated message. `path` names it in errors. */
export function toJobSubmitRequestItem(item: JobRequestItemInput, path: string): JobSubmitRequestItem {
  if (typeof item !== "object" || item === null || Array.isArray(item)) {
    throw new TypeError(`${path} must be a JobSubmitRequestItem object, got ${JSON.stringify(item)}`);
  }
  return JobSubmitRequestItem.fromPartial(item);
}
