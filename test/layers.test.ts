/**
 * The layers of src/: every import between top-level folders (src/client,
 * src/runtime, src/devserver, ...) is read with the TypeScript parser, and the
 * folder graph must have no cycle. The Lookout pages (src/web) must not reach
 * into the dev server: they read their own view types.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../src");

/** One import from a file in folder `from` of a file in folder `to`. */
interface FolderEdge {
  from: string;
  to: string;
  /** The importing file, relative to src/. */
  file: string;
  /** The import specifier as written. */
  specifier: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(full);
    return /\.(ts|mts)$/.test(e.name) && !e.name.endsWith(".d.ts") ? [full] : [];
  });
}

/** The top-level folder of a path under src/, or undefined for a file at src/ itself (the root entry). */
function topFolder(relative: string): string | undefined {
  const parts = relative.split(path.sep);
  return parts.length > 1 ? parts[0] : undefined;
}

/** Every import (static, type-only, re-export, dynamic) between two different top-level folders. */
function folderEdges(): FolderEdge[] {
  const edges: FolderEdge[] = [];
  for (const file of sourceFiles(SRC)) {
    const rel = path.relative(SRC, file);
    const from = topFolder(rel);
    if (from === undefined) continue;
    const info = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
    for (const ref of info.importedFiles) {
      if (!ref.fileName.startsWith(".")) continue;
      const target = path.relative(SRC, path.resolve(path.dirname(file), ref.fileName));
      if (target.startsWith("..")) continue;
      const to = topFolder(target) ?? "(root)";
      if (to !== from) edges.push({ from, to, file: rel, specifier: ref.fileName });
    }
  }
  return edges;
}

/** The folder cycles of `edges` (strongly connected components of two or more folders), each sorted. */
function folderCycles(edges: readonly Pick<FolderEdge, "from" | "to">[]): string[][] {
  const next = new Map<string, Set<string>>();
  for (const e of edges) {
    if (!next.has(e.from)) next.set(e.from, new Set());
    if (!next.has(e.to)) next.set(e.to, new Set());
    next.get(e.from)!.add(e.to);
  }
  // Tarjan's algorithm; the folder graph is a dozen nodes, so recursion is fine.
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) cycles.push(component.sort());
    }
  };
  for (const v of [...next.keys()].sort()) if (!index.has(v)) visit(v);
  return cycles;
}

function describeCycle(cycle: readonly string[], edges: readonly FolderEdge[]): string {
  const inCycle = new Set(cycle);
  const lines = edges
    .filter((e) => inCycle.has(e.from) && inCycle.has(e.to))
    .map((e) => `  src/${e.file} -> ${e.specifier}`);
  return `cycle between ${cycle.join(", ")}:\n${[...new Set(lines)].join("\n")}`;
}

describe("layers of src/", () => {
  const edges = folderEdges();

  it("reads the imports between folders", () => {
    // A parser that found nothing would make the checks below pass vacuously.
    expect(edges.some((e) => e.from === "operator" && e.to === "client")).toBe(true);
    expect(edges.some((e) => e.from === "devserver" && e.to === "web")).toBe(true);
  });

  it("has no import cycle between top-level folders", () => {
    const cycles = folderCycles(edges);
    expect(cycles.map((c) => describeCycle(c, edges))).toEqual([]);
  });

  it("keeps the Lookout pages (src/web) off the dev server's internals", () => {
    const reaching = edges.filter((e) => e.from === "web" && e.to === "devserver");
    expect(reaching.map((e) => `src/${e.file} -> ${e.specifier}`)).toEqual([]);
  });

  it("reaches the dev server from the operator directly, not through the public testing entry", () => {
    const viaTesting = edges.filter((e) => e.to === "testing" && e.from !== "testing");
    expect(viaTesting.map((e) => `src/${e.file} -> ${e.specifier}`)).toEqual([]);
  });

  it("finds a cycle when there is one", () => {
    const made = [
      { from: "a", to: "b" },
      { from: "b", to: "c" },
      { from: "c", to: "a" },
      { from: "c", to: "d" },
    ];
    expect(folderCycles(made)).toEqual([["a", "b", "c"]]);
    expect(folderCycles([{ from: "a", to: "b" }])).toEqual([]);
  });
});
