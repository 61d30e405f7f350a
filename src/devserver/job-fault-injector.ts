/**
 * The {@link FaultInjector} a dev server hands to tests: the call-level
 * faults of {@link CallFaults}, and the job-level ones that push a job of the
 * current state into a bad end.
 */
import { ArmadaAirflowError } from "../common/armada-airflow-error.js";
import type { Clock } from "../common/clock.js";
import { ErrorCode } from "../common/error-code.js";
import {
  type EventMessage,
  JobCancelledEvent,
  JobFailedEvent,
  JobSucceededEvent,
} from "../gen/armada/event.js";
import type { DevArmada } from "./dev-armada.js";
import type { CallFaults, FaultInjector } from "./faults.js";

/** A fault injector over `faults` and the jobs of `armada()` (a getter: a restart swaps the state). */
export function jobFaultInjector(faults: CallFaults, armada: () => DevArmada, clock: Clock): FaultInjector {
  return {
    failNext: (m, n, code, message) => faults.failNext(m, n, code, message),
    latency: (m, ms) => faults.latency(m, ms),
    dropEventStreamAfter: (k, n) => faults.dropEventStreamAfter(k, n),
    preemptJob(jobId, reason = "preempted by the dev server's fault injector") {
      if (armada().preempt([jobId], reason, "fault-injector").length === 0) {
        throw new ArmadaAirflowError(
          ErrorCode.FailedPrecondition,
          `preemptJob: job "${jobId}" is unknown or not leased, pending or running`,
        );
      }
    },
    failJob(jobId, reason) {
      if (!armada().fail(jobId, reason))
        throw new ArmadaAirflowError(
          ErrorCode.FailedPrecondition,
          `failJob: job "${jobId}" is unknown or already finished`,
        );
    },
    reportEvent(jobId, kind) {
      const a = armada();
      const job = a.job(jobId);
      if (!job) throw new ArmadaAirflowError(ErrorCode.NotFound, `reportEvent: job "${jobId}" is unknown`);
      const base = { jobId, jobSetId: job.jobSetId, queue: job.queue, created: clock.now() };
      const reason = "wrongly reported by the dev server's fault injector";
      const events: EventMessage["events"] =
        kind === "succeeded"
          ? { $case: "succeeded", value: JobSucceededEvent.fromPartial(base) }
          : kind === "failed"
            ? { $case: "failed", value: JobFailedEvent.fromPartial({ ...base, reason }) }
            : { $case: "cancelled", value: JobCancelledEvent.fromPartial({ ...base, reason }) };
      a.events.append(job.queue, job.jobSetId, { events });
    },
    loseEvents(jobId) {
      const a = armada();
      if (!a.job(jobId)) {
        throw new ArmadaAirflowError(ErrorCode.NotFound, `loseEvents: job "${jobId}" is unknown`);
      }
      a.events.lostJobs.add(jobId);
    },
    setIngestionDelay(ms) {
      if (!(ms >= 0))
        throw new ArmadaAirflowError(
          ErrorCode.InvalidArgument,
          `setIngestionDelay: ms must be >= 0, got ${ms}`,
        );
      armada().ingestionDelayMs = ms;
    },
    clear: () => faults.clear(),
  };
}
