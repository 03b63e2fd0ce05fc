/**
 * The in-process scheduler: what fires scheduled functions where no cluster does, in `npm start` and in the
 * long-lived `iotfn scheduler` process. Each function gets one pass (under its lock, see run-scheduled.ts)
 * every `everySeconds`, or on each tick of its cron when it declares no `everySeconds`. A function's passes
 * never overlap one another; a failing pass is logged and the next one tries again; `stop()` resolves once
 * the passes still running have finished.
 *
 *   const scheduler = startScheduler(deps, scheduleFunctions);
 *   await scheduler.stop();
 */
import type { ScheduleFunction } from '../function.ts';
import type { Deps } from '../platform.ts';
import { atEach, everyInterval } from '../periodic.ts';
import { nextCronTick, parseCron } from './cron.ts';
import { runScheduled } from './run-scheduled.ts';

export interface Scheduler {
  /** One line for a banner: each function and when it runs. */
  describe: string;
  stop(): Promise<void>;
}

/** When the scheduler runs `fn`, in words. */
export function cadence(fn: ScheduleFunction): string {
  return fn.schedule.everySeconds ? `every ${fn.schedule.everySeconds} s` : `at "${fn.schedule.cron}" (UTC)`;
}

export function startScheduler(deps: Deps, fns: readonly ScheduleFunction[]): Scheduler {
  const timers = fns.map((fn) => {
    const pass = () => runScheduled(fn, deps, { once: true });
    const onError = (error: unknown) => deps.log.warn({ err: error, fn: fn.name }, 'scheduled function failed');
    if (fn.schedule.everySeconds) return everyInterval(pass, fn.schedule.everySeconds * 1000, onError);
    const cron = parseCron(fn.schedule.cron);
    return atEach((after) => nextCronTick(cron, after), pass, onError);
  });
  return {
    describe: fns.map((fn) => `${fn.name} ${cadence(fn)}`).join(', '),
    async stop() {
      await Promise.all(timers.map((timer) => timer.stop()));
    },
  };
}
