import { describe, expect, it } from "vitest";
import { linkXComKey, lookoutUrl, UrlFromLogsExtractor } from "../../src/operator/links.js";

describe("links", () => {
  it("replaces every <job_id> in the lookout template", () => {
    expect(lookoutUrl("http://lookout.armadaproject.io/jobs?job_id=<job_id>", "test_job")).toBe(
      "http://lookout.armadaproject.io/jobs?job_id=test_job",
    );
    expect(lookoutUrl("http://l/jobs/<job_id>#<job_id>", "j")).toBe("http://l/jobs/j#j");
  });

  it("stores extra links under armada_<name lowercased>_url", () => {
    expect(linkXComKey("Grafana")).toBe("armada_grafana_url");
  });

  it("skips links already found and string links; each regex link fires once", async () => {
    const found: string[] = [];
    const ex = new UrlFromLogsExtractor(
      { A: /a=\S+/, B: /b=\S+/, T: "http://template" },
      (n, u) => void found.push(`${n}:${u}`),
      ["b"],
    );
    await ex.extract("x a=1 b=1");
    await ex.extract("a=2");
    expect(found).toEqual(["A:a=1"]);
    expect(ex.done).toBe(true);
  });
});
