/**
 * Opt-in executor that runs each container's command and args as a local
 * process (the image is recorded, not pulled) in a fresh temporary directory
 * with the container's env. stdout/stderr become the pod log; exit codes decide
 * the outcome; cancel and preempt kill the whole process group. A container
 * with `limits.memory` is held to it (see `memory-limit.ts`) and ends
 * OOMKilled with exit code 137 when it goes over.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { containersOf, type Executor, type RunContext, type RunningPod } from "./executor.js";
import { watchMemory, withAddressSpaceLimit, type MemoryWatch } from "./memory-limit.js";
import { OOM_EXIT_CODE, oomReason, podFailureReason } from "./oom.js";
import { memoryLimitOf } from "./simulate-executor.js";

/** Local processes as pods. */
export class ProcessExecutor implements Executor {
  readonly kind = "process" as const;
  private readonly live = new Set<() => void>();

  start(ctx: RunContext): RunningPod {
    const containers = containersOf(ctx.job);
    const dir = mkdtempSync(path.join(tmpdir(), `armada-${ctx.job.id}-`));
    const children: ChildProcess[] = [];
    const exitCodes: Record<string, number> = {};
    const terminationReasons: Record<string, string> = {};
    const watches: MemoryWatch[] = [];
    let remaining = containers.length;
    let killed = false;

    const done = () => {
      if (--remaining > 0 || killed) return;
      this.live.delete(kill);
      rmSync(dir, { recursive: true, force: true });
      const noCommand = containers.find((c) => c.command.length === 0 && c.args.length === 0);
      const reasons = containers.flatMap((c) => {
        const name = c.name ?? "";
        if (terminationReasons[name] === "OOMKilled") return [oomReason(name, c)];
        return exitCodes[name] ? [`container ${name} failed with exit code ${exitCodes[name]}`] : [];
      });
      const reason = noCommand
        ? `container ${noCommand.name} has no command: the process executor cannot run an image's entrypoint`
        : podFailureReason(reasons);
      ctx.finish({ exitCodes, reason, terminationReasons }, ctx.nowMs());
    };

    const kill = () => {
      if (killed) return;
      killed = true;
      this.live.delete(kill);
      for (const w of watches) w.stop();
      for (const child of children) {
        if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
          try {
            // Negative pid: the whole group, so `sh -c "sleep 100"` does not leave `sleep` behind.
            process.kill(-child.pid, "SIGKILL");
          } catch {
            // Already gone.
          }
        }
      }
      rmSync(dir, { recursive: true, force: true });
    };
    this.live.add(kill);

    for (const container of containers) {
      const name = container.name ?? "";
      const argv = [...container.command, ...container.args];
      if (argv.length === 0) {
        exitCodes[name] = 127;
        queueMicrotask(done);
        continue;
      }
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: dir, HOSTNAME: ctx.run.node };
      for (const e of container.env) if (e.name) env[e.name] = e.value ?? "";
      const limit = memoryLimitOf(container);
      const run = withAddressSpaceLimit(argv, limit);
      const child = spawn(run[0], run.slice(1), {
        cwd: dir,
        env,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
      });
      children.push(child);
      // detached: the child leads its own process group, so its pid is the group id the watcher sums.
      const watch =
        limit !== undefined && child.pid !== undefined ? watchMemory(child.pid, limit) : undefined;
      if (watch) watches.push(watch);
      const sink = lineSplitter((text) => {
        if (!killed) ctx.log(name, text, ctx.nowMs());
      });
      const errSink = lineSplitter((text) => {
        if (!killed) ctx.log(name, text, ctx.nowMs());
      });
      child.stdout!.on("data", (d: Buffer) => sink.push(d));
      child.stderr!.on("data", (d: Buffer) => errSink.push(d));
      let finished = false;
      const finish = (code: number) => {
        if (finished) return;
        finished = true;
        sink.end();
        errSink.end();
        watch?.stop();
        // Killed by the watcher, or refused an allocation at the address-space ceiling: the OOM killer's work.
        if (watch && (watch.killed || (code !== 0 && watch.atCeiling))) {
          terminationReasons[name] = "OOMKilled";
          exitCodes[name] = OOM_EXIT_CODE;
        } else {
          exitCodes[name] = code;
        }
        done();
      };
      child.on("error", (err) => {
        if (!killed) ctx.log(name, `failed to start ${argv[0]}: ${err.message}`, ctx.nowMs());
        finish(127);
      });
      child.on("close", (code, signal) => finish(code ?? (signal ? 128 + signalNumber(signal) : 1)));
    }
    return { kill };
  }

  async shutdown(): Promise<void> {
    for (const kill of [...this.live]) kill();
  }
}

function signalNumber(signal: NodeJS.Signals): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[signal] ?? 0;
}

function lineSplitter(emit: (line: string) => void): { push(d: Buffer): void; end(): void } {
  let partial = "";
  return {
    push(d) {
      const text = partial + d.toString("utf8");
      const lines = text.split("\n");
      partial = lines.pop() ?? "";
      for (const l of lines) emit(l.replace(/\r$/, ""));
    },
    end() {
      if (partial) emit(partial);
      partial = "";
    },
  };
}
