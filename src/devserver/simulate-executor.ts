/**
 * The default executor: no process starts. Each container's command is read
 * (see `command-reading.ts`) for `echo`, `sleep`, `exit`, `true`/`false` to
 * decide what it logs, how long it runs and how it exits; an unbounded
 * allocator, or the OOM annotation, ends it as Kubernetes' OOM killer would.
 * A command it cannot read for sure is not half-simulated: its outcome comes
 * from the annotations (else success after the default run time) and its
 * log says so.
 */
import type { Container } from "../gen/k8s.io/api/core/v1/generated.js";
import { readCommand } from "./command-reading.js";
import { containersOf, type Executor, type RunContext, type RunningPod } from "./executor.js";
import { OOM_EXIT_CODE, oomReason, podFailureReason } from "./oom.js";
import { bytes } from "./quantity.js";

/** Annotation giving a simulated run time ("30", "30s", "1500ms", "2m"). */
export const DURATION_ANNOTATION = "armada-airflow.dev/duration";
/** Annotation giving a simulated exit code. */
export const EXIT_CODE_ANNOTATION = "armada-airflow.dev/exit-code";
/** Annotation that ends a container OOMKilled: "true" (the first container) or a container name. */
export const OOM_ANNOTATION = "armada-airflow.dev/oom";

/** Options of the simulation. */
export interface SimulateExecutorOptions {
  /** Run time of a container whose command neither sleeps nor has a duration annotation. @default 1000 */
  defaultRunMs?: number;
}

/** Parses a duration annotation; throws naming the annotation when malformed. */
export function parseDuration(value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(value);
  if (!m) {
    throw new Error(
      `annotation ${DURATION_ANNOTATION}="${value}" is not a duration (examples: "30", "30s", "1500ms", "2m")`,
    );
  }
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? "s"]!;
  return Number(m[1]) * unit;
}

/** The memory limit of a container in bytes, or undefined when it has none. */
export function memoryLimitOf(container: Container): number | undefined {
  const limit = container.resources?.limits?.memory?.string;
  return limit ? bytes(limit) : undefined;
}

/** The simulated life of one container. */
interface ContainerPlan {
  logs: { atMs: number; text: string }[];
  /** Run time from the pod's start. */
  durationMs: number;
  exitCode: number;
  oomKilled: boolean;
}

/** Plays a container's command; `forcedOom` makes it end OOMKilled whatever the command. */
function planContainer(container: Container, defaultRunMs: number, forcedOom: boolean): ContainerPlan {
  const name = container.name ?? "";
  const reading = readCommand(container);
  const plan: ContainerPlan = { logs: [], durationMs: 0, exitCode: 0, oomKilled: false };
  if (!reading.interpreted) {
    plan.logs.push({
      atMs: 0,
      text:
        `[armada-airflow dev] the command of container ${name} was not interpreted: ${reading.why}. ` +
        `simulate mode reads only plain echo, sleep, exit, true and false; the outcome comes from the ` +
        `${EXIT_CODE_ANNOTATION} and ${DURATION_ANNOTATION} annotations, else success after ${defaultRunMs} ms ` +
        `(run it for real with --executor process)`,
    });
    plan.durationMs = defaultRunMs;
    plan.oomKilled = forcedOom;
    return plan;
  }
  const limit = memoryLimitOf(container);
  let t = 0;
  let status = 0;
  let slept = false;
  for (const { after, command } of reading.list) {
    if ((after === "&&" && status !== 0) || (after === "||" && status === 0)) continue;
    if (command.kind === "echo") {
      plan.logs.push({ atMs: t, text: command.text });
      status = 0;
    } else if (command.kind === "sleep") {
      t += command.ms;
      slept = true;
      status = 0;
    } else if (command.kind === "status") {
      status = command.code;
    } else if (command.kind === "exit") {
      status = command.code ?? status;
      break;
    } else if (limit === undefined || command.bytes > limit) {
      // Without a limit the node runs out instead; the kernel's OOM killer ends it either way.
      if (command.bytes > 0) {
        plan.oomKilled = true;
        break;
      }
      status = 0;
    } else {
      status = 0;
    }
  }
  plan.durationMs = slept || plan.oomKilled ? t : defaultRunMs;
  plan.exitCode = status;
  plan.oomKilled ||= forcedOom;
  return plan;
}

/** Simulated pods driven by the server's clock. */
export class SimulateExecutor implements Executor {
  readonly kind = "simulate" as const;
  private readonly defaultRunMs: number;

  constructor(options: SimulateExecutorOptions = {}) {
    this.defaultRunMs = options.defaultRunMs ?? 1000;
  }

  start(ctx: RunContext): RunningPod {
    let killed = false;
    const annotations = ctx.job.annotations;
    const forcedDuration = annotations[DURATION_ANNOTATION];
    const forcedExit = annotations[EXIT_CODE_ANNOTATION];
    const oom = annotations[OOM_ANNOTATION];
    const containers = containersOf(ctx.job);
    const oomContainer = oom === "true" ? containers[0]?.name : oom;
    let end = ctx.startAtMs;
    const exitCodes: Record<string, number> = {};
    const terminationReasons: Record<string, string> = {};
    const reasons: string[] = [];
    for (const container of containers) {
      const name = container.name ?? "";
      const plan = planContainer(
        container,
        this.defaultRunMs,
        oomContainer !== undefined && oomContainer === name,
      );
      for (const line of plan.logs) {
        const at = ctx.startAtMs + line.atMs;
        ctx.at(at, () => {
          if (!killed) ctx.log(name, line.text, at);
        });
      }
      let t = ctx.startAtMs + plan.durationMs;
      // The annotations decide run time and exit code; an OOM kill ends the container when it happens.
      if (forcedDuration !== undefined && !(plan.oomKilled && oomContainer !== name)) {
        t = ctx.startAtMs + parseDuration(forcedDuration);
      }
      let code = forcedExit !== undefined ? Number.parseInt(forcedExit, 10) || 0 : plan.exitCode;
      if (plan.oomKilled) {
        code = OOM_EXIT_CODE;
        terminationReasons[name] = "OOMKilled";
        reasons.push(oomReason(name, container));
      } else if (code !== 0) {
        reasons.push(`container ${name} failed with exit code ${code}`);
      }
      exitCodes[name] = code;
      const finishedAt = t;
      const status = plan.oomKilled ? "was OOMKilled (exit code 137)" : `exited with code ${code}`;
      ctx.at(finishedAt, () => {
        if (!killed) ctx.log(name, `container ${name} ${status}`, finishedAt);
      });
      end = Math.max(end, t);
    }
    ctx.at(end, (at) => {
      if (!killed) ctx.finish({ exitCodes, reason: podFailureReason(reasons), terminationReasons }, at);
    });
    return { kill: () => (killed = true) };
  }

  async shutdown(): Promise<void> {}
}
