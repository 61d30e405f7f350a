/**
 * Settles the many waiters of one answer a slice at a time, with a turn of
 * the event loop between slices. A waiter's continuation runs in the
 * microtasks right after its promise settles, so settling all of them at
 * once ran every continuation in one stretch: when one `SubmitJobs` call
 * answered 500 submit triggers, their next steps (a log line, a status
 * check, XCom writes, a watch each) held the event loop for 100-400 ms.
 */
export function settleInSlices<T>(
  items: readonly T[],
  settle: (item: T, index: number) => void,
  sliceSize = 50,
): void {
  let next = 0;
  const step = (): void => {
    const end = Math.min(next + sliceSize, items.length);
    for (; next < end; next++) settle(items[next]!, next);
    if (next < items.length) setImmediate(step);
  };
  step();
}
