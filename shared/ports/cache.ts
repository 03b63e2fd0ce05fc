/**
 * The cache port: sessions, revocation, rate-limit counters and lookup caches.
 *
 * Two adapters pass one contract suite (test/cache.contract.ts): ioredis against a Redis server, and an
 * in-process map with TTLs for the embedded mode. Every operation is atomic on its own key, as in Redis.
 * Times are milliseconds.
 *
 * Sorted sets share the keyspace with strings, as in Redis: `del`, `exists` and `ttl` see them, a set whose last
 * member is removed no longer exists, and using a key as the other kind rejects (Redis WRONGTYPE) — except
 * `set`, which replaces whatever the key held, and `getMany`, which answers null for it.
 *
 *   await cache.sortedAdd('devices:last-seen', [{ member: deviceId, score: Date.now() }]);
 *   const silent = await cache.sortedRangeByScore('devices:last-seen', -Infinity, Date.now() - 60_000, 500);
 *
 * Publish/subscribe carries invalidations between processes (Redis PUBLISH/SUBSCRIBE). Delivery is at most once:
 * a message published while a subscription is not live is lost, so a subscriber that caches must stop trusting
 * its cache on `lost` and start afresh on `live`. Channels are namespaced like keys (the Redis key prefix).
 *
 *   const subscription = cache.subscribe('sessions:ended', { message: forget, live: clearAll, lost: stopTrusting });
 */
export interface SetOptions {
  /** Expire the key after this many milliseconds. */
  ttlMs?: number;
  /** Only set when the key does not exist (Redis NX). */
  onlyIfAbsent?: boolean;
}

/** What a subscriber hears. A handler that throws is ignored: it must not break delivery to the others. */
export interface SubscriptionEvents {
  /** A message published on the channel while the subscription was live. */
  message(message: string): void;
  /**
   * The subscription is confirmed: every message published from now on reaches `message`, until `lost`.
   * Called again after each reconnect; messages published in between were lost.
   */
  live(): void;
  /** The subscription may miss messages from now until the next `live` (connection lost or closing). */
  lost(): void;
}

export interface Subscription {
  /** True between `live` and `lost`. */
  readonly live: boolean;
  unsubscribe(): Promise<void>;
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
  /**
   * Takes back one hit: decrements `key` while it is above zero, keeping its TTL; a missing key stays missing.
   * For a limiter that counts an attempt before doing the work, when the attempt turns out not to count.
   */
  unhit(key: string): Promise<void>;
  /** Milliseconds until the key expires; null when the key is missing or has no TTL. */
  ttl(key: string): Promise<number | null>;
  /**
   * Sets members' scores (Redis ZADD); creates the set. Scores are doubles, so integers such as epoch
   * milliseconds round-trip exactly up to 2^53. A NaN score rejects with a RangeError and sets nothing.
   */
  sortedAdd(key: string, entries: ReadonlyArray<{ member: string; score: number }>): Promise<void>;
  /** Scores of the given members, null for absent ones (Redis ZMSCORE). */
  sortedScores(key: string, members: readonly string[]): Promise<(number | null)[]>;
  /**
   * Members with min <= score <= max in ascending score order, ties by member, at most `limit` (Redis ZRANGE
   * BYSCORE LIMIT). Use -Infinity / Infinity for open bounds. A NaN bound or a `limit` that is not a
   * non-negative integer rejects with a RangeError.
   */
  sortedRangeByScore(
    key: string,
    min: number,
    max: number,
    limit?: number,
  ): Promise<Array<{ member: string; score: number }>>;
  /** Removes members; returns how many were there (Redis ZREM) — so two sweepers racing on one member see 1 and 0. */
  sortedRemove(key: string, members: readonly string[]): Promise<number>;
  /** How many members have min <= score <= max (Redis ZCOUNT); bounds as in `sortedRangeByScore`. */
  sortedCount(key: string, min: number, max: number): Promise<number>;
  /** Sends `message` to every live subscription of `channel`, in every process on this cache. */
  publish(channel: string, message: string): Promise<void>;
  /**
   * Subscribes at once and answers through `events`; nothing is delivered before `live`. The Redis adapter opens
   * its one subscriber connection on the first call and reconnects it for as long as the cache is open.
   */
  subscribe(channel: string, events: SubscriptionEvents): Subscription;
  ping(): Promise<void>;
  close(): Promise<void>;
}
