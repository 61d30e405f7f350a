/**
 * Property: random pod specs and job request items written in canonical
 * Kubernetes JSON convert to the proto form and back exactly, and the proto
 * form survives a binary encode/decode unchanged.
 */
import { deepStrictEqual } from "node:assert";
import fc from "fast-check";
import { messageArb } from "./support/kubernetes-arbitraries.js";
import { describe, it } from "vitest";
import {
  jobFromKubernetes,
  jobToKubernetes,
  jobRequestItemFromKubernetes,
  jobRequestItemToKubernetes,
  podSpecFromKubernetes,
  podSpecToKubernetes,
} from "../../src/client/index.js";
import { Job, JobSubmitRequestItem } from "../../src/gen/armada/submit.js";
import { PodSpec } from "../../src/gen/k8s.io/api/core/v1/generated.js";

describe("Kubernetes <-> proto round trip (property)", () => {
  it("random pod specs round-trip exactly", () => {
    fc.assert(
      fc.property(messageArb("k8s.io.api.core.v1.PodSpec", 0)!, (k8s) => {
        const proto = podSpecFromKubernetes(k8s as Record<string, unknown>);
        deepStrictEqual(podSpecToKubernetes(proto), k8s);
        deepStrictEqual(PodSpec.decode(PodSpec.encode(proto).finish()), proto);
        deepStrictEqual(podSpecFromKubernetes(podSpecToKubernetes(proto)), proto);
      }),
      { numRuns: 300, endOnFailure: true },
    );
  });

  it("random job request items round-trip exactly", () => {
    fc.assert(
      fc.property(messageArb("api.JobSubmitRequestItem", 0)!, (k8s) => {
        const proto = jobRequestItemFromKubernetes(k8s as Record<string, unknown>);
        deepStrictEqual(jobRequestItemToKubernetes(proto), k8s);
        deepStrictEqual(JobSubmitRequestItem.decode(JobSubmitRequestItem.encode(proto).finish()), proto);
      }),
      { numRuns: 200, endOnFailure: true },
    );
  });

  it("random jobs (as the query API returns them) round-trip exactly", () => {
    fc.assert(
      fc.property(messageArb("api.Job", 0)!, (k8s) => {
        const proto = jobFromKubernetes(k8s as Record<string, unknown>);
        deepStrictEqual(jobToKubernetes(proto), k8s);
        deepStrictEqual(Job.decode(Job.encode(proto).finish()), proto);
      }),
      { numRuns: 200, endOnFailure: true },
    );
  });
});
