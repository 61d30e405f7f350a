/** What the Lookout pages of a dev server show: its jobs, their events and their pods' logs. */
import type { Clock } from "../common/clock.js";
import type { LookoutSource } from "../web/lookout-source.js";
import type { DevArmada } from "./dev-armada.js";

/** The Lookout source over `armada()` (a getter: a restart swaps the state). */
export function devLookoutSource(armada: () => DevArmada, clock: Clock): LookoutSource {
  return {
    jobs: () => armada().allJobs(),
    job: (id) => armada().job(id),
    jobEvents: (job) =>
      armada()
        .events.after(job.queue, job.jobSetId, "")
        .filter((e) => {
          const v = e.message?.events?.value as { jobId?: string } | undefined;
          return v?.jobId === job.id;
        }),
    logs: (job) => {
      const pod = armada().logs.ofJob(job.id, job.namespace);
      // A deleted pod's logs are gone, as in Kubernetes.
      if (!pod || (pod.deletedAtMs !== undefined && pod.deletedAtMs <= clock.nowMs())) return undefined;
      return [...pod.containers].map(([container, lines]) => ({ container, lines }));
    },
  };
}
