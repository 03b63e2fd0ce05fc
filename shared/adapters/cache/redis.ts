/**
 * The cache port on Redis, through ioredis.
 *
 * Every wait is bounded so a function fails fast instead of hanging when Redis is down: queued commands are
 * rejected after a few reconnect attempts, and any command still unanswered after COMMAND_TIMEOUT_MS is rejected.
 * `compareAndSet`, `hit` and `unhit` are Lua scripts, so each runs atomically on the server. The sorted-set operations use
 * ZMSCORE and ZRANGE … BYSCORE, so they need Redis 6.2 or later.
 *
 * Subscriptions share one more connection, opened on the first `subscribe` (a connection in subscriber mode can run
 * nothing else) and reconnected for as long as the cache is open. ioredis prefixes keys but not channels, so the
 * adapter prefixes channel names itself: two caches with different prefixes never hear each other.
 *
 *   const cache = createRedisCache('redis://127.0.0.1:6379/0', { keyPrefix: 'iot:' });
 *   await cache.set('session:abc', userId, { ttlMs: 3_600_000 });
 */
import { Redis } from 'ioredis';
import type { Cache, SetOptions, Subscription, SubscriptionEvents } from '../../ports/cache.ts';
import { ChannelSubscription } from './channel-subscription.ts';

const CONNECT_TIMEOUT_MS = 2_000;
/** Also bounds a server that accepts the connection but never answers. */
const COMMAND_TIMEOUT_MS = 2_000;
/** Short and capped, so a command queued while Redis is down meets its retry limit within about a second. */
const retryDelayMs = (attempt: number) => Math.min(attempt * 100, 500);

/** GET, compare, then SET keeping the TTL (KEEPTTL) or replacing it (PX) when ARGV[3] is given. */
const COMPARE_AND_SET = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
end
return 1`;

/**
 * INCR, then start the window when the key has no TTL yet. Checking PTTL does what PEXPIRE NX does, but
 * PEXPIRE NX needs Redis 7 and this runs on 6 too.
 */
const HIT = `
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}`;

/**
 * DECR only an existing key above zero: DECR on a missing key would create it at -1, with no TTL. A value that is
 * not a number still reaches DECR, so it fails as `hit` does on it.
 */
const UNHIT = `
local value = redis.call('GET', KEYS[1])
if value and (tonumber(value) == nil or tonumber(value) > 0) then redis.call('DECR', KEYS[1]) end
return 0`;

/** The client with the scripts above, which ioredis adds at runtime and cannot type. */
type ScriptedRedis = Redis & {
  compareAndSet(key: string, expected: string, next: string, ...ttlMs: string[]): Promise<number>;
  hit(key: string, windowMs: string): Promise<[number, number]>;
  unhit(key: string): Promise<number>;
};

export function createRedisCache(url: string, options: { keyPrefix?: string } = {}): Cache {
  const redis = new Redis(url, {
    keyPrefix: options.keyPrefix,
    connectTimeout: CONNECT_TIMEOUT_MS,
    // After a refused connection, disconnect() still arms this timer and nothing clears it: keep the time it holds
    // the process open after close() short.
    disconnectTimeout: 200,
    commandTimeout: COMMAND_TIMEOUT_MS,
    maxRetriesPerRequest: 2,
    retryStrategy: retryDelayMs,
    // Queue commands while (re)connecting so a cold start does not fail; the limits above keep the queue short.
    enableOfflineQueue: true,
    scripts: {
      compareAndSet: { lua: COMPARE_AND_SET, numberOfKeys: 1 },
      hit: { lua: HIT, numberOfKeys: 1 },
      unhit: { lua: UNHIT, numberOfKeys: 1 },
    },
  }) as ScriptedRedis;
  // Every failure also rejects the command that met it; without a listener ioredis logs each reconnect attempt.
  // The last one is kept: a command that gave up says only that it ran out of retries, not why.
  let lastConnectionError: NodeJS.ErrnoException | undefined;
  redis.on('error', (error: NodeJS.ErrnoException) => (lastConnectionError = error));
  redis.on('ready', () => (lastConnectionError = undefined));
  const prefix = options.keyPrefix ?? '';
  const subscriptions = new ChannelSubscriptions(url, `iotfn-subscriber:${prefix}`);

  return {
    kind: 'redis',

    get: (key) => redis.get(key),

    async getMany(keys) {
      // MGET with no keys is a Redis error, not an empty answer.
      return keys.length === 0 ? [] : redis.mget(...keys);
    },

    async set(key, value, setOptions: SetOptions = {}) {
      const { ttlMs, onlyIfAbsent } = setOptions;
      if (ttlMs !== undefined) checkMs('ttlMs', ttlMs);
      const args: (string | number)[] = [key, value];
      if (ttlMs !== undefined) args.push('PX', ttlMs);
      if (onlyIfAbsent) args.push('NX');
      return (await redis.call('SET', ...args)) === 'OK';
    },

    async del(...keys) {
      return keys.length === 0 ? 0 : redis.del(...keys);
    },

    async exists(key) {
      return (await redis.exists(key)) === 1;
    },

    async compareAndSet(key, expected, next, ttlMs) {
      if (ttlMs !== undefined) checkMs('ttlMs', ttlMs);
      const ttlArg = ttlMs === undefined ? [] : [String(ttlMs)];
      return (await redis.compareAndSet(key, expected, next, ...ttlArg)) === 1;
    },

    async hit(key, windowMs) {
      checkMs('windowMs', windowMs);
      const [count, resetMs] = await redis.hit(key, String(windowMs));
      return { count, resetMs };
    },

    async unhit(key) {
      await redis.unhit(key);
    },

    async ttl(key) {
      const ms = await redis.pttl(key);
      // -2: no such key; -1: no TTL.
      return ms < 0 ? null : ms;
    },

    async sortedAdd(key, entries) {
      const args: string[] = [];
      for (const { member, score } of entries) args.push(toRedisScore('score', score), member);
      // ZADD with no members is a Redis error, not a no-op.
      if (args.length === 0) return;
      // Members go to ioredis as one array, never as spread arguments: Node overflows its call stack somewhere past
      // 100k arguments, which a 100k-member ZADD (two per member) exceeds. The typed zadd only takes spread
      // arguments; call takes an array and still applies keyPrefix.
      await redis.call('ZADD', [key, ...args]);
    },

    async sortedScores(key, members) {
      if (members.length === 0) return [];
      const scores = await redis.zmscore(key, [...members]);
      return scores.map((score) => (score === null ? null : fromRedisScore(score)));
    },

    async sortedRangeByScore(key, min, max, limit) {
      const [from, to] = [toRedisScore('min', min), toRedisScore('max', max)];
      if (limit !== undefined) checkLimit(limit);
      // The named method, not redis.call: over RESP3 only the named method flattens the [member, score] pairs.
      const flat =
        limit === undefined
          ? await redis.zrange(key, from, to, 'BYSCORE', 'WITHSCORES')
          : await redis.zrange(key, from, to, 'BYSCORE', 'LIMIT', 0, limit, 'WITHSCORES');
      const range: Array<{ member: string; score: number }> = [];
      for (let i = 0; i + 1 < flat.length; i += 2) range.push({ member: flat[i]!, score: fromRedisScore(flat[i + 1]!) });
      return range;
    },

    async sortedRemove(key, members) {
      return members.length === 0 ? 0 : redis.zrem(key, [...members]);
    },

    async sortedCount(key, min, max) {
      return redis.zcount(key, toRedisScore('min', min), toRedisScore('max', max));
    },

    async publish(channel, message) {
      await redis.publish(prefix + channel, message);
    },

    subscribe(channel, events) {
      return subscriptions.add(prefix + channel, events);
    },

    async ping() {
      try {
        await redis.ping();
      } catch (error) {
        // Why the connection failed (ECONNREFUSED, ENOTFOUND…), where ioredis gives only "max retries".
        if (!lastConnectionError?.code) throw error;
        throw Object.assign(new Error(`${(error as Error).message}: ${lastConnectionError.message}`, { cause: lastConnectionError }), { code: lastConnectionError.code });
      }
    },

    async close() {
      await subscriptions.close();
      try {
        await redis.quit();
      } catch {
        // quit rejects when the connection is already gone or Redis does not answer; drop the socket either way.
        redis.disconnect();
      }
    },
  };
}

/**
 * The subscriber connection and who listens on which channel. We subscribe ourselves on every `ready` (ioredis's
 * autoResubscribe is off) so we know when each channel is confirmed again, and a `close` makes every subscription lost.
 */
class ChannelSubscriptions {
  private connection: Redis | undefined;
  private readonly byChannel = new Map<string, Set<ChannelSubscription>>();
  /** Bumped on every `close`, so a SUBSCRIBE answered by an older connection confirms nothing. */
  private epoch = 0;
  private closed = false;

  constructor(
    private readonly url: string,
    /** CLIENT SETNAME, so an operator (or a test) can tell this connection apart in CLIENT LIST. */
    private readonly name: string,
  ) {}

  add(channel: string, events: SubscriptionEvents): Subscription {
    const subscription = new ChannelSubscription(events, () => this.remove(channel, subscription));
    let set = this.byChannel.get(channel);
    if (!set) this.byChannel.set(channel, (set = new Set()));
    set.add(subscription);
    if (this.closed) return subscription;
    const connection = this.connect();
    // Not ready yet: the `ready` handler subscribes every channel, this one included.
    if (connection.status === 'ready') this.confirm(connection, [channel]);
    return subscription;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.markLost();
    if (!this.connection) return;
    try {
      await this.connection.quit();
    } catch {
      this.connection.disconnect();
    }
  }

  private connect(): Redis {
    if (this.connection) return this.connection;
    const connection = new Redis(this.url, {
      connectTimeout: CONNECT_TIMEOUT_MS,
      disconnectTimeout: 200,
      retryStrategy: retryDelayMs,
      autoResubscribe: false,
      connectionName: this.name,
      // SUBSCRIBE is sent only when ready (see `add` and `ready`), so nothing needs queueing.
      enableOfflineQueue: false,
    });
    connection.on('error', () => {});
    connection.on('ready', () => this.confirm(connection, [...this.byChannel.keys()]));
    connection.on('close', () => this.markLost());
    connection.on('message', (channel: string, message: string) => {
      for (const subscription of this.byChannel.get(channel) ?? []) if (subscription.live) subscription.deliver(message);
    });
    this.connection = connection;
    return connection;
  }

  /** SUBSCRIBE, then `live` for the channels' subscriptions, unless the connection dropped meanwhile. */
  private confirm(connection: Redis, channels: string[]): void {
    if (channels.length === 0) return;
    const epoch = this.epoch;
    connection.subscribe(...channels).then(
      () => {
        if (epoch !== this.epoch || this.closed) return;
        for (const channel of channels) for (const subscription of this.byChannel.get(channel) ?? []) subscription.confirm();
      },
      // The connection failed under it: `close` follows, and the next `ready` subscribes again.
      () => undefined,
    );
  }

  private markLost(): void {
    this.epoch++;
    for (const set of this.byChannel.values()) for (const subscription of set) subscription.lose();
  }

  private remove(channel: string, subscription: ChannelSubscription): void {
    const set = this.byChannel.get(channel);
    if (!set?.delete(subscription) || set.size > 0) return;
    this.byChannel.delete(channel);
    if (this.connection?.status === 'ready') this.connection.unsubscribe(channel).catch(() => undefined);
  }
}

/** Redis rejects these too, but with a message that names neither the option nor the value. */
function checkMs(name: string, ms: number): void {
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new RangeError(`${name} must be a positive integer, got ${ms}`);
}

/**
 * Redis spells the infinities '-inf' and '+inf' (String gives 'Infinity'), and answers NaN with an error that names
 * neither the argument nor the value.
 */
function toRedisScore(name: string, score: number): string {
  if (Number.isNaN(score)) throw new RangeError(`${name} must be a number, got NaN`);
  if (score === Infinity) return '+inf';
  if (score === -Infinity) return '-inf';
  return String(score);
}

/** Redis answers infinite scores as 'inf' and '-inf', which Number reads as NaN. */
function fromRedisScore(reply: string): number {
  if (reply === 'inf' || reply === '+inf') return Infinity;
  if (reply === '-inf') return -Infinity;
  return Number(reply);
}

/** Redis reads a negative LIMIT count as "no limit"; the port has `undefined` for that and rejects the rest. */
function checkLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`limit must be a non-negative integer, got ${limit}`);
}
