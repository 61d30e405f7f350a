/**
 * Opt-in executor that runs each container's command and args as a local
 * process (the image is recorded, not pulled) in a fresh temporary directory
 * with the environment Kubernetes would give it (see `downward-api.ts`):
 * init containers first, one at a time, then the containers together (one
 * {@link ProcessPod} a pod); `emptyDir` volumes are shared folders (see
 * `pod-volumes.ts`). stdout/stderr become the pod log; exit codes decide the
 * outcome; cancel and preempt kill the whole process group. A container with
 * `limits.memory` is held to it (see `memory-limit.ts`) and ends OOMKilled
 * with exit code 137 when it goes over.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { containersOf, type Executor, type RunContext, type RunningPod } from "./executor.js";
import { podSpecsOf } from "./job-validation.js";
import { ProcessPod } from "./process-pod.js";

/** Local processes as pods. */
export class ProcessExecutor implements Executor {
  readonly kind = "process" as const;
  private readonly live = new Set<() => void>();

  start(ctx: RunContext): RunningPod {
    const dir = mkdtempSync(path.join(tmpdir(), `armada-${ctx.job.id}-`));
    const pod: ProcessPod = new ProcessPod(ctx, podSpecsOf(ctx.job.spec)[0], containersOf(ctx.job), dir, () =>
      this.live.delete(pod.kill),
    );
    this.live.add(pod.kill);
    pod.start();
    return { kill: pod.kill };
  }

  async shutdown(): Promise<void> {
    for (const kill of [...this.live]) kill();
  }
}
