// What the runner was doing while its event loop stalled: the samples of a CPU profile
// (BENCH_CPU_PROF) that fall inside the stalls of a stall trace (BENCH_STALL_TRACE) of the same run,
// summed by function, self and inclusive time. A profile of the whole run says where the CPU went;
// this says which work held the loop past 100 ms.
//
//   node bench/stall-profile.mjs <stall trace> <profile.cpuprofile> [min stall ms, 100] [rows, 40] [function]
//
// With a function name (as printed, or its start), only the samples with it on their stack count.
//
// Trace lines: "<s since start>s <gap>ms @<monotonic µs at its end>" (the profile's clock); GC lines are
// skipped. Lines without "@" (traces written before it was added) cannot be placed and are skipped.
import { readFileSync } from "node:fs";

const [traceFile, profileFile, minMsArg, rowsArg, under] = process.argv.slice(2);
if (!traceFile || !profileFile) {
  console.error("usage: node bench/stall-profile.mjs <stall trace> <profile.cpuprofile> [min stall ms] [rows]");
  process.exit(2);
}
const minMs = Number(minMsArg ?? 100);
const rows = Number(rowsArg ?? 40);

const stalls = [];
for (const line of readFileSync(traceFile, "utf8").split("\n")) {
  const m = /^\S+s (\d+)ms @(\d+)$/.exec(line.trim());
  if (!m) continue;
  const gapUs = Number(m[1]) * 1000;
  if (gapUs < minMs * 1000) continue;
  const end = Number(m[2]);
  stalls.push([end - gapUs, end]);
}
stalls.sort((a, b) => a[0] - b[0]);

const profile = JSON.parse(readFileSync(profileFile, "utf8"));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const name = (cf) =>
  `${cf.functionName || "(anonymous)"} ${cf.url.replace(/.*node_modules\//, "").replace(/.*?\/(src|dist|bench)\//, "$1/")}:${cf.lineNumber + 1}`;

const stackOf = (leafId) => {
  const keys = [];
  for (let id = leafId; id !== undefined; id = parent.get(id)) keys.push(name(byId.get(id).callFrame));
  return keys;
};

const self = new Map();
const inclusive = new Map();
let inStalls = 0;
let t = profile.startTime;
let s = 0;
for (let i = 0; i < profile.samples.length; i++) {
  t += profile.timeDeltas[i];
  while (s < stalls.length && stalls[s][1] < t) s++;
  if (s >= stalls.length) break;
  if (t < stalls[s][0]) continue;
  const dt = profile.timeDeltas[i + 1] ?? 0;
  if (under && !stackOf(profile.samples[i]).some((k) => k.startsWith(under))) continue;
  inStalls += dt;
  const leaf = byId.get(profile.samples[i]);
  self.set(name(leaf.callFrame), (self.get(name(leaf.callFrame)) ?? 0) + dt);
  const seen = new Set();
  for (let id = profile.samples[i]; id !== undefined; id = parent.get(id)) {
    const k = name(byId.get(id).callFrame);
    if (seen.has(k)) continue;
    seen.add(k);
    inclusive.set(k, (inclusive.get(k) ?? 0) + dt);
  }
}

const ms = (us) => (us / 1000).toFixed(0).padStart(8);
console.log(`${stalls.length} stalls of ${minMs} ms or more; ${(inStalls / 1000).toFixed(0)} ms of samples inside them`);
console.log("--- self");
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, rows)) console.log(ms(v), k);
console.log("--- inclusive");
for (const [k, v] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, rows * 2)) console.log(ms(v), k);
