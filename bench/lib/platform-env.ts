/**
 * The environment every platform process of one bench run shares: the real PostgreSQL and Redis on
 * loopback, production mode, and one freshly generated ES256 key, so a token signed by the gateway
 * verifies in a functions-framework process too.
 */
import { generateKeyPairSync } from 'node:crypto';

export const DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = 'redis://127.0.0.1:6379';

export function platformEnv(): Record<string, string> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    DATABASE_URL,
    REDIS_URL,
    JWT_PRIVATE_KEY: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    // Only failed logins count against these; set high so a miscount never turns the login figure into 429s.
    LOGIN_MAX_PER_ACCOUNT: '1000000',
    LOGIN_MAX_PER_ADDRESS: '1000000',
  };
}
