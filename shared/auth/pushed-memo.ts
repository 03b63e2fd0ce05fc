/**
 * A per-process memo of answers read from Redis or the database, trusted only while the invalidations for it are
 * pushed to this process: each memo subscribes to one channel of the cache, and a message naming a key drops it.
 *
 * Pub/sub delivery is at most once, so the memo never outlives what it cannot hear: until the subscription is
 * confirmed live, and from the moment it is lost, every read goes to the source; when it turns live again the memo
 * starts empty. Entries also expire after `ttlMs` (what nothing announces, such as a key's own expiry) and the
 * oldest are dropped past `maxEntries`, so a flood of distinct keys cannot grow memory.
 *
 * One memo per cache and channel, made on first use, so the platform needs no wiring:
 *
 *   const memo = pushedMemo<boolean>(cache, 'auth:sessions-ended', { name: 'sessions', ttlMs: 10_000, maxEntries: 10_000 });
 *   const active = await memo.read(sessionId, () => cache.exists(key), (answer) => (answer ? 10_000 : 0));
 *   await memo.invalidate(sessionId); // every process drops it
 */
import type { Cache } from '../ports/cache.ts';
import { authCacheLookups } from '../metrics.ts';
import { RecentlyUsed } from '../recently-used.ts';

export interface PushedMemoOptions {
  /** The `cache` label of its hits and misses in iotfn_auth_cache_lookups_total. */
  name: string;
  ttlMs: number;
  maxEntries: number;
}

export interface PushedMemo<T> {
  /**
   * The remembered answer for `key`, or `load()`'s, remembered for `rememberMs(answer)` (at most `ttlMs`; 0 keeps
   * nothing) unless an invalidation (of any key) arrived while it loaded: an answer read before a revocation must
   * not be stored after it.
   */
  read(key: string, load: () => Promise<T>, rememberMs: (answer: T) => number): Promise<T>;
  /** Drops `key` here and, through the channel, in every process on this cache. */
  invalidate(key: string): Promise<void>;
  /** True while the memo may answer from memory (its subscription is live). */
  readonly trusted: boolean;
}

interface Remembered<T> {
  value: T;
  expiresAt: number;
}

const memos = new WeakMap<Cache, Map<string, PushedMemo<unknown>>>();

export function pushedMemo<T>(cache: Cache, channel: string, options: PushedMemoOptions): PushedMemo<T> {
  let byChannel = memos.get(cache);
  if (!byChannel) memos.set(cache, (byChannel = new Map()));
  let memo = byChannel.get(channel);
  if (!memo) byChannel.set(channel, (memo = createPushedMemo<T>(cache, channel, options) as PushedMemo<unknown>));
  return memo as PushedMemo<T>;
}

function createPushedMemo<T>(cache: Cache, channel: string, options: PushedMemoOptions): PushedMemo<T> {
  const entries = new RecentlyUsed<string, Remembered<T>>(options.maxEntries);
  let trusted = false;
  /** Bumped by every invalidation and by every change of trust, so a load that overlapped one is not kept. */
  let generation = 0;

  const hits = authCacheLookups.labels(options.name, 'hit');
  const misses = authCacheLookups.labels(options.name, 'miss');
  const forgetAll = () => {
    generation++;
    entries.clear();
  };
  // Lives as long as the cache: closing the cache ends it.
  cache.subscribe(channel, {
    message(key) {
      generation++;
      entries.delete(key);
    },
    live() {
      // Whatever was remembered before may have missed messages while we were not listening.
      forgetAll();
      trusted = true;
    },
    lost() {
      trusted = false;
      forgetAll();
    },
  });

  return {
    get trusted() {
      return trusted;
    },

    async read(key, load, rememberMs) {
      if (trusted) {
        const hit = entries.get(key);
        if (hit && hit.expiresAt > Date.now()) {
          hits.inc();
          return hit.value;
        }
        if (hit) entries.delete(key);
      }
      misses.inc();
      const before = generation;
      const wasTrusted = trusted;
      const value = await load();
      const ms = Math.min(rememberMs(value), options.ttlMs);
      if (wasTrusted && trusted && generation === before && ms > 0) entries.set(key, { value, expiresAt: Date.now() + ms });
      return value;
    },

    async invalidate(key) {
      generation++;
      entries.delete(key);
      await cache.publish(channel, key);
    },
  };
}
