import { describe, expect, it, vi } from "vitest";
import { compareWithReference } from "../../bench/reference-python.js";

// The side-by-side table of `npm run bench`: ratios, poll rounds and target verdicts come from the figures
// given, and a figure one side could not measure is said to be so rather than judged.
describe("compareWithReference", () => {
  const ours = {
    tasks: 1000,
    runnerCpuS: 4,
    trackingCores: 0.1,
    peakRssMiB: 300,
    detectionP50S: 3,
    detectionP95S: 5,
    detectionP99S: NaN,
    trackedS: 50,
    getJobStatusCalls: 20,
    getJobDetailsCalls: 0,
  };
  const ref = {
    tasks: 1000,
    pythonCpuS: 20,
    trackingCores: 0.2,
    peakRssMiB: 200,
    detectionP50S: 2,
    detectionP95S: 3,
    detectionP99S: 4,
    trackedS: 50,
    getJobStatusCalls: 10_000,
    getJobDetailsCalls: 9_000,
    reference: "armada-airflow test",
  };
  const rows = () => {
    vi.spyOn(console, "log").mockImplementation(() => {});
    const table = compareWithReference(ours, ref, 5);
    vi.restoreAllMocks();
    return Object.fromEntries(table.slice(1).map((r) => [r[0], r.slice(1)]));
  };

  it("gives the ratio ours / reference and judges each target", () => {
    const t = rows();
    expect(t["CPU, whole run (s)"]).toEqual(["4", "20", "0.2x", "<= 0.25x", "met"]);
    expect(t["cores used while tracking"]).toEqual(["0.1", "0.2", "0.5x", "<= 0.25x", "MISSED"]);
    expect(t["peak RSS (MiB)"]).toEqual(["300", "200", "1.5x", "<= 1x", "MISSED"]);
    expect(t["detection p50 (s)"]).toEqual(["3", "2", "1.5x", "<= 3.5 s", "met"]);
    expect(t["detection p95 (s)"]).toEqual(["5", "3", "1.7x", "", ""]);
  });

  it("counts calls per poll round over the tracked span", () => {
    const t = rows();
    // 50 s tracked at a 5 s interval: 10 rounds.
    expect(t["GetJobStatus calls per poll round"]).toEqual(["2", "1000", "0.002x", "<= 1", "MISSED"]);
    expect(t["GetJobDetails calls per poll round"]!.slice(0, 2)).toEqual(["0", "900"]);
  });

  it("takes status calls per round while only tracking when both sides measured them", () => {
    vi.spyOn(console, "log").mockImplementation(() => {});
    const table = compareWithReference(
      { ...ours, statusCallsPerRound: 0.9 },
      { ...ref, statusCallsPerRound: 950 },
      5,
    );
    vi.restoreAllMocks();
    const row = table.find((r) => r[0] === "GetJobStatus calls per poll round")!;
    expect(row.slice(1)).toEqual(["0.9", "950", "0.00095x", "<= 1", "met"]);
  });

  it("says what was not measured instead of judging it", () => {
    expect(rows()["detection p99 (s)"]).toEqual(["not measured", "4", "n/a", "<= 7 s", "not measured"]);
  });
});
