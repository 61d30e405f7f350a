import { describe, expect, it } from "vitest";
import {
  ArmadaError,
  jobRequestItemFromKubernetes,
  jobRequestItemToKubernetes,
  podSpecFromKubernetes,
  podSpecToKubernetes,
} from "../../src/client/index.js";
import { jobRequestItemFromEitherForm } from "../../src/client/kubernetes-job-request-item.js";
import { JobSubmitRequestItem } from "../../src/gen/armada/submit.js";

function failure(fn: () => unknown): ArmadaError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ArmadaError);
    return e as ArmadaError;
  }
  throw new Error("expected a failure");
}

describe("Kubernetes-native input: bad values name the path and the fix", () => {
  it.each([
    [
      { containers: [{ name: "a", ports: [{ containerPort: "80" }] }] },
      "containers[0].ports[0].containerPort",
      /expected an integer/,
    ],
    [
      { containers: [{ name: "a", ports: [{ containerPort: 1.5 }] }] },
      "containers[0].ports[0].containerPort",
      /whole number/,
    ],
    [{ containers: { name: "a" } }, "containers", /expected a list/],
    [{ containers: [{ name: "a", command: "echo hi" }] }, "containers[0].command", /expected a list/],
    [{ containers: [{ name: 5 }] }, "containers[0].name", /expected a string/],
    [{ containers: [{ name: "a", stdin: "yes" }] }, "containers[0].stdin", /true or false/],
    [
      { containers: [{ name: "a", livenessProbe: { httpGet: { port: true } } }] },
      "containers[0].livenessProbe.httpGet.port",
      /port number like 8080 or a named port/,
    ],
    [
      { containers: [{ name: "a", resources: { limits: { cpu: "lots" } } }] },
      "containers[0].resources.limits.cpu",
      /"500m"/,
    ],
    [{ nodeSelector: ["a"] }, "nodeSelector", /expected a mapping/],
    [{ terminationGracePeriodSeconds: "soon" }, "terminationGracePeriodSeconds", /expected an integer/],
    [
      { volumes: [{ name: "v", emptyDir: { sizeLimit: "1 Gi" } }] },
      "volumes[0].emptyDir.sizeLimit",
      /quantity/,
    ],
    [{ volumes: [{ name: "v", emptyDirr: {} }] }, "volumes[0].emptyDirr", /Did you mean "emptyDir"/],
    [{ containers: [null] }, "containers[0]", /cannot be null/],
    [
      { ephemeralContainers: [{ name: "e", targetContainerNam: "x" }] },
      "ephemeralContainers[0].targetContainerNam",
      /Did you mean "targetContainerName"/,
    ],
  ])("%j fails at %s", (spec, path, why) => {
    const e = failure(() => podSpecFromKubernetes(spec as Record<string, unknown>));
    expect(e.field).toBe(path);
    expect(e.message).toContain(`pod spec at ${path}:`);
    expect(e.message).toMatch(why);
    expect(e.code).toBe(3);
  });

  it("checks RFC3339 times and keeps sub-second precision", () => {
    const spec = {
      volumes: [
        {
          name: "eph",
          ephemeral: {
            volumeClaimTemplate: {
              metadata: { name: "claim", creationTimestamp: "2024-03-01T10:20:30.25Z", labels: { a: "b" } },
              spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
            },
          },
        },
      ],
    };
    const proto = podSpecFromKubernetes(spec);
    const ts = proto.volumes[0]!.volumeSource!.ephemeral!.volumeClaimTemplate!.metadata!.creationTimestamp;
    expect(ts).toEqual({ seconds: String(Date.UTC(2024, 2, 1, 10, 20, 30) / 1000), nanos: 250_000_000 });
    expect(podSpecToKubernetes(proto)).toEqual(spec);
    const bad = structuredClone(spec);
    bad.volumes[0]!.ephemeral.volumeClaimTemplate.metadata.creationTimestamp = "yesterday";
    expect(failure(() => podSpecFromKubernetes(bad)).field).toBe(
      "volumes[0].ephemeral.volumeClaimTemplate.metadata.creationTimestamp",
    );
  });

  it("reports invalid YAML as INVALID_ARGUMENT", () => {
    const e = failure(() => jobRequestItemFromKubernetes("podSpec: [unclosed"));
    expect(e.message).toMatch(/not valid YAML or JSON/);
  });

  it("hints to quote a YAML value that parsed as a date or number", () => {
    const e = failure(() =>
      podSpecFromKubernetes(
        "containers:\n  - name: a\n    env:\n      - name: D\n        value: 2024-01-01T00:00:00Z\n",
      ),
    );
    expect(e.field).toBe("containers[0].env[0].value");
    expect(e.message).toMatch(/Quote it in YAML/);
  });

  it("accepts enum names or numbers for Armada fields and writes names", () => {
    const item = jobRequestItemFromKubernetes({
      services: [
        { type: 1, ports: [80] },
        { type: "NodePort", ports: [81] },
      ],
    });
    expect(jobRequestItemToKubernetes(item)).toEqual({
      services: [{ type: "Headless", ports: [80] }, { ports: [81] }],
    });
    expect(
      failure(() => jobRequestItemFromKubernetes({ services: [{ type: "LoadBalancer" }] })).message,
    ).toMatch(/one of NodePort, Headless/);
  });
});

describe("items in either form", () => {
  it("accepts a full generated message as is", () => {
    const proto = JobSubmitRequestItem.fromPartial({
      namespace: "ns",
      podSpecs: [
        {
          containers: [{ name: "c", resources: { limits: { cpu: { string: "2" } } } }],
          volumes: [{ name: "v", volumeSource: { emptyDir: {} } }],
        },
      ],
    });
    expect(jobRequestItemFromEitherForm(proto, "item")).toEqual(proto);
  });

  it("reports the error of the form the object was written in", () => {
    const protoForm = {
      podSpecs: [
        {
          containers: [{ name: "c", resources: { limits: { cpu: { string: "2" } } } }],
          volumes: [{ name: "v", volumeSource: { emptyDirr: {} } }],
        },
      ],
    };
    expect(failure(() => jobRequestItemFromEitherForm(protoForm, "item")).field).toBe(
      "podSpecs[0].volumes[0].volumeSource.emptyDirr",
    );
    const k8sForm = {
      podSpecs: [{ containers: [{ name: "c", resources: { limits: { cpu: "2" } }, imagee: "x" }] }],
    };
    expect(failure(() => jobRequestItemFromEitherForm(k8sForm, "item")).field).toBe(
      "podSpecs[0].containers[0].imagee",
    );
  });
});
