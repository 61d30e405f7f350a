/** validateSubmitItem: every malformed item is refused with its field path; good items pass. */
import { describe, expect, it } from "vitest";
import {
  ARMADA_MAX_POD_SPEC_SIZE_BYTES,
  invalidItemsMessage,
  quantityValue,
  validateSubmitItem,
} from "../../src/client/submit-validation.js";
import { goodItem, INVALID_CASES, VALID_CASES } from "../bad-input/cases/job-request-items.js";

describe("validateSubmitItem refuses", () => {
  it.each(INVALID_CASES.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const issues = validateSubmitItem(c.item);
    expect(issues.map((i) => i.path)).toContain(c.path);
    const issue = issues.find((i) => i.path === c.path)!;
    expect(issue.message).toMatch(c.says);
  });
});

describe("validateSubmitItem accepts", () => {
  it.each(VALID_CASES.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    expect(validateSubmitItem(c.item)).toEqual([]);
  });
});

describe("submit validation details", () => {
  it("lists every problem of an item, not only the first", () => {
    const item = goodItem({ priority: -1, labels: { "bad key!": "v" } }, { restartPolicy: "Sometimes" });
    expect(validateSubmitItem(item).map((i) => i.path)).toEqual([
      "priority",
      'labels["bad key!"]',
      "podSpec.restartPolicy",
    ]);
  });

  it("leaves out the rules a caller answers itself", () => {
    const item = goodItem({ namespace: "Bad_NS", priority: -1 });
    expect(validateSubmitItem(item, { except: ["namespace"] }).map((i) => i.rule)).toEqual(["priority"]);
  });

  it("uses Armada's default pod spec size limit, and a configured one", () => {
    expect(ARMADA_MAX_POD_SPEC_SIZE_BYTES).toBe(65535);
    const item = goodItem(
      {},
      { containers: [{ ...goodItem().podSpec!.containers[0]!, args: ["y".repeat(2000)] }] },
    );
    expect(validateSubmitItem(item)).toEqual([]);
    expect(validateSubmitItem(item, { maxPodSpecSizeBytes: 1000 }).map((i) => i.path)).toEqual([
      "podSpec.containers[0].args[0]",
    ]);
  });

  it("names the item index for a batch, and says nothing for a good batch", () => {
    expect(invalidItemsMessage([goodItem(), goodItem()])).toBeUndefined();
    expect(invalidItemsMessage([goodItem(), goodItem({ priority: -5 })])).toMatch(
      /^job_request_items\[1\]\.priority: /,
    );
  });

  it("reads quantities as Kubernetes does", () => {
    expect(quantityValue("500m")).toBeCloseTo(0.5);
    expect(quantityValue("1Gi")).toBe(2 ** 30);
    expect(quantityValue("1e3")).toBe(1000);
    expect(quantityValue("-1Gi")).toBe(-(2 ** 30));
    expect(quantityValue("lots")).toBeUndefined();
    expect(quantityValue("1 Gi")).toBeUndefined();
  });
});
