/**
 * Test-only crash points for the fault-matrix tests: with
 * `ARMADA_AIRFLOW_TEST_CRASH_AT=name[:nth]` in the environment, the process
 * kills itself with SIGKILL the nth time (default 1) it reaches the point
 * `name`, exactly as `kill -9` would, at a moment a test could not hit
 * reliably from outside. Without the variable a crash point does nothing.
 */
const counts = new Map<string, number>();

let parsed: { name: string; nth: number } | null | undefined;

function target(): { name: string; nth: number } | null {
  if (parsed !== undefined) return parsed;
  const text = process.env.ARMADA_AIRFLOW_TEST_CRASH_AT;
  if (!text) return (parsed = null);
  const [name, nth] = text.split(":");
  return (parsed = { name: name!, nth: nth ? Number(nth) : 1 });
}

/** Kills this process (SIGKILL) when the test environment names this point; see the module comment. */
export function crashPoint(name: string): void {
  const t = target();
  if (!t || t.name !== name) return;
  const seen = (counts.get(name) ?? 0) + 1;
  counts.set(name, seen);
  if (seen === t.nth) process.kill(process.pid, "SIGKILL");
}
