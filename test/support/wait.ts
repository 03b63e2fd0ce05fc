/**
 * Bounded waiting for tests: uvu has no timeouts, so every wait in a test goes through one of these.
 */

/** Waits for `promise` at most `ms`, so a hang fails the test instead of stalling the run. */
export async function settleWithin(promise: Promise<unknown>, ms: number): Promise<'resolved' | 'rejected' | 'timed out'> {
  let timer: NodeJS.Timeout | undefined;
  const watchdog = new Promise<'timed out'>((resolve) => {
    timer = setTimeout(resolve, ms, 'timed out');
  });
  try {
    return await Promise.race([
      promise.then(
        () => 'resolved' as const,
        () => 'rejected' as const,
      ),
      watchdog,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` until it returns something truthy (returned) or `timeoutMs` passes (throws naming `what`). */
export async function until<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
