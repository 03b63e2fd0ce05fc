/**
 * The cache port in process memory, for the embedded mode and for tests.
 *
 * Keys expire lazily when read, and a periodic sweep drops expired keys nobody reads again. Every operation
 * runs synchronously between awaits, so each is atomic on its key, as in Redis. Pass `now` to move time in tests.
 *
 *   let clock = 0;
 *   const cache = createMemoryCache({ now: () => clock });
 *   await cache.set('k', 'v', { ttlMs: 100 });
 *   clock = 100; // 'k' is gone
 */
import type { Cache, SetOptions } from '../../ports/cache.ts';

const SWEEP_INTERVAL_MS = 30_000;

interface Entry {
  value: string;
  /** Null when the key has no TTL. */
  expiresAt: number | null;
}

export function createMemoryCache(options: { now?: () => number } = {}): Cache {
  const now = options.now ?? Date.now;
  const entries = new Map<string, Entry>();

  const isExpired = (entry: Entry) => entry.expiresAt !== null && entry.expiresAt <= now();

  /** The live entry for `key`, dropping it first if it has expired. */
  function read(key: string): Entry | undefined {
    const entry = entries.get(key);
    if (entry && isExpired(entry)) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  }

  const sweep = setInterval(() => {
    for (const [key, entry] of entries) if (isExpired(entry)) entries.delete(key);
  }, SWEEP_INTERVAL_MS);
  // The sweep only frees memory; it must never be the reason a process stays up.
  sweep.unref();

  return {
    kind: 'memory',

    async get(key) {
      return read(key)?.value ?? null;
    },

    async getMany(keys) {
      return keys.map((key) => read(key)?.value ?? null);
    },

    async set(key, value, setOptions: SetOptions = {}) {
      const { ttlMs, onlyIfAbsent } = setOptions;
      if (ttlMs !== undefined) checkMs('ttlMs', ttlMs);
      if (onlyIfAbsent && read(key)) return false;
      entries.set(key, { value, expiresAt: ttlMs === undefined ? null : now() + ttlMs });
      return true;
    },

    async del(...keys) {
      let deleted = 0;
      for (const key of keys) if (read(key) && entries.delete(key)) deleted++;
      return deleted;
    },

    async exists(key) {
      return read(key) !== undefined;
    },

    async compareAndSet(key, expected, next, ttlMs) {
      if (ttlMs !== undefined) checkMs('ttlMs', ttlMs);
      const entry = read(key);
      if (!entry || entry.value !== expected) return false;
      entry.value = next;
      if (ttlMs !== undefined) entry.expiresAt = now() + ttlMs;
      return true;
    },

    async hit(key, windowMs) {
      checkMs('windowMs', windowMs);
      const entry = read(key);
      const count = entry ? Number(entry.value) + 1 : 1;
      // Redis INCR refuses a value that is not an integer; so do we.
      if (!Number.isSafeInteger(count)) throw new Error(`cannot count hits on ${key}: its value is not an integer`);
      const expiresAt = entry?.expiresAt ?? now() + windowMs;
      entries.set(key, { value: String(count), expiresAt });
      return { count, resetMs: expiresAt - now() };
    },

    async ttl(key) {
      const expiresAt = read(key)?.expiresAt;
      return expiresAt == null ? null : expiresAt - now();
    },

    async ping() {},

    async close() {
      clearInterval(sweep);
    },
  };
}

/** The same check as the Redis adapter, so both reject a bad duration alike. */
function checkMs(name: string, ms: number): void {
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new RangeError(`${name} must be a positive integer, got ${ms}`);
}
