/**
 * The cache port: sessions, revocation, rate-limit counters and lookup caches.
 *
 * Two adapters pass one contract suite (test/cache.contract.ts): ioredis against a Redis server, and an
 * in-process map with TTLs for the embedded mode. Every operation is atomic on its own key, as in Redis.
 * Times are milliseconds.
 */
export interface SetOptions {
  /** Expire the key after this many milliseconds. */
  ttlMs?: number;
  /** Only set when the key does not exist (Redis NX). */
  onlyIfAbsent?: boolean;
}

export interface Cache {
  readonly kind: 'redis' | 'memory';
  get(key: string): Promise<string | null>;
  getMany(keys: readonly string[]): Promise<(string | null)[]>;
  /** Returns false only when `onlyIfAbsent` was asked and the key existed. */
  set(key: string, value: string, options?: SetOptions): Promise<boolean>;
  /** Returns how many of the keys existed. */
  del(...keys: string[]): Promise<number>;
  exists(key: string): Promise<boolean>;
  /** Replaces the value only if it still equals `expected`; the key keeps its TTL unless `ttlMs` is given. */
  compareAndSet(key: string, expected: string, next: string, ttlMs?: number): Promise<boolean>;
  /**
   * Counts a hit in a fixed window: increments `key`, starting a `windowMs` TTL on the first hit.
   * Returns the count so far and the milliseconds until the window ends.
   */
  hit(key: string, windowMs: number): Promise<{ count: number; resetMs: number }>;
  /** Milliseconds until the key expires; null when the key is missing or has no TTL. */
  ttl(key: string): Promise<number | null>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
