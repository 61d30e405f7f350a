/**
 * The default executor: no process starts. Each container's shell-ish command
 * is read for `echo`, `sleep N` and `exit K` to decide what it logs, how long
 * it runs and how it exits; annotations override duration and exit code.
 */
import type { Container } from "../gen/k8s.io/api/core/v1/generated.js";
import { containersOf, failureReason, type Executor, type RunContext, type RunningPod } from "./executor.js";

/** Annotation giving a simulated run time ("30", "30s", "1500ms", "2m"). */
export const DURATION_ANNOTATION = "armada-airflow.dev/duration";
/** Annotation giving a simulated exit code. */
export const EXIT_CODE_ANNOTATION = "armada-airflow.dev/exit-code";

/** One step of a simulated container. */
type Step = { kind: "echo"; text: string } | { kind: "sleep"; ms: number } | { kind: "exit"; code: number };

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

/** Reads the steps of a container's command and args (a small subset of sh). */
export function stepsOf(container: Container): Step[] {
  const words = [...container.command, ...container.args];
  // `sh -c "<script>"` carries the script as the argument after -c; otherwise treat the words as one command.
  const c = words.indexOf("-c");
  const script = c >= 0 && c + 1 < words.length ? words.slice(c + 1).join(" ") : words.join(" ");
  const steps: Step[] = [];
  for (const raw of script.split(/&&|\|\||;|\n/)) {
    const stmt = raw.trim();
    let m: RegExpExecArray | null;
    if ((m = /^(?:\S*\/)?sleep\s+(\d+(?:\.\d+)?)(s|m|h)?$/.exec(stmt))) {
      steps.push({ kind: "sleep", ms: Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? "s"]! });
    } else if ((m = /^(?:\S*\/)?echo\s+(.*)$/.exec(stmt))) {
      steps.push({ kind: "echo", text: unquote(m[1]) });
    } else if ((m = /^exit\s+(\d+)$/.exec(stmt))) {
      steps.push({ kind: "exit", code: Number(m[1]) });
      break;
    } else if (stmt === "false") {
      steps.push({ kind: "exit", code: 1 });
      break;
    }
  }
  return steps;
}

function unquote(s: string): string {
  const t = s.trim();
  if ((t.startsWith('"') && t.endsWith('"')) || (t.startsWith("'") && t.endsWith("'"))) return t.slice(1, -1);
  return t;
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
    let end = ctx.startAtMs;
    const exitCodes: Record<string, number> = {};
    for (const container of containersOf(ctx.job)) {
      const name = container.name ?? "";
      let t = ctx.startAtMs;
      let code = 0;
      let slept = false;
      for (const step of stepsOf(container)) {
        if (step.kind === "sleep") {
          t += step.ms;
          slept = true;
        } else if (step.kind === "echo") {
          const at = t;
          ctx.at(at, () => {
            if (!killed) ctx.log(name, step.text, at);
          });
        } else {
          code = step.code;
        }
      }
      if (!slept) t = ctx.startAtMs + this.defaultRunMs;
      if (forcedDuration !== undefined) t = ctx.startAtMs + parseDuration(forcedDuration);
      if (forcedExit !== undefined) code = Number.parseInt(forcedExit, 10) || 0;
      exitCodes[name] = code;
      const finishedAt = t;
      ctx.at(finishedAt, () => {
        if (!killed) ctx.log(name, `container ${name} exited with code ${code}`, finishedAt);
      });
      end = Math.max(end, t);
    }
    ctx.at(end, (at) => {
      if (!killed) ctx.finish({ exitCodes, reason: failureReason(exitCodes) }, at);
    });
    return { kill: () => (killed = true) };
  }

  async shutdown(): Promise<void> {}
}
