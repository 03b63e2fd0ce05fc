/**
 * Change signals for long polling, across processes (in a cluster each function is its own process): for
 * each device and topic the cache holds a token that every change replaces. A waiting request reads that
 * token every 200 ms and goes to the database only when it changed, or every few seconds in case a signal
 * was lost; waiters in the process that made the change are woken at once. Every wait ends by MAX_WAIT_MS.
 *
 *   await signalChange(deps, 'config', deviceId);   // after the commit
 *   const newer = await waitForChange(deps, 'config', deviceId, Date.now() + 20_000, async () => changedOrUndefined());
 */
import { randomUUID } from 'node:crypto';
import type { Deps } from '../../../shared/platform.ts';

export type ChangeTopic = 'config' | 'commands';

/** The longest any request waits for a change. */
export const MAX_WAIT_MS = 30_000;
const pollMs = 200;
const recheckMs = 5_000;
/** Longer than any wait, so a waiter never sees the token vanish merely by ageing (that would only cost a read). */
const signalTtlMs = 10 * 60_000;

const signalKey = (topic: ChangeTopic, deviceId: string) => `device-change:${topic}:${deviceId}`;
const localWaiters = new Map<string, Set<() => void>>();

/** Tells every waiter of the device that something of the topic changed. Never throws: the change is committed. */
export async function signalChange(deps: Pick<Deps, 'cache' | 'log'>, topic: ChangeTopic, deviceId: string): Promise<void> {
  const key = signalKey(topic, deviceId);
  for (const wake of localWaiters.get(key) ?? []) wake();
  await deps.cache.set(key, randomUUID(), { ttlMs: signalTtlMs }).catch((error: unknown) => {
    deps.log.warn({ err: error, deviceId, topic }, 'change signal not stored; waiters elsewhere notice within seconds');
  });
}

/**
 * Calls `check` now and after every change of the topic until it answers something (returned) or `untilMs`
 * (epoch ms, at most MAX_WAIT_MS away) passes (undefined).
 */
export async function waitForChange<T>(
  deps: Pick<Deps, 'cache'>,
  topic: ChangeTopic,
  deviceId: string,
  untilMs: number,
  check: () => Promise<T | undefined>,
  /** How often the cache's token is read: fewer waiters (an owner waiting on one command) can afford more. */
  everyMs = pollMs,
): Promise<T | undefined> {
  const deadline = Math.min(untilMs, Date.now() + MAX_WAIT_MS);
  const key = signalKey(topic, deviceId);
  const unreadable = Symbol('unreadable');
  const readSignal = () => deps.cache.get(key).catch(() => unreadable);
  // Read the token before checking: a change after the check then shows as a different token.
  let seen = await readSignal();
  let found = await check();
  if (found !== undefined || Date.now() >= deadline) return found;

  let woken = false;
  let wake: (() => void) | undefined;
  const onSignal = () => {
    woken = true;
    wake?.();
  };
  const waiters = localWaiters.get(key) ?? new Set();
  localWaiters.set(key, waiters.add(onSignal));
  try {
    let lastCheck = Date.now();
    while (Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(everyMs, deadline - Date.now()));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
        if (woken) wake();
      });
      wake = undefined;
      const current = await readSignal();
      // An unreadable cache is no change: the periodic re-check covers it without a read every 200 ms.
      const changed = current !== unreadable && current !== seen;
      if (!woken && !changed && Date.now() - lastCheck < recheckMs) continue;
      woken = false;
      if (current !== unreadable) seen = current;
      found = await check();
      lastCheck = Date.now();
      if (found !== undefined) return found;
    }
    return undefined;
  } finally {
    waiters.delete(onSignal);
    if (waiters.size === 0) localWaiters.delete(key);
  }
}
