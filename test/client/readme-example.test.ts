/**
 * The README's client example, run against the dev server through the
 * package's public entry point (`armada-airflow/client`).
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { ArmadaClient, ArmadaError, GrpcChannelArgs, isAmbiguousSubmitFailure } from "armada-airflow/client";
import { type DevServer, ManualClock, startDevServer } from "armada-airflow/testing";

let dev: DevServer;
const clock = new ManualClock();
beforeAll(async () => {
  dev = await startDevServer({ clock });
});
afterAll(() => dev.stop());

it("README: submit a Kubernetes-native job and follow its events", async () => {
  const timer = setInterval(() => clock.advance(200), 2); // the dev server's jobs move on its clock
  try {
    // --- README example (target/auth differ: the README uses a real server) ---
    const client = new ArmadaClient(new GrpcChannelArgs({ target: dev.grpcTarget }));
    try {
      const { jobResponseItems } = await client.submitJobs({
        queue: "default",
        jobSetId: "nightly",
        jobRequestItems: [
          `
namespace: default
podSpec:
  restartPolicy: Never
  containers:
    - name: main
      image: busybox
      command: [sh, -c, "echo hello"]
      resources: { requests: { cpu: 500m, memory: 64Mi }, limits: { cpu: 500m, memory: 64Mi } }
`,
        ],
      });
      const jobId = jobResponseItems[0]!.jobId;
      const seen: string[] = [];
      const ac = new AbortController();
      for await (const ev of client.getJobSetEvents(
        { queue: "default", id: "nightly", watch: true },
        { signal: ac.signal },
      )) {
        const kind = ev.message?.events?.$case;
        seen.push(kind ?? "?");
        if (kind === "succeeded" || kind === "failed" || kind === "cancelled") ac.abort(); // ends the loop cleanly
      }
      expect(seen[0]).toBe("submitted");
      expect(seen.at(-1)).toBe("succeeded");
      expect((await client.getJobStatus({ jobIds: [jobId] })).jobStates[jobId]).toBe(3); // SUCCEEDED
    } catch (err) {
      if (err instanceof ArmadaError && isAmbiguousSubmitFailure(err)) {
        // The job may exist: look it up by external job URI before submitting again.
      }
      throw err;
    } finally {
      client.close();
    }
    // --- end of README example ---
  } finally {
    clearInterval(timer);
  }
});
