/**
 * One pod of the process executor: its init containers one at a time, then its
 * containers together, each as a local process group in the pod's temporary
 * directory, and the pod's end (result, or a kill that reports nothing).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import type { Container, PodSpec } from "../gen/k8s.io/api/core/v1/generated.js";
import { containerEnv, expandVariables } from "./downward-api.js";
import type { RunContext } from "./executor.js";
import { bindsOf, createMountPoints, removeMountPoints, volumeProblem, withBinds } from "./pod-volumes.js";
import { watchMemory, withAddressSpaceLimit, type MemoryWatch } from "./memory-limit.js";
import { OOM_EXIT_CODE, oomReason, podFailureReason } from "./oom.js";
import { memoryLimitOf } from "./simulate-executor.js";

/** Why a container that was given neither command nor args cannot run here. */
const noEntrypoint = (what: string, name: string | undefined) =>
  `${what} ${name} has no command: the process executor cannot run an image's entrypoint`;

const hasNoCommand = (c: Container) => c.command.length === 0 && c.args.length === 0;

/** A pod run as local processes; {@link ProcessPod.kill} stops it without reporting a result. */
export class ProcessPod {
  private readonly children: ChildProcess[] = [];
  private readonly exitCodes: Record<string, number> = {};
  private readonly terminationReasons: Record<string, string> = {};
  private readonly watches: MemoryWatch[] = [];
  private readonly mountPoints: string[] = [];
  private readonly volumeDirs = new Map<string, string>();
  private killed = false;
  private ended = false;

  /**
   * @param dir the pod's own temporary directory (its containers' cwd and HOME), removed when it ends
   * @param forget called once the pod is gone, so the executor stops tracking it
   */
  constructor(
    private readonly ctx: RunContext,
    private readonly spec: PodSpec | undefined,
    private readonly containers: Container[],
    private readonly dir: string,
    private readonly forget: () => void,
  ) {}

  /** Starts the pod: its volumes, then its init containers, then its containers. */
  start(): void {
    // As the kubelet does before starting anything: the pod's volumes, then each container's environment.
    const problem = this.spec ? volumeProblem(this.spec) : undefined;
    if (problem) {
      queueMicrotask(() => this.end(problem));
      return;
    }
    for (const v of this.spec?.volumes ?? []) {
      const d = path.join(this.dir, "volumes", v.name ?? "");
      mkdirSync(d, { recursive: true });
      this.volumeDirs.set(v.name ?? "", d);
    }
    this.runInit(0);
  }

  /** Kills every process group of the pod and cleans up; the pod reports no result. */
  readonly kill = (): void => {
    if (this.killed) return;
    this.killed = true;
    for (const w of this.watches) w.stop();
    for (const child of this.children) {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          // Negative pid: the whole group, so `sh -c "sleep 100"` does not leave `sleep` behind.
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
    }
    this.cleanUp();
  };

  private cleanUp(): void {
    this.forget();
    removeMountPoints(this.mountPoints);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private end(reason: string | undefined): void {
    if (this.ended || this.killed) return;
    this.ended = true;
    this.cleanUp();
    this.ctx.finish(
      { exitCodes: this.exitCodes, reason, terminationReasons: this.terminationReasons },
      this.ctx.nowMs(),
    );
  }

  /** Init containers first, one at a time and in order; the first to fail ends the pod (restartPolicy Never). */
  private runInit(i: number): void {
    if (this.killed) return;
    const inits = this.spec?.initContainers ?? [];
    if (i >= inits.length) return this.runMain();
    const init = inits[i]!;
    this.runContainer(init, `spec.initContainers[${i}]`, (code) => {
      const name = init.name ?? "";
      this.exitCodes[name] = code;
      if (code === 0) return this.runInit(i + 1);
      const why =
        this.terminationReasons[name] === "OOMKilled"
          ? oomReason(name, init)
          : hasNoCommand(init)
            ? noEntrypoint("init container", name)
            : `init container ${name} failed with exit code ${code}`;
      this.end(`Init:Error: ${why}`);
    });
  }

  /** The containers together; the pod ends once the last has exited. */
  private runMain(): void {
    const containers = this.containers;
    let remaining = containers.length;
    if (remaining === 0) return this.end(undefined);
    containers.forEach((container, i) => {
      this.runContainer(container, `spec.containers[${i}]`, (code) => {
        this.exitCodes[container.name ?? ""] = code;
        if (--remaining > 0) return;
        this.end(this.mainFailure());
      });
    });
  }

  /** Why the pod failed once all its containers exited, or undefined when every one exited 0. */
  private mainFailure(): string | undefined {
    const noCommand = this.containers.find(hasNoCommand);
    if (noCommand) return noEntrypoint("container", noCommand.name);
    const reasons = this.containers.flatMap((c) => {
      const name = c.name ?? "";
      if (this.terminationReasons[name] === "OOMKilled") return [oomReason(name, c)];
      return this.exitCodes[name] ? [`container ${name} failed with exit code ${this.exitCodes[name]}`] : [];
    });
    return podFailureReason(reasons);
  }

  /** Starts one container's process; `exited` is told its exit code once it ends. */
  private runContainer(container: Container, where: string, exited: (code: number) => void): void {
    const name = container.name ?? "";
    const built = this.spec
      ? containerEnv(container, this.spec, this.ctx.pod, where)
      : { ok: true as const, env: {} };
    const vars = built.ok ? built.env : {};
    // Kubernetes expands $(VAR) in command and args with the container's own variables.
    const argv = [...container.command, ...container.args].map((a) => expandVariables(a, vars));
    if (argv.length === 0) {
      queueMicrotask(() => exited(127));
      return;
    }
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: this.dir, ...vars };
    const limit = memoryLimitOf(container);
    const binds = bindsOf(container, this.volumeDirs);
    this.mountPoints.push(...createMountPoints(binds));
    const run = withBinds(withAddressSpaceLimit(argv, limit), binds);
    const child = spawn(run[0]!, run.slice(1), {
      cwd: this.dir,
      env,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.children.push(child);
    // detached: the child leads its own process group, so its pid is the group id the watcher sums.
    const watch = limit !== undefined && child.pid !== undefined ? watchMemory(child.pid, limit) : undefined;
    if (watch) this.watches.push(watch);
    this.follow(child, name, argv[0]!, watch, exited);
  }

  /** Sends a container's output to its log and tells `exited` how it ended (OOMKilled as the kubelet says it). */
  private follow(
    child: ChildProcess,
    name: string,
    command: string,
    watch: MemoryWatch | undefined,
    exited: (code: number) => void,
  ): void {
    const logLine = (text: string) => {
      if (!this.killed) this.ctx.log(name, text, this.ctx.nowMs());
    };
    const sink = lineSplitter(logLine);
    const errSink = lineSplitter(logLine);
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
        this.terminationReasons[name] = "OOMKilled";
        exited(OOM_EXIT_CODE);
      } else {
        exited(code);
      }
    };
    child.on("error", (err) => {
      if (!this.killed) this.ctx.log(name, `failed to start ${command}: ${err.message}`, this.ctx.nowMs());
      finish(127);
    });
    child.on("close", (code, signal) => finish(code ?? (signal ? 128 + signalNumber(signal) : 1)));
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
