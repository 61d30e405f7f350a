/**
 * The suite's size and reach: at least 250 bad inputs across every surface a
 * user meets. Each table is run by its own file in this folder.
 */
import { describe, expect, it } from "vitest";
import { CLI_CASES } from "./cases/cli.js";
import { CLIENT_CASES } from "./cases/client.js";
import { DAG_DEFINITION_CASES } from "./cases/dag-definitions.js";
import { GRPC_CASES } from "./cases/grpc.js";
import { JOB_REQUEST_CASES, OPERATOR_OPTION_CASES } from "./cases/operator.js";
import { TEMPLATE_CASES } from "./cases/templates.js";
import type { BadInputTable, Surface } from "./table.js";

const TABLES: BadInputTable<unknown>[] = [
  JOB_REQUEST_CASES,
  OPERATOR_OPTION_CASES,
  TEMPLATE_CASES,
  DAG_DEFINITION_CASES,
  CLI_CASES,
  CLIENT_CASES,
  GRPC_CASES,
] as BadInputTable<unknown>[];

const SURFACES: Surface[] = [
  "job request (operator)",
  "operator options",
  "templates",
  "DAG definitions",
  "CLI flags and config",
  "client channel args and auth",
  "raw gRPC to the dev server",
];

describe("the bad-input suite", () => {
  it("has at least 250 cases, covering every surface", () => {
    const counts = Object.fromEntries(TABLES.map((t) => [t.surface, t.cases.length]));
    expect(Object.keys(counts).sort()).toEqual([...SURFACES].sort());
    for (const s of SURFACES) expect(counts[s], s).toBeGreaterThanOrEqual(10);
    const total = TABLES.reduce((n, t) => n + t.cases.length, 0);
    expect(total).toBeGreaterThanOrEqual(250);
  });

  it("names a field and a fix in every case", () => {
    for (const t of TABLES) {
      for (const c of t.cases) {
        expect(c.field.length, `${t.surface}: ${c.name}`).toBeGreaterThan(0);
        expect(c.says.source.length, `${t.surface}: ${c.name}`).toBeGreaterThan(0);
      }
    }
  });
});
