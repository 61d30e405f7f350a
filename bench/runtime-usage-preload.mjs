// Loaded with `node --import` into the runner process the runtime benchmark measures: at exit it
// writes the process's own CPU time, peak RSS and longest event-loop stall to $BENCH_USAGE_FILE, and when
// the longest stalls came (seconds since the process started), to tell start-up from the run.
import { appendFileSync, writeFileSync } from "node:fs";
import { PerformanceObserver, constants, monitorEventLoopDelay, performance } from "node:perf_hooks";
import { setInterval } from "node:timers";
import { setFlagsFromString } from "node:v8";

// BENCH_V8_FLAGS="--flag ...": V8 flags for the runner that NODE_OPTIONS does not take (heap sizing, say),
// to measure what they trade.
if (process.env.BENCH_V8_FLAGS) setFlagsFromString(process.env.BENCH_V8_FLAGS);

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
    // BENCH_STALL_TRACE=FILE: every stall over 50 ms as it ends (seconds since start, ms), for a run stopped early,
    // and when it ended on the monotonic clock in µs (`@…`), the clock of a CPU profile's timestamps, so a
    // profile's samples inside each stall can be picked out (bench/stall-profile.mjs).
    if (process.env.BENCH_STALL_TRACE)
      appendFileSync(
        process.env.BENCH_STALL_TRACE,
        `${Math.round(now - gap) / 1000}s ${Math.round(gap)}ms @${process.hrtime.bigint() / 1000n}\n`,
      );
    stalls.push([Math.round(now - gap) / 1000, Math.round(gap)]);
    stalls.sort((a, b) => b[1] - a[1]);
    stalls.length = Math.min(stalls.length, 5);
  }, TICK_MS).unref();
  // With BENCH_STALL_TRACE, also every garbage collection over 50 ms (its kind and length), to tell a GC
  // pause from our own work among the stalls.
  if (process.env.BENCH_STALL_TRACE) {
    const kinds = {
      [constants.NODE_PERFORMANCE_GC_MAJOR]: "major",
      [constants.NODE_PERFORMANCE_GC_MINOR]: "minor",
      [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
      [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weakcb",
    };
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        if (e.duration < 50) continue;
        appendFileSync(
          process.env.BENCH_STALL_TRACE,
          `${Math.round(e.startTime) / 1000}s gc ${kinds[e.detail?.kind] ?? e.detail?.kind} ${Math.round(e.duration)}ms\n`,
        );
      }
    }).observe({ entryTypes: ["gc"] });
  }
  // BENCH_MEM_TRACE=FILE: one line of process.memoryUsage() (MiB) every 5 s, to tell the V8 heap from
  // native memory when RSS grows.
  const trace = process.env.BENCH_MEM_TRACE;
  if (trace) {
    const t0 = performance.now();
    setInterval(() => {
      const m = process.memoryUsage();
      const mib = (n) => Math.round(n / 1048576);
      const at = Math.round((performance.now() - t0) / 1000);
      appendFileSync(
        trace,
        `${at}s rss=${mib(m.rss)} heapTotal=${mib(m.heapTotal)} heapUsed=${mib(m.heapUsed)} external=${mib(m.external)} arrayBuffers=${mib(m.arrayBuffers)}\n`,
      );
    }, 5000).unref();
  }
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
