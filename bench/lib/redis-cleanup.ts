/**
 * Removes this bench run's Redis keys (sessions, device-token cache, presence sets) once the run is over: every
 * run has its own key prefix (platform-env.ts), and the presence sets never expire, so without this each run
 * would leave them in the shared Redis for good.
 */
import { Redis } from 'ioredis';
import { REDIS_KEY_PREFIX, REDIS_URL } from './platform-env.ts';
import { progress } from './report.ts';

export async function deleteRunKeys(timeoutMs = 10_000): Promise<void> {
  // Bounded like the platform's own client: a Redis that is gone fails this in seconds instead of retrying forever.
  const redis = new Redis(REDIS_URL, { connectTimeout: 2_000, commandTimeout: 2_000, maxRetriesPerRequest: 1, retryStrategy: () => null, lazyConnect: true });
  redis.on('error', () => {});
  const deadline = Date.now() + timeoutMs;
  let deleted = 0;
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${REDIS_KEY_PREFIX}*`, 'COUNT', 1000);
      cursor = nextCursor;
      if (keys.length > 0) deleted += await redis.unlink(...keys);
    } while (cursor !== '0' && Date.now() < deadline);
    progress(`deleted ${deleted} Redis keys of this run (${REDIS_KEY_PREFIX}*)`);
  } catch (error) {
    progress(`could not delete this run's Redis keys (${REDIS_KEY_PREFIX}*): ${(error as Error).message}`);
  } finally {
    redis.disconnect();
  }
}
