/**
 * Waiting, the one way: poll a probe with a generous limit. Tests never
 * sleep a fixed time to let something happen, and never assert an upper
 * bound on time (the machine is shared and noisy).
 */

/** The default limit for waiting on a condition. */
export const WAIT_MS = 30_000;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Polls `probe` until it returns something other than undefined, null or
 * false, and returns that. Throws after `timeoutMs` naming `what`, with
 * `explain()` (e.g. the process's output) in the message.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  timeoutMs = WAIT_MS,
  explain: () => string | Promise<string> = () => "",
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) {
      const detail = await explain();
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${detail ? `\n${detail}` : ""}`,
      );
    }
    await sleep(everyMs);
  }
}

/** A process whose output the waiter below scans. */
export interface Watched {
  exit: unknown;
  describe(): string;
}

/**
 * Waits until `items` (which keeps growing) holds one that matches, scanning
 * each item once; fails fast if `owner` exited first.
 */
export function waitForItem<T>(
  what: string,
  items: readonly T[],
  match: (item: T) => boolean,
  owner: Watched,
  timeoutMs = WAIT_MS,
): Promise<T> {
  let checked = 0;
  return waitFor(
    what,
    () => {
      for (; checked < items.length; checked++) {
        const item = items[checked] as T;
        if (match(item)) return item;
      }
      if (owner.exit !== undefined) {
        throw new Error(`exited before ${what} came: ${owner.describe()}`);
      }
      return undefined;
    },
    timeoutMs,
    () => owner.describe(),
  );
}
