/**
 * Memory limits for `process` mode, where there are no cgroups to lean on: the
 * child runs under `prlimit --as` (RLIMIT_AS, inherited by everything it
 * starts) as a hard ceiling that keeps a runaway job from eating the host,
 * and a watcher sums the resident memory of the child's process group and
 * kills the group once it goes over `limits.memory` — what the kernel's OOM
 * killer does to a container's cgroup. Either way the container ends as
 * Kubernetes reports it: exit 137, `OOMKilled`.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/** How often the watcher samples memory, in real milliseconds. */
const SAMPLE_MS = 20;
/** Size of the pages `/proc/<pid>/stat` counts resident memory in (4 KiB on the platforms Node supports here). */
const PAGE_BYTES = 4096;

let prlimitPath: string | null | undefined;

/** The `prlimit` binary, or null when the machine has none (then only the watcher enforces limits). */
export function findPrlimit(): string | null {
  if (prlimitPath === undefined) {
    try {
      execFileSync("prlimit", ["--version"], { stdio: "ignore" });
      prlimitPath = "prlimit";
    } catch {
      prlimitPath = null;
    }
  }
  return prlimitPath;
}

/**
 * The address-space ceiling for a container limited to `limitBytes`: above the
 * limit, because programs reserve more address space than they use (the
 * watcher enforces the limit itself), but bounded so the host is safe.
 */
export function addressSpaceCeiling(limitBytes: number): number {
  return limitBytes + Math.max(limitBytes, 256 * 2 ** 20);
}

/** The argv that runs `argv` under the address-space ceiling (unchanged when `prlimit` is missing). */
export function withAddressSpaceLimit(argv: string[], limitBytes: number | undefined): string[] {
  const prlimit = findPrlimit();
  if (limitBytes === undefined || !prlimit) return argv;
  return [prlimit, `--as=${addressSpaceCeiling(limitBytes)}`, "--", ...argv];
}

/** Resident memory of every process in group `pgid`, and the largest address space among them, in bytes. */
export function groupMemory(pgid: number): { rss: number; maxVsize: number } {
  let rss = 0;
  let maxVsize = 0;
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return { rss, maxVsize };
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${e}/stat`, "utf8");
    } catch {
      continue; // Gone between the listing and the read.
    }
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(f[2]) !== pgid) continue;
    maxVsize = Math.max(maxVsize, Number(f[20]));
    rss += Number(f[21]) * PAGE_BYTES;
  }
  return { rss, maxVsize };
}

/** A running watch on one process group. */
export interface MemoryWatch {
  /** Whether the watcher killed the group for going over the limit. */
  readonly killed: boolean;
  /** Whether the group was at its address-space ceiling when last seen (an allocation there fails). */
  readonly atCeiling: boolean;
  stop(): void;
}

/** Samples group `pgid` and SIGKILLs it once its resident memory goes over `limitBytes`. */
export function watchMemory(pgid: number, limitBytes: number): MemoryWatch {
  const ceiling = addressSpaceCeiling(limitBytes);
  const state = { killed: false, atCeiling: false };
  const sample = () => {
    const { rss, maxVsize } = groupMemory(pgid);
    // RLIMIT_AS is per process: one of them near the ceiling is about to have an allocation refused.
    state.atCeiling = maxVsize >= ceiling * 0.9;
    if (rss > limitBytes && !state.killed) {
      state.killed = true;
      try {
        process.kill(-pgid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
  };
  const timer = setInterval(sample, SAMPLE_MS);
  timer.unref();
  return {
    get killed() {
      return state.killed;
    },
    get atCeiling() {
      return state.atCeiling;
    },
    stop: () => clearInterval(timer),
  };
}
