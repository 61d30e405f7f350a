/**
 * Opt-in executor that runs each container's command and args as a local
 * process (the image is recorded, not pulled) in a fresh temporary directory
 * with the environment Kubernetes would give it (see `downward-api.ts`):
 * init containers first, one at a time, then the containers together;
 * `emptyDir` volumes are shared folders (see `pod-volumes.ts`). stdout/stderr become the pod log; exit codes decide
 * the outcome; cancel and preempt kill the whole process group. A container
 * with `limits.memory` is held to it (see `memory-limit.ts`) and ends
 * OOMKilled with exit code 137 when it goes over.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Container } from "../gen/k8s.io/api/core/v1/generated.js";
import { containerEnv, expandVariables } from "./downward-api.js";
import { containersOf, type Executor, type RunContext, type RunningPod } from "./executor.js";
import { podSpecsOf } from "./job-validation.js";
import { bindsOf, createMountPoints, removeMountPoints, volumeProblem, withBinds } from "./pod-volumes.js";
import { watchMemory, withAddressSpaceLimit, type MemoryWatch } from "./memory-limit.js";
import { OOM_EXIT_CODE, oomReason, podFailureReason } from "./oom.js";
import { memoryLimitOf } from "./simulate-executor.js";

/** Local processes as pods. */
export class ProcessExecutor implements Executor {
  readonly kind = "process" as const;
  private readonly live = new Set<() => void>();

  start(ctx: RunContext): RunningPod {
    const spec = podSpecsOf(ctx.job.spec)[0];
    const containers = containersOf(ctx.job);
    const inits = spec?.initContainers ?? [];
    const dir = mkdtempSync(path.join(tmpdir(), `armada-${ctx.job.id}-`));
    const children: ChildProcess[] = [];
    const exitCodes: Record<string, number> = {};
    const terminationReasons: Record<string, string> = {};
    const watches: MemoryWatch[] = [];
    const mountPoints: string[] = [];
    let killed = false;
    let ended = false;

    const cleanUp = () => {
      this.live.delete(kill);
      removeMountPoints(mountPoints);
      rmSync(dir, { recursive: true, force: true });
    };
    const end = (reason: string | undefined) => {
      if (ended || killed) return;
      ended = true;
      cleanUp();
      ctx.finish({ exitCodes, reason, terminationReasons }, ctx.nowMs());
    };

    const kill = () => {
      if (killed) return;
      killed = true;
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
      cleanUp();
    };
    this.live.add(kill);

    // As the kubelet does before starting anything: the pod's volumes, then each container's environment.
    const problem = spec ? volumeProblem(spec) : undefined;
    if (problem) {
      queueMicrotask(() => end(problem));
      return { kill };
    }
    const volumeDirs = new Map<string, string>();
    for (const v of spec?.volumes ?? []) {
      const d = path.join(dir, "volumes", v.name ?? "");
      mkdirSync(d, { recursive: true });
      volumeDirs.set(v.name ?? "", d);
    }

    /** Starts one container's process; `exited` is told its exit code once it ends. */
    const runContainer = (container: Container, where: string, exited: (code: number) => void) => {
      const name = container.name ?? "";
      const built = spec ? containerEnv(container, spec, ctx.pod, where) : { ok: true as const, env: {} };
      const vars = built.ok ? built.env : {};
      // Kubernetes expands $(VAR) in command and args with the container's own variables.
      const argv = [...container.command, ...container.args].map((a) => expandVariables(a, vars));
      if (argv.length === 0) {
        queueMicrotask(() => exited(127));
        return;
      }
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: dir, ...vars };
      const limit = memoryLimitOf(container);
      const binds = bindsOf(container, volumeDirs);
      mountPoints.push(...createMountPoints(binds));
      const run = withBinds(withAddressSpaceLimit(argv, limit), binds);
      const child = spawn(run[0]!, run.slice(1), {
        cwd: dir,
        env,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
      });
      children.push(child);
      // detached: the child leads its own process group, so its pid is the group id the watcher sums.
      const watch = limit !== undefined && child.pid !== undefined ? watchMemory(child.pid, limit) : undefined;
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
          exited(OOM_EXIT_CODE);
        } else {
          exited(code);
        }
      };
      child.on("error", (err) => {
        if (!killed) ctx.log(name, `failed to start ${argv[0]}: ${err.message}`, ctx.nowMs());
        finish(127);
      });
      child.on("close", (code, signal) => finish(code ?? (signal ? 128 + signalNumber(signal) : 1)));
    };

    const runMain = () => {
      let remaining = containers.length;
      if (remaining === 0) return end(undefined);
      containers.forEach((container, i) => {
        runContainer(container, `spec.containers[${i}]`, (code) => {
          exitCodes[container.name ?? ""] = code;
          if (--remaining > 0) return;
          const noCommand = containers.find((c) => c.command.length === 0 && c.args.length === 0);
          const reasons = containers.flatMap((c) => {
            const name = c.name ?? "";
            if (terminationReasons[name] === "OOMKilled") return [oomReason(name, c)];
            return exitCodes[name] ? [`container ${name} failed with exit code ${exitCodes[name]}`] : [];
          });
          end(
            noCommand
              ? `container ${noCommand.name} has no command: the process executor cannot run an image's entrypoint`
              : podFailureReason(reasons),
          );
        });
      });
    };

    // Init containers first, one at a time and in order; the first to fail ends the pod (restartPolicy Never).
    const runInit = (i: number) => {
      if (killed) return;
      if (i >= inits.length) return runMain();
      const init = inits[i]!;
      runContainer(init, `spec.initContainers[${i}]`, (code) => {
        const name = init.name ?? "";
        exitCodes[name] = code;
        if (code === 0) return runInit(i + 1);
        const why =
          terminationReasons[name] === "OOMKilled"
            ? oomReason(name, init)
            : init.command.length === 0 && init.args.length === 0
              ? `init container ${name} has no command: the process executor cannot run an image's entrypoint`
              : `init container ${name} failed with exit code ${code}`;
        end(`Init:Error: ${why}`);
      });
    };
    runInit(0);
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
