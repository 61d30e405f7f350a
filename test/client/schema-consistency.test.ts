/**
 * The runtime schema (src/gen/{armada,k8s.io}/schema.ts, written by our buf
 * plugin) must describe exactly the fields of the ts-proto generated
 * messages, or the Kubernetes converter would drop or invent fields.
 */
import { describe, expect, it } from "vitest";
import * as event from "../../src/gen/armada/event.js";
import * as health from "../../src/gen/armada/health.js";
import * as job from "../../src/gen/armada/job.js";
import * as submit from "../../src/gen/armada/submit.js";
import { messages as armadaMessages } from "../../src/gen/armada/schema.js";
import * as core from "../../src/gen/k8s.io/api/core/v1/generated.js";
import * as networking from "../../src/gen/k8s.io/api/networking/v1/generated.js";
import * as resource from "../../src/gen/k8s.io/apimachinery/pkg/api/resource/generated.js";
import * as meta from "../../src/gen/k8s.io/apimachinery/pkg/apis/meta/v1/generated.js";
import * as intstr from "../../src/gen/k8s.io/apimachinery/pkg/util/intstr/generated.js";
import { messages as k8sMessages } from "../../src/gen/k8s.io/schema.js";

type Fns = { fromPartial(o: object): Record<string, unknown> };
const modules: [string, Record<string, unknown>[]][] = [
  ["api.", [submit, event, job, health]],
  ["k8s.io.api.core.v1.", [core]],
  ["k8s.io.api.networking.v1.", [networking]],
  ["k8s.io.apimachinery.pkg.api.resource.", [resource]],
  ["k8s.io.apimachinery.pkg.apis.meta.v1.", [meta]],
  ["k8s.io.apimachinery.pkg.util.intstr.", [intstr]],
];

function generated(fullName: string): Fns {
  const [prefix, mods] = modules.find(([p]) => fullName.startsWith(p))!;
  const exportName = fullName.slice(prefix.length).replace(/\./g, "_");
  const found = mods.map((m) => m[exportName]).find((x) => x && typeof (x as Fns).fromPartial === "function");
  if (!found) throw new Error(`no generated message ${exportName} for ${fullName}`);
  return found as Fns;
}

describe("generated runtime schema", () => {
  const all = { ...armadaMessages, ...k8sMessages };

  it("covers the Kubernetes closure and the Armada messages", () => {
    expect(Object.keys(k8sMessages)).toContain("k8s.io.api.core.v1.PodSpec");
    expect(Object.keys(armadaMessages)).toContain("api.JobSubmitRequestItem");
    expect(Object.keys(all).length).toBeGreaterThan(150);
  });

  it("has, for every message, exactly the properties ts-proto generates", () => {
    for (const [name, schema] of Object.entries(all)) {
      const keys = Object.keys(generated(name).fromPartial({})).sort();
      const props = [...new Set(schema.fields.map((f) => f.oneof ?? f.prop))].sort();
      expect(props, name).toEqual(keys);
    }
  });
});
