/**
 * The run report's extra links read their XComs by block of map indexes (not
 * one pull per task instance): each instance must still show its own current
 * try's value, across block boundaries, and nothing for an instance without one.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { runReport } from "../../src/cli/run-report.js";
import { resolveRuntimeConfig } from "../../src/runtime/runtime-config.js";
import { KyselyStore } from "../../src/runtime/store/kysely-store.js";
import type { TaskInstanceRow } from "../../src/runtime/store/store.js";

let dir: string;
let store: KyselyStore;
beforeEach(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "aa-report-links-"));
  store = await KyselyStore.open({ home: dir });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const dagSource = `
import { BaseOperator, DAG } from ${JSON.stringify(path.resolve("src/index.ts"))};
class Linked extends BaseOperator {
  constructor(o) {
    super(o);
    this.operatorExtraLinks = [{ name: "Out", getLink: async (_op, { xcomPull }) => await xcomPull("out_url") }];
  }
  async execute() {}
}
export const dag = new DAG({ dagId: "links" });
new Linked({ taskId: "mapped", dag });
new Linked({ taskId: "single", dag });
`;

const ti = (taskId: string, mapIndex: number, tryNumber: number): TaskInstanceRow =>
  ({
    dagId: "links",
    runId: "r",
    taskId,
    mapIndex,
    state: "success",
    tryNumber,
    maxTries: 1,
    nextMethod: null,
    nextKwargs: null,
    startMs: 1,
    endMs: 2,
    updatedMs: 2,
    runnerId: null,
    killRequested: false,
    nextRetryMs: null,
  }) as TaskInstanceRow;

it("shows each instance its current try's link, across blocks of 1,000 map indexes", async () => {
  const dagFile = path.join(dir, "links.ts");
  writeFileSync(dagFile, dagSource);
  await store.createDagRun({
    dagId: "links",
    runId: "r",
    logicalDateMs: 0,
    conf: "{}",
    dagFile,
    state: "success",
    runType: "manual",
    runnerId: null,
    createdMs: 0,
    endMs: 1,
  });
  // Instances in three blocks; some on try 2 (a link of try 1 and one of try 2 stored), one without a link.
  const rows = [0, 1, 999, 1000, 1001, 2500].map((m) => ti("mapped", m, m % 2 ? 2 : 1));
  rows.push(ti("single", -1, 2));
  await store.insertTaskInstances(rows);
  for (const r of rows) {
    if (r.mapIndex === 1001) continue;
    for (let t = 1; t <= r.tryNumber; t++)
      await store.setXCom({
        dagId: "links",
        runId: "r",
        taskId: r.taskId,
        mapIndex: r.mapIndex,
        tryNumber: t,
        key: "out_url",
        value: JSON.stringify(`http://x/${r.taskId}/${r.mapIndex}/try${t}`),
        createdMs: 1,
      });
  }
  const report = await runReport(store, "links", "r", resolveRuntimeConfig({}));
  expect(report.linksError).toBeUndefined();
  expect(report.taskInstances.map((t) => [t.taskId, t.mapIndex, t.links.Out])).toEqual([
    ["mapped", 0, "http://x/mapped/0/try1"],
    ["mapped", 1, "http://x/mapped/1/try2"],
    ["mapped", 999, "http://x/mapped/999/try2"],
    ["mapped", 1000, "http://x/mapped/1000/try1"],
    ["mapped", 1001, undefined],
    ["mapped", 2500, "http://x/mapped/2500/try1"],
    ["single", -1, "http://x/single/-1/try2"],
  ]);
});
