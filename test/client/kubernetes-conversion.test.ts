import { describe, expect, it } from "vitest";
import {
  ArmadaError,
  jobRequestItemFromKubernetes,
  jobRequestItemToKubernetes,
  podSpecFromKubernetes,
  podSpecToKubernetes,
} from "../../src/client/index.js";
import { JobSubmitRequestItem, ServiceType } from "../../src/gen/armada/submit.js";
import { PodSpec } from "../../src/gen/k8s.io/api/core/v1/generated.js";

const ITEM_YAML = `
priority: 1.5
namespace: team-a
labels: { app: train }
annotations:
  armadaproject.io/owner: me
externalJobUri: airflow://dag/task/run/0
services:
  - type: Headless
    ports: [8080]
podSpecs:
  - restartPolicy: Never
    terminationGracePeriodSeconds: 30
    nodeSelector: { gpu: "true" }
    tolerations:
      - key: nvidia.com/gpu
        operator: Exists
        effect: NoSchedule
    volumes:
      - name: scratch
        emptyDir: { sizeLimit: 10Gi }
      - name: cfg
        configMap: { name: settings, items: [{ key: a, path: a.txt }] }
    containers:
      - name: main
        image: busybox:1.36
        command: [sh, -c]
        args: ["echo hi"]
        env:
          - name: TOKEN
            valueFrom: { secretKeyRef: { name: creds, key: token } }
        ports:
          - containerPort: 8080
            name: http
        resources:
          requests: { cpu: 500m, memory: 1Gi }
          limits: { cpu: 1, memory: 1Gi, nvidia.com/gpu: 1 }
        readinessProbe:
          httpGet: { path: /healthz, port: http }
          periodSeconds: 5
        livenessProbe:
          tcpSocket: { port: 8080 }
        securityContext: { runAsUser: 1000, runAsNonRoot: true }
`;

describe("Kubernetes-native job request items", () => {
  it("reads a YAML item the way armadactl users write it into the proto form", () => {
    const item = jobRequestItemFromKubernetes(ITEM_YAML);
    expect(item.priority).toBe(1.5);
    expect(item.namespace).toBe("team-a");
    expect(item.services).toEqual([{ type: ServiceType.Headless, ports: [8080], name: "" }]);
    const spec = item.podSpecs[0]!;
    expect(spec.terminationGracePeriodSeconds).toBe("30");
    expect(spec.volumes[0]!.volumeSource!.emptyDir!.sizeLimit).toEqual({ string: "10Gi" });
    expect(spec.volumes[1]!.volumeSource!.configMap!.localObjectReference).toEqual({ name: "settings" });
    const c = spec.containers[0]!;
    expect(c.resources!.requests).toEqual({ cpu: { string: "500m" }, memory: { string: "1Gi" } });
    expect(c.resources!.limits!["cpu"]).toEqual({ string: "1" });
    expect(c.env[0]!.valueFrom!.secretKeyRef).toMatchObject({
      localObjectReference: { name: "creds" },
      key: "token",
    });
    expect(c.readinessProbe!.handler!.httpGet!.port).toEqual({ type: "1", strVal: "http" });
    expect(c.livenessProbe!.handler!.tcpSocket!.port).toEqual({ type: "0", intVal: 8080 });
    expect(c.securityContext!.runAsUser).toBe("1000");
    // The converted item encodes: it is a valid message.
    const bytes = JobSubmitRequestItem.encode(item).finish();
    expect(JobSubmitRequestItem.decode(bytes)).toEqual(item);
  });

  it("writes the proto form back to the same Kubernetes object", () => {
    const item = jobRequestItemFromKubernetes(ITEM_YAML);
    const back = jobRequestItemToKubernetes(item);
    expect(back).toMatchObject({
      priority: 1.5,
      services: [{ type: "Headless", ports: [8080] }],
    });
    const c = (back.podSpecs as { containers: Record<string, unknown>[] }[])[0]!.containers[0]!;
    expect(c.resources).toEqual({
      requests: { cpu: "500m", memory: "1Gi" },
      limits: { cpu: "1", memory: "1Gi", "nvidia.com/gpu": "1" },
    });
    expect(c.readinessProbe).toEqual({ httpGet: { path: "/healthz", port: "http" }, periodSeconds: 5 });
    expect(c.env).toEqual([{ name: "TOKEN", valueFrom: { secretKeyRef: { name: "creds", key: "token" } } }]);
    expect(jobRequestItemFromKubernetes(back)).toEqual(item);
  });

  it("names the path and the fix for a wrong quantity", () => {
    const bad = ITEM_YAML.replace("limits: { cpu: 1,", "limits: { cpu: true,");
    const err = (() => {
      try {
        jobRequestItemFromKubernetes(bad);
      } catch (e) {
        return e;
      }
    })() as ArmadaError;
    expect(err).toBeInstanceOf(ArmadaError);
    expect(err.field).toBe("podSpecs[0].containers[0].resources.limits.cpu");
    expect(err.message).toContain("podSpecs[0].containers[0].resources.limits.cpu");
    expect(err.message).toMatch(/"500m"/);
  });

  it("names an unknown key and suggests the right one", () => {
    expect(() => podSpecFromKubernetes({ containers: [{ name: "a", imagePullPolicyy: "Always" }] })).toThrow(
      /containers\[0\]\.imagePullPolicyy.*Did you mean "imagePullPolicy"/,
    );
    expect(() => podSpecFromKubernetes({ containers: [{ name: "a", image_pull_policy: "Always" }] })).toThrow(
      /Did you mean "imagePullPolicy"/,
    );
  });

  it("round-trips a pod spec given as JSON text", () => {
    const spec = podSpecFromKubernetes(
      JSON.stringify({ containers: [{ name: "x", image: "y", ports: [{ containerPort: 80 }] }] }),
    );
    expect(PodSpec.toJSON(spec)).toMatchObject({
      containers: [{ name: "x", image: "y", ports: [{ containerPort: 80 }] }],
    });
    expect(podSpecToKubernetes(spec)).toEqual({
      containers: [{ name: "x", image: "y", ports: [{ containerPort: 80 }] }],
    });
  });
});
