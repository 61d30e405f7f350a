import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { jobRequestToJson, parseRenderedJobRequest, renderJobRequestJson } from "../../src/operator/job-request.js";
import { TemplateEnv } from "../../src/runtime/template.js";

const env = new TemplateEnv();
const render = (ns: Record<string, unknown>) => (v: string, path: string) => env.renderWith(v, ns, path);

describe("job request rendering (properties)", () => {
  const plain = fc.string().filter((s) => !/[{}%#]/.test(s));

  it("leaves strings without template markers unchanged, anywhere in the request", () => {
    fc.assert(
      fc.property(fc.array(plain, { maxLength: 5 }), plain, fc.dictionary(fc.string({ minLength: 1 }), plain), (args, image, labels) => {
        const json = jobRequestToJson({ labels, podSpec: { containers: [{ name: "main", image: image || "x", args }] } });
        expect(renderJobRequestJson(json, render({}))).toEqual(json);
      }),
    );
  });

  it("renders every templated string and parses it into the submitted message", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 5 }), plain, (nums, word) => {
        const template = jobRequestToJson({
          podSpec: {
            containers: [{ name: "main", image: "busybox", args: nums.map((_, i) => `{{ params.n[${i}] }}`), env: [{ name: "W", value: "{{ params.w }}!" }] }],
          },
        });
        const rendered = renderJobRequestJson(template, render({ params: { n: nums, w: word } }));
        const item = parseRenderedJobRequest(rendered, template);
        expect(item.podSpec?.containers[0]?.args).toEqual(nums.map(String));
        expect(item.podSpec?.containers[0]?.env[0]?.value).toBe(`${word}!`);
      }),
      { numRuns: 50 },
    );
  });

  it("reads YAML text and proto-form objects into the same JSON form", () => {
    const yaml = "podSpec:\n  containers:\n    - name: main\n      image: busybox\n      resources:\n        requests: {cpu: 500m}\n";
    const fromYaml = jobRequestToJson(yaml);
    const fromProto = jobRequestToJson({
      podSpec: { containers: [{ name: "main", image: "busybox", resources: { requests: { cpu: { string: "500m" } } } }] },
    });
    expect(fromYaml).toEqual(fromProto);
    expect(fromYaml).toEqual({ podSpec: { containers: [{ name: "main", image: "busybox", resources: { requests: { cpu: "500m" } } }] } });
  });
});
