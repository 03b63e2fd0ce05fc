/**
 * The environment every platform process of one bench run shares: the real PostgreSQL, Redis and RabbitMQ on
 * loopback, production mode, one freshly generated ES256 key (so a token signed by the gateway verifies in a
 * functions-framework process too), and one Redis key prefix for the run, so two benches (or a bench and the
 * tests) sharing a Redis never see each other's sessions, device-token cache or presence sets.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';

export const DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = 'redis://127.0.0.1:6379';
export const AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';

/** Names this run's queues, MQTT bridge group and Redis prefix, so nothing collides with a parallel run. */
export const runId = randomBytes(4).toString('hex');
export const REDIS_KEY_PREFIX = `bench-${runId}:`;

export function platformEnv(): Record<string, string> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    DATABASE_URL,
    REDIS_URL,
    REDIS_KEY_PREFIX,
    AMQP_URL,
    // Mosquitto already holds 1883: a gateway's embedded broker takes any free port instead, and only the
    // bridge child (which sets MQTT_URL itself) talks to Mosquitto. Empty reads as unset, and overrides an
    // MQTT_URL the bench's own shell may carry.
    MQTT_LISTEN_PORT: '0',
    MQTT_URL: '',
    // A gateway, a bridge and a relay run side by side here: each takes a free port for its internal endpoints
    // (/metrics), unless a bench that reads them gives one.
    METRICS_PORT: '0',
    JWT_PRIVATE_KEY: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    // Shared by the gateway and the bridge: the bridge gives the broker the tokens the gateway hands out.
    DEVICE_TOKEN_SECRET: randomBytes(32).toString('base64url'),
    // Only failed logins count against these; set high so a miscount never turns the login figure into 429s.
    LOGIN_MAX_PER_ACCOUNT: '1000000',
    LOGIN_MAX_PER_ADDRESS: '1000000',
  };
}
