/**
 * Waits until `condition` holds, checking on each macrotask turn, instead of a
 * fixed sleep. Fails with `message` (or what it returns, for state known only then) after `timeoutMs` of real time (a safety
 * net for a broken test, not a timing assertion).
 */
export async function sleepUntil(
  condition: () => boolean | Promise<boolean>,
  message: string | (() => string) = "condition",
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) {
      throw new Error(`sleepUntil: timed out waiting for ${typeof message === "function" ? message() : message}`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}
