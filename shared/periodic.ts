/**
 * A pass of work every `intervalMs` in a long-lived process, never two at once: a pass still running when the
 * next is due is not doubled, and a failing pass is logged and the next one tries again. The timer does not
 * keep the process alive.
 *
 *   const sweeper = everyInterval(() => sweepOffline(deps), 5000, (err) => deps.log.warn({ err }, 'presence sweep failed'));
 *   sweeper.stop();
 */
export function everyInterval(pass: () => Promise<unknown>, intervalMs: number, onError: (error: unknown) => void): { stop(): void } {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    pass()
      .catch(onError)
      .finally(() => {
        running = false;
      });
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
