/**
 * Gangs: jobs that share `armadaproject.io/gangId` and name the same
 * `armadaproject.io/gangCardinality` are scheduled all at once or not at all,
 * optionally all on nodes that share the value of the node label
 * `armadaproject.io/gangNodeUniformityLabel` names. A request whose gang
 * annotations disagree is refused as a whole, as the real server does.
 */
import type { JobSubmitRequestItem } from "../gen/armada/submit.js";
import { DevRequestError } from "./request-error.js";

/** Annotation naming a job's gang. */
export const GANG_ID_ANNOTATION = "armadaproject.io/gangId";
/** Annotation giving the number of jobs in the gang. */
export const GANG_CARDINALITY_ANNOTATION = "armadaproject.io/gangCardinality";
/** Annotation naming the node label all of a gang's jobs must share the value of. */
export const GANG_NODE_UNIFORMITY_ANNOTATION = "armadaproject.io/gangNodeUniformityLabel";

/** A job's gang. */
export interface GangInfo {
  id: string;
  cardinality: number;
  /** Node label whose value all members' nodes share ("" for none). */
  nodeUniformityLabel: string;
}

/** The gang of a job from its annotations, undefined for a job that is not in one; throws when malformed. */
export function gangOf(annotations: Record<string, string>): GangInfo | undefined {
  const id = annotations[GANG_ID_ANNOTATION];
  if (id === undefined || id === "") return undefined;
  const raw = annotations[GANG_CARDINALITY_ANNOTATION];
  const cardinality = Number(raw);
  if (raw === undefined || !/^\d+$/.test(raw) || cardinality < 1) {
    throw new DevRequestError(
      "INVALID_ARGUMENT",
      `invalid gang information: gang ${id}: annotation ${GANG_CARDINALITY_ANNOTATION} must be a positive integer, got ${raw === undefined ? "none" : `"${raw}"`}`,
    );
  }
  return { id, cardinality, nodeUniformityLabel: annotations[GANG_NODE_UNIFORMITY_ANNOTATION] ?? "" };
}

/** Refuses a request whose jobs of one gang disagree on cardinality or node uniformity (the real server's words). */
export function checkGangs(items: readonly JobSubmitRequestItem[]): void {
  const seen = new Map<string, GangInfo>();
  for (const item of items) {
    const gang = gangOf(item.annotations);
    if (!gang) continue;
    const first = seen.get(gang.id);
    if (!first) {
      seen.set(gang.id, gang);
      continue;
    }
    if (first.cardinality !== gang.cardinality) {
      throw new DevRequestError(
        "INVALID_ARGUMENT",
        `inconsistent gang cardinality in gang ${gang.id}: expected ${first.cardinality} but got ${gang.cardinality}`,
      );
    }
    if (first.nodeUniformityLabel !== gang.nodeUniformityLabel) {
      throw new DevRequestError(
        "INVALID_ARGUMENT",
        `inconsistent nodeUniformityLabel in gang ${gang.id}: expected ${first.nodeUniformityLabel} but got ${gang.nodeUniformityLabel}`,
      );
    }
  }
}
