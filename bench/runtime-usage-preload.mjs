// Loaded with `node --import` into the runner process the runtime benchmark measures: at exit it
// writes the process's own CPU time, peak RSS and longest event-loop stall to $BENCH_USAGE_FILE.
import { writeFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";

const file = process.env.BENCH_USAGE_FILE;
if (file) {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
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
      }),
    );
  });
}
