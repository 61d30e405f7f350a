/**
 * Descriptor conformance: every message, enum and service defined in `proto/`
 * must match, fact for fact, the descriptor of the same full name compiled
 * into the official Python client (armada-client on PyPI). This is what makes
 * our bytes on the wire the real server's bytes.
 *
 * Our side is a FileDescriptorSet built by buf from `proto/`; the comparison
 * runs in Python (`compare-descriptors.py`) so that both sides are read by the
 * same protobuf runtime. A mutated copy of our set goes through the same
 * comparer in the same process, proving the comparer can see each kind of
 * difference (so an empty diff list is a real result, not a blind spot).
 */
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { runPython } from "../support/python.js";
import {
  type DescriptorSetReport,
  closureServices,
  mutateDescriptorSet,
  expectedMutationDiffs,
  expectedMutationClosure,
} from "./descriptor-mutations.js";
import { buildOurDescriptorSet } from "./our-descriptors.js";

const protoDir = path.resolve(import.meta.dirname, "../../proto");
const comparer = readFileSync(path.join(import.meta.dirname, "compare-descriptors.py"), "utf8");

/** Our .proto files, as buf names them (relative to `proto/`), known before any test runs. */
const ourFiles = (readdirSync(protoDir, { recursive: true }) as string[])
  .filter((f) => f.endsWith(".proto"))
  .map((f) => f.split(path.sep).join("/"))
  .sort();

/** Services we declare, read from the sources so a new service gets its own test without editing this file. */
const ourServices = ourFiles.flatMap((file) => {
  const text = readFileSync(path.join(protoDir, file), "utf8");
  const pkg = /^package\s+([\w.]+)\s*;/m.exec(text)?.[1] ?? "";
  return [...text.matchAll(/^service\s+(\w+)\s*\{/gm)].map((m) => `${pkg}.${m[1]}`);
});

let ours: DescriptorSetReport;
let mutated: DescriptorSetReport;

beforeAll(async () => {
  const bytes = buildOurDescriptorSet();
  const input = JSON.stringify({
    sets: {
      ours: Buffer.from(bytes).toString("base64"),
      mutated: Buffer.from(mutateDescriptorSet(bytes)).toString("base64"),
    },
    closureServices,
  });
  const reports = JSON.parse(await runPython(comparer, input)) as Record<string, DescriptorSetReport>;
  ours = reports.ours!;
  mutated = reports.mutated!;
});

describe("our descriptors match the official armada-client 0.5.1 descriptors", () => {
  it("finds the schema files and services to compare", () => {
    expect(ourFiles).toContain("armada/submit.proto");
    expect(ourFiles).toContain("k8s.io/api/core/v1/generated.proto");
    expect(ourServices).toEqual(
      expect.arrayContaining(["api.Submit", "api.QueueService", "api.Jobs", "api.Event"]),
    );
    // Every file and service we have was compared, and nothing else.
    expect(Object.keys(ours.files).sort()).toEqual(ourFiles);
    expect(Object.keys(ours.services).sort()).toEqual([...ourServices].sort());
  });

  it.each(ourFiles)("%s: every message and enum matches upstream", (file) => {
    const report = ours.files[file];
    expect(report, `${file} was not compared`).toBeDefined();
    expect(report!.compared, `${file} defines no message or enum`).toBeGreaterThan(0);
    expect(report!.diffs).toEqual([]);
  });

  it.each(ourServices)("service %s: methods, types and streaming match upstream", (service) => {
    const report = ours.services[service];
    expect(report, `${service} was not compared`).toBeDefined();
    expect(report!.methods).toBeGreaterThan(0);
    expect(report!.diffs).toEqual([]);
  });

  it.each(closureServices)(
    "service %s: every message and enum it reaches upstream is defined by us",
    (service) => {
      const report = ours.closure[service];
      expect(report, `closure of ${service} was not computed`).toBeDefined();
      // PodSpec alone pulls in well over a hundred Kubernetes types.
      expect(report!.reached).toBeGreaterThan(service === "api.QueueService" ? 5 : 100);
      expect(report!.missing).toEqual([]);
    },
  );
});

describe("the comparer detects differences (negative check on a mutated copy of our descriptors)", () => {
  it.each(Object.entries(expectedMutationDiffs))("reports the mutation in %s", (file, expected) => {
    const diffs = [
      ...(mutated.files[file]?.diffs ?? []),
      ...Object.values(mutated.services).flatMap((s) => s.diffs),
    ];
    for (const diff of expected) expect(diffs).toContain(diff);
  });

  it("reports an upstream type that the mutated copy no longer defines as a closure gap", () => {
    for (const [service, missing] of Object.entries(expectedMutationClosure)) {
      expect(mutated.closure[service]?.missing).toEqual(missing);
    }
  });

  it("reports nothing beyond the mutations (no noise that would hide a real difference)", () => {
    const all = [
      ...Object.values(mutated.files).flatMap((f) => f.diffs),
      ...Object.values(mutated.services).flatMap((s) => s.diffs),
    ].sort();
    expect(all).toEqual(Object.values(expectedMutationDiffs).flat().sort());
  });
});
