/**
 * The memo behind the job request's conversions: every mapped task of an
 * operator converts the same request, so it is converted once; each caller
 * still gets its own copy, and a bad request fails every time.
 */
import { describe, expect, it } from "vitest";
import {
  jobRequestToJson,
  normalizeRenderedJobRequest,
  renderJobRequestJson,
} from "../../src/operator/job-request.js";
import { PlainJsonMemo, plainJsonKey } from "../../src/operator/plain-json-memo.js";
import { ArmadaOperatorInputError } from "../../src/operator/errors.js";

describe("plainJsonKey", () => {
  it("keys plain JSON by its text", () => {
    expect(plainJsonKey({ a: [1, "x", true, null], b: { c: 2.5 } })).toBe(
      '{"a":[1,"x",true,null],"b":{"c":2.5}}',
    );
    expect(plainJsonKey(Object.create(null) as object)).toBe("{}");
  });

  it.each([
    ["an undefined member", { a: undefined }],
    ["a sparse array", new Array<number>(3)],
    ["-0", { n: -0 }],
    ["NaN", { n: NaN }],
    ["a Date", { d: new Date(0) }],
    ["a Uint8Array", { b: new Uint8Array([1]) }],
    ["a Map", { m: new Map() }],
    ["a bigint", { n: 1n }],
    ["a function", { f: () => 1 }],
    ["a symbol key", { [Symbol("s")]: 1 }],
  ])("has no key for a value with %s (its text would stand for something else)", (_, value) => {
    expect(plainJsonKey(value)).toBeUndefined();
  });
});

describe("PlainJsonMemo", () => {
  it("computes once per key and hands out fresh copies", () => {
    const memo = new PlainJsonMemo<{ n: number[] }>();
    let calls = 0;
    const compute = () => ({ n: [++calls] });
    const first = memo.get("k", compute);
    first.n.push(99);
    const second = memo.get("k", compute);
    const third = memo.get("k", compute);
    expect(calls).toBe(1);
    expect(second).toEqual({ n: [1] });
    expect(third).not.toBe(second);
  });

  it("does not remember a conversion that threw, nor one with no key", () => {
    const memo = new PlainJsonMemo<number>();
    let calls = 0;
    const failing = () => {
      calls++;
      throw new Error("bad");
    };
    expect(() => memo.get("k", failing)).toThrow("bad");
    expect(() => memo.get("k", failing)).toThrow("bad");
    memo.get(undefined, () => ++calls);
    memo.get(undefined, () => ++calls);
    expect(calls).toBe(4);
  });

  it("keeps at most its capacity, dropping the oldest", () => {
    const memo = new PlainJsonMemo<string>(2);
    let calls = 0;
    const compute = (v: string) => () => (calls++, v);
    memo.get("a", compute("a"));
    memo.get("b", compute("b"));
    memo.get("c", compute("c"));
    expect(calls).toBe(3);
    memo.get("c", compute("c"));
    memo.get("b", compute("b"));
    expect(calls).toBe(3);
    memo.get("a", compute("a"));
    expect(calls).toBe(4);
  });
});

describe("the job request's memoized conversions", () => {
  const request = () => ({
    namespace: "default",
    annotations: { "example.com/team": "data" },
    podSpec: {
      containers: [
        {
          name: "main",
          image: "busybox:{{ params.tag }}",
          args: ["{{ params.n }}"],
          resources: { requests: { cpu: "100m" }, limits: { cpu: "100m" } },
        },
      ],
    },
  });

  it("give the same result every time, each caller its own copy", () => {
    const a = jobRequestToJson(request());
    const b = jobRequestToJson(request());
    expect(b).toEqual(a);
    expect(b).not.toBe(a);
    (a.podSpec as { containers: { name: string }[] }).containers[0]!.name = "changed";
    expect(jobRequestToJson(request())).toEqual(b);

    const template = jobRequestToJson(request());
    const rendered = renderJobRequestJson(template, (v) =>
      v.replace("{{ params.tag }}", "1.36").replace("{{ params.n }}", "7"),
    );
    const first = normalizeRenderedJobRequest(rendered, template);
    first.item.annotations["per-task"] = "x";
    first.item.podSpec!.containers[0]!.args.push("more");
    const second = normalizeRenderedJobRequest(rendered, template);
    expect(second.item.annotations).toEqual({ "example.com/team": "data" });
    expect(second.item.podSpec!.containers[0]!.image).toBe("busybox:1.36");
    expect(second.item.podSpec!.containers[0]!.args).toEqual(["7"]);
    expect(second.json).toEqual(jobRequestToJson(second.json));
  });

  it("render a number a whole template gave in a string field as its string, from the memo too", () => {
    const template = jobRequestToJson(request());
    const rendered = renderJobRequestJson(template, (v, path) =>
      path.endsWith("args[0]") ? 7 : v.replace(/\{\{.*\}\}/, "1"),
    );
    for (let i = 0; i < 2; i++) {
      expect(normalizeRenderedJobRequest(rendered, template).item.podSpec!.containers[0]!.args).toEqual([
        "7",
      ]);
    }
  });

  it("fail a bad request with its field every time", () => {
    const bad = {
      podSpec: { containers: [{ name: "main", image: "busybox", resources: { requests: { cpu: "lots" } } }] },
    };
    const template = jobRequestToJson(bad);
    for (let i = 0; i < 2; i++) {
      let err: unknown;
      try {
        normalizeRenderedJobRequest(template, template);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ArmadaOperatorInputError);
      expect((err as ArmadaOperatorInputError).field).toBe(
        "job_request.podSpec.containers[0].resources.requests.cpu",
      );
    }
  });

  it("keep a __proto__ key as data when the answer comes from the memo", () => {
    const source = () => JSON.parse('{"namespace": "ns", "labels": {"__proto__": "x", "b": "y"}}') as object;
    jobRequestToJson(source());
    const again = jobRequestToJson(source());
    const labels = again.labels as object;
    expect(Object.getPrototypeOf(labels)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(labels, "__proto__")?.value).toBe("x");
  });
});
