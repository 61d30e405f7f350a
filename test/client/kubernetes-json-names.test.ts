/**
 * Cross-check with an independent implementation: every Kubernetes JSON key
 * our converter accepts (inlined Go structs expanded) exists in the official
 * JavaScript client's model of the same type, with a matching value kind.
 * (That client may know newer fields than our pinned schema, so it is a
 * subset check.)
 */
import * as k8s from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import {
  acceptedKeys,
  isInlineField,
  messageSchema,
  schemaMessageNames,
} from "../../src/client/kubernetes-json.js";

type Model = { getAttributeTypeMap(): { baseName: string; type: string }[] };
const models = k8s as unknown as Record<string, Model | undefined>;

const PACKAGES = [
  "k8s.io.api.core.v1.",
  "k8s.io.api.networking.v1.",
  "k8s.io.apimachinery.pkg.apis.meta.v1.",
];

describe("Kubernetes JSON names agree with @kubernetes/client-node", () => {
  const checked: string[] = [];
  for (const name of schemaMessageNames().filter((n) => PACKAGES.some((p) => n.startsWith(p)))) {
    const short = name.slice(name.lastIndexOf(".") + 1);
    const model = models[`V1${short}`];
    if (!model?.getAttributeTypeMap) continue;
    checked.push(name);
    it(`${short}`, () => {
      const theirs = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
      const ours = acceptedKeys(name, "kubernetes");
      expect(ours.filter((k) => !theirs.has(k))).toEqual([]);
      for (const f of messageSchema(name).fields) {
        if (isInlineField(name, f)) continue;
        const t = theirs.get(f.json)!;
        if (f.type === "k8s.io.apimachinery.pkg.api.resource.Quantity") expect(t, f.json).toBe("string");
        if (f.type === "k8s.io.apimachinery.pkg.util.intstr.IntOrString")
          expect(t, f.json).toBe("IntOrString");
        if (f.type === "k8s.io.apimachinery.pkg.apis.meta.v1.Time") expect(t, f.json).toBe("Date");
        if (f.kind === "string" && !f.repeated) expect(t, f.json).toBe("string");
        if (f.kind === "bool") expect(t, f.json).toBe("boolean");
        if ((f.kind === "int32" || f.kind === "int64") && !f.repeated) expect(t, f.json).toBe("number");
        if (f.kind === "string" && f.repeated) expect(t, f.json).toBe("Array<string>");
      }
    });
  }

  it("checks the types that matter", () => {
    for (const t of [
      "PodSpec",
      "Container",
      "Volume",
      "Probe",
      "SecretKeySelector",
      "EphemeralContainer",
      "ObjectMeta",
      "IngressRule",
    ]) {
      expect(
        checked.some((n) => n.endsWith(`.${t}`)),
        t,
      ).toBe(true);
    }
    expect(checked.length).toBeGreaterThan(100);
  });
});
