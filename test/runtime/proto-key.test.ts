/**
 * A "__proto__" key in user JSON (JSON.parse makes it an own property: a DAG
 * run's --conf, a job request read from a file) is data. Every object walk
 * keeps it as a key and never lets it set the result's prototype.
 */
import { expect, it } from "vitest";
import { deserializeValue, jobRequestItemFromKubernetes, serializeValue, TemplateEnv } from "armada-airflow";
import { renderJobRequestJson, jobRequestToJson } from "../../src/operator/job-request.js";
import { fakeContext } from "./fake-context.js";

const withProtoKey = () =>
  JSON.parse('{"__proto__": {"polluted": "{{ 1 + 1 }}"}, "a": "{{ 2 + 2 }}"}') as object;

function expectOwnProtoKey(v: unknown, inner: unknown): void {
  expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
  expect(Object.prototype.hasOwnProperty.call(v, "__proto__")).toBe(true);
  expect(Object.getOwnPropertyDescriptor(v, "__proto__")!.value).toEqual(inner);
  expect((v as { polluted?: unknown }).polluted).toBeUndefined();
}

it("template rendering keeps a __proto__ key as data", () => {
  const out = new TemplateEnv().render(withProtoKey(), fakeContext({ taskId: "t" } as never, {}), "f");
  expectOwnProtoKey(out, { polluted: 2 });
  expect((out as { a: unknown }).a).toBe(4);
});

it("XCom serde keeps a __proto__ key through a round trip", () => {
  const back = deserializeValue(serializeValue(withProtoKey()));
  expectOwnProtoKey(back, { polluted: "{{ 1 + 1 }}" });
});

it("the operator's job request JSON walk and rendering keep a __proto__ key", () => {
  const json = jobRequestToJson({ namespace: "ns", labels: withProtoKey() });
  const rendered = renderJobRequestJson(json, (s) => s.toUpperCase());
  expectOwnProtoKey(rendered.labels, { polluted: "{{ 1 + 1 }}".toUpperCase() });
});

it("Kubernetes-native conversion keeps a __proto__ annotation key", () => {
  const item = jobRequestItemFromKubernetes(
    JSON.parse('{"namespace": "ns", "annotations": {"__proto__": "x", "b": "y"}}') as Record<string, unknown>,
  );
  expect(Object.getPrototypeOf(item.annotations)).toBe(Object.prototype);
  expect(Object.entries(item.annotations)).toEqual([
    ["__proto__", "x"],
    ["b", "y"],
  ]);
});
