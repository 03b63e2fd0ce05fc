/**
 * A pass of work again and again in a long-lived process, never two at once: a pass still running when the
 * next is due is not doubled, and a failing pass is logged and the next one tries again. The timers do not keep
 * the process alive; `stop()` ends them and resolves once a pass still running has finished.
 *
 *   const sweeper = everyInterval(() => sweepOffline(deps), 5000, (err) => deps.log.warn({ err }, 'presence sweep failed'));
 *   const hourly = atEach((after) => nextCronTick('0 * * * *', after), () => expire(deps), onError);
 *   await Promise.all([sweeper.stop(), hourly.stop()]);
 */
export interface Periodic {
  stop(): Promise<void>;
}

/** Runs `pass` unless one is still running; the promise tracks the one running, for stop() to wait on. */
function guarded(pass: () => Promise<unknown>, onError: (error: unknown) => void) {
  let running: Promise<void> | undefined;
  return {
    fire() {
      if (running) return;
      running = pass()
        .then(() => undefined, onError)
        .finally(() => {
          running = undefined;
        });
    },
    settled: () => running ?? Promise.resolve(),
  };
}

/** Every `intervalMs`, the first pass one interval after the start. */
export function everyInterval(pass: () => Promise<unknown>, intervalMs: number, onError: (error: unknown) => void): Periodic {
  const work = guarded(pass, onError);
  const timer = setInterval(work.fire, intervalMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      return work.settled();
    },
  };
}

/** At each time `next(after)` gives (epoch ms, after `after`): a cron's ticks, say. */
export function atEach(next: (after: number) => number, pass: () => Promise<unknown>, onError: (error: unknown) => void): Periodic {
  const work = guarded(pass, onError);
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const arm = () => {
    if (stopped) return;
    // A tick is never fired early: a timer that wakes a little before its time re-arms for the same tick.
    const at = next(Date.now());
    timer = setTimeout(() => {
      if (Date.now() >= at) work.fire();
      arm();
    }, Math.max(0, at - Date.now()));
    timer.unref();
  };
  arm();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      return work.settled();
    },
  };
}
