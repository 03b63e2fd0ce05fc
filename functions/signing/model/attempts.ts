/**
 * Attempt limits of the signing functions: an attempt reserves its place in every window it counts in before any
 * work is done, so however many arrive at once, no more than `max` per window get past.
 *
 * A reservation is one atomic `cache.hit` per limit (INCR, then compare the count it answers): checking a count
 * and counting later would let every parallel attempt read the same low count. A refused attempt gives its
 * reservations back, so refusals cost nothing and the count stays at the limit; a caller gives back too when an
 * attempt turns out not to count (a successful login, or work that failed before it was done).
 *
 *   const attempt = await reserveAttempt(cache, [{ key: `register:address:${ip}`, max: 20, windowMs: 3_600_000 }], 'registrations');
 *   // … the work; throws rate-limited (429, Retry-After) instead when the window is full
 */
import type { Cache } from '../../../shared/ports/cache.ts';
import { Problem } from '../../../shared/problem.ts';

export interface AttemptLimit {
  key: string;
  max: number;
  windowMs: number;
}

export interface Attempt {
  /** Takes this attempt out of the given limits' counts (all of them by default). */
  giveBack(limits?: readonly AttemptLimit[]): Promise<void>;
}

/**
 * Counts one attempt against every limit, or throws `rate-limited` naming `what` (e.g. "failed logins") with a
 * Retry-After of the longest wait among the limits that are full.
 */
export async function reserveAttempt(cache: Cache, limits: readonly AttemptLimit[], what: string): Promise<Attempt> {
  const hits = await Promise.all(limits.map((limit) => cache.hit(limit.key, limit.windowMs)));
  const attempt: Attempt = {
    async giveBack(which = limits) {
      await Promise.all(which.map((limit) => cache.unhit(limit.key)));
    },
  };
  const waitsMs = hits.flatMap((hit, i) => (hit.count > limits[i]!.max ? [hit.resetMs] : []));
  if (waitsMs.length === 0) return attempt;

  await attempt.giveBack();
  const retryAfter = Math.max(1, Math.ceil(Math.max(...waitsMs) / 1000));
  throw new Problem('rate-limited', `Too many ${what}; try again in ${retryAfter} s`, { headers: { 'retry-after': String(retryAfter) } });
}
