/**
 * Bounds how far V8's heap grows between full garbage collections in the
 * CLI's process. V8 sets the next full collection's threshold at a multiple
 * of what the last one kept, the multiple chosen from how fast it collects:
 * up to about 4. A runner of 100,000 waiting tasks keeps about 250 MiB live,
 * and while its tasks resumed the heap grew to 950 MiB of mostly garbage
 * before a full collection came, which put its peak RSS over 1 GiB. A fixed
 * growth of 50% collects sooner, at a little CPU (a full collection of such
 * a heap is mostly concurrent marking).
 */
import v8 from "node:v8";

/**
 * Sets V8's `--heap-growing-percent` to `percent` (0 or less: leaves V8's
 * own choice), unless the process was started with the flag (in its
 * arguments or `NODE_OPTIONS`): a user's own setting wins.
 */
export function limitHeapGrowth(percent: number, env: NodeJS.ProcessEnv = process.env): boolean {
  if (!(percent > 0) || !Number.isFinite(percent)) return false;
  const given = [...process.execArgv, env.NODE_OPTIONS ?? ""].some((a) =>
    /--heap[-_]growing[-_]percent/.test(a),
  );
  if (given) return false;
  v8.setFlagsFromString(`--heap-growing-percent=${Math.round(percent)}`);
  return true;
}
