/**
 * Runs a scheduled function: always under its lock (the relational store's `withTryLock`), so however many
 * schedulers fire it (replicas of `iotfn scheduler`, a PingSource delivering twice, `npm start` beside a
 * cluster's schedule), one run works at a time and the others skip.
 *
 * One invocation, as a cluster's PingSource or OpenFaaS cron-connector asks for it on each cron tick:
 *
 *   const run = await runScheduled(fn, deps);   // { function, passes, failed, totals, ms } or { function, skipped: 'locked' }
 *
 * A cron tick comes at most once a minute, so a function that declares `everySeconds` makes passes that far
 * apart within the invocation, holding the lock, and returns before the next tick is due (whose invocation then
 * finds the lock free). The in-process scheduler (scheduler.ts) asks for one pass at a time instead: `once`.
 */
import type { ScheduleFunction } from '../function.ts';
import type { Deps } from '../platform.ts';
import { scheduleDuration, scheduleRuns } from '../metrics.ts';
import { nextCronTick } from './cron.ts';

/** The time a run sees; a test passes its own to run a minute's passes at once. */
export interface ScheduleClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: ScheduleClock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export type ScheduledRun =
  | {
      function: string;
      /** Passes made, failed ones included. */
      passes: number;
      failed: number;
      /** What the passes did, added up by key (e.g. `{ expired: 12 }`). */
      totals: Record<string, number>;
      ms: number;
    }
  | { function: string; skipped: 'locked' };

export interface RunOptions {
  clock?: ScheduleClock;
  /** One pass only, whatever `everySeconds` says: what the in-process scheduler asks for. */
  once?: boolean;
}

/** The lock a scheduled function runs under: one per function, shared by every process on the database. */
export function scheduleLockName(fn: Pick<ScheduleFunction, 'name'>): string {
  return `schedule:${fn.name}`;
}

/**
 * One invocation under the function's lock. A failing pass is logged and counted and the next pass tries
 * again; when no pass succeeded the last error is thrown (a host answers 500, a scheduler logs it).
 */
export async function runScheduled(fn: ScheduleFunction, deps: Deps, options: RunOptions = {}): Promise<ScheduledRun> {
  const clock = options.clock ?? systemClock;
  const log = deps.log.child({ fn: fn.name });
  const started = clock.now();
  const locked = await deps.db.withTryLock(scheduleLockName(fn), () => passes(fn, deps, clock, log, options.once === true));
  if (!locked.ran) {
    scheduleRuns.inc({ function: fn.name, outcome: 'skipped' });
    log.debug('skipped: another run holds the lock');
    return { function: fn.name, skipped: 'locked' };
  }
  const { count, failed, totals, lastError } = locked.value;
  if (failed === count) throw lastError;
  const run = { function: fn.name, passes: count, failed, totals, ms: clock.now() - started };
  // A pass every second that found nothing to do is not worth a line each.
  if (!options.once || failed > 0 || Object.values(totals).some((n) => n !== 0)) log.info(run, 'scheduled run');
  return run;
}

async function passes(fn: ScheduleFunction, deps: Deps, clock: ScheduleClock, log: Deps['log'], once: boolean) {
  const every = fn.schedule.everySeconds;
  // Passes must end before the next tick, whose invocation would otherwise find the lock held and skip.
  const deadline = once || !every ? undefined : nextCronTick(fn.schedule.cron, clock.now());
  const totals: Record<string, number> = {};
  let count = 0;
  let failed = 0;
  let lastError: unknown;
  for (;;) {
    const passStart = clock.now();
    count++;
    try {
      const result = await pass(fn, deps, passStart, log);
      for (const [key, value] of Object.entries(result ?? {})) totals[key] = (totals[key] ?? 0) + value;
    } catch (error) {
      failed++;
      lastError = error;
      // A single pass's error is thrown to the caller, which logs it; a pass among several is logged here.
      if (!once) log.warn({ err: error }, 'scheduled pass failed');
    }
    if (deadline === undefined || every === undefined) break;
    const nextStart = passStart + every * 1000;
    if (nextStart + every * 1000 > deadline) break;
    await clock.sleep(Math.max(0, nextStart - clock.now()));
  }
  return { count, failed, totals, lastError };
}

async function pass(fn: ScheduleFunction, deps: Deps, now: number, log: Deps['log']) {
  const started = process.hrtime.bigint();
  let outcome = 'error';
  try {
    const result = await fn.handler({ deps, log, now });
    outcome = 'ok';
    return result;
  } finally {
    scheduleRuns.inc({ function: fn.name, outcome });
    scheduleDuration.observe({ function: fn.name, outcome }, Number(process.hrtime.bigint() - started) / 1e9);
  }
}
