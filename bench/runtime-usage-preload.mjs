// Loaded with `node --import` into the runner process the runtime benchmark measures: at exit it
// writes the process's own CPU time, peak RSS and longest event-loop stall to $BENCH_USAGE_FILE, and when
// the longest stalls came (seconds since the process started), to tell start-up from the run.
import { writeFileSync } from "node:fs";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { setInterval } from "node:timers";

const file = process.env.BENCH_USAGE_FILE;
if (file) {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  // A ticker: a gap well over its period between ticks is a stall, and this knows when it was.
  const TICK_MS = 10;
  const stalls = [];
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    const gap = now - last - TICK_MS;
    last = now;
    if (gap < 50) return;
    stalls.push([Math.round(now - gap) / 1000, Math.round(gap)]);
    stalls.sort((a, b) => b[1] - a[1]);
    stalls.length = Math.min(stalls.length, 5);
  }, TICK_MS).unref();
  process.on("exit", () => {
    const u = process.resourceUsage();
    writeFileSync(
      file,
      JSON.stringify({
        userCpuS: u.userCPUTime / 1e6,
        systemCpuS: u.systemCPUTime / 1e6,
        maxRssMiB: u.maxRSS / 1024,
        maxEventLoopStallMs: delay.max / 1e6,
        p99EventLoopStallMs: delay.percentile(99) / 1e6,
        longestStalls: stalls,
      }),
    );
  });
}
