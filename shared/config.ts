/**
 * The platform's configuration: one zod schema over the environment, read once at start.
 *
 * A bad value stops start-up with one line naming the variable and what is wrong, e.g.
 *   ConfigError: PORT: expected a number between 1 and 65535, got "http"
 * With no DATABASE_URL / REDIS_URL / AMQP_URL / MQTT_URL the embedded adapters run in-process.
 * In production (NODE_ENV=production) no secret has a default: the signing key must be given.
 */
import { z } from 'zod';
import type { Domain } from './function.ts';
import type { Retention } from './ports/telemetry-store.ts';

const seconds = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const optionalUrl = (protocols: string[]) =>
  z
    .string()
    .trim()
    .transform((v) => (v === '' ? undefined : v))
    .optional()
    .refine((v) => v === undefined || protocols.some((p) => v.startsWith(`${p}://`)), {
      message: `expected a URL starting with ${protocols.map((p) => `${p}://`).join(' or ')}`,
    });
const flag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', ''])
  .default('')
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

export const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /**
   * The address the public port binds. Loopback by default, so `npm start` (with its published demo password)
   * is reachable from this machine only; the image and the rendered deployments set 0.0.0.0.
   */
  HOST: z.string().min(1).default('127.0.0.1'),
  /**
   * Port of the internal endpoints, apart from the public PORT: `/metrics` and the detailed `/readyz` (each
   * dependency's error text) are for Prometheus and operators only (0: any free port). Not 9090: Prometheus
   * itself and Knative's queue-proxy sidecar hold it.
   */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Where the embedded adapters keep their data (PGlite files, development keys). */
  DATA_DIR: z.string().default('.data'),

  DATABASE_URL: optionalUrl(['postgres', 'postgresql']),
  REDIS_URL: optionalUrl(['redis', 'rediss']),
  AMQP_URL: optionalUrl(['amqp', 'amqps']),
  MONGO_URL: optionalUrl(['mongodb', 'mongodb+srv']),
  MQTT_URL: optionalUrl(['mqtt', 'mqtts', 'ws', 'wss']),
  /**
   * The MQTT endpoint devices are told to connect to (GET /info), e.g. mqtt://iot.example.com:1883: the
   * production broker as devices reach it. Unset: `npm start` names its embedded broker, a cluster none.
   */
  MQTT_PUBLIC_URL: optionalUrl(['mqtt', 'mqtts', 'ws', 'wss']),
  /** Port of the embedded MQTT broker that `npm start` runs when MQTT_URL is unset (0: any free port). */
  MQTT_LISTEN_PORT: z.coerce.number().int().min(0).max(65535).default(1883),
  /**
   * Connections one MQTT bridge process opens to the broker, all in one shared subscription group.
   * mqtt.js handles a connection's QoS 1 messages one at a time, so concurrency comes from connections, and
   * a telemetry batch holds at most one message of each (measured: 128 stored ~1.5x what 32 did).
   */
  MQTT_BRIDGE_CONNECTIONS: z.coerce.number().int().min(1).max(256).default(128),
  /** The shared subscription group of the bridges: every bridge in one group splits the messages. */
  MQTT_BRIDGE_GROUP: z.string().regex(/^[\w-]+$/).default('iotfn-bridge'),
  /** Prefix of every Redis key, so several deployments (or test runs) can share one Redis. */
  REDIS_KEY_PREFIX: z.string().default(''),

  /** PEM of the ES256 (P-256) private key that signs access tokens. Required in production. */
  JWT_PRIVATE_KEY: z.string().optional(),
  /** Extra public keys (PEM, separated by blank lines) still accepted while keys rotate. */
  JWT_PREVIOUS_PUBLIC_KEYS: z.string().optional(),
  /** Where functions outside signing fetch the verification keys; unset: use the local signing key. */
  JWKS_URL: optionalUrl(['http', 'https']),
  JWT_ISSUER: z.string().min(1).default('iotfn'),
  JWT_AUDIENCE: z.string().min(1).default('iotfn'),
  ACCESS_TOKEN_TTL_SECONDS: seconds(15 * 60),
  REFRESH_TOKEN_TTL_SECONDS: seconds(7 * 24 * 3600),

  BODY_LIMIT_BYTES: z.coerce.number().int().positive().default(1024 * 1024),
  /** Most telemetry entries (`{ts, values}`) one request or MQTT message may carry. */
  TELEMETRY_MAX_POINTS: z.coerce.number().int().positive().default(5000),
  /** Telemetry points older than this disappear by themselves. */
  TELEMETRY_RETENTION_DAYS: z.coerce.number().int().positive().default(30),
  /**
   * The per-minute and per-hour rollups of telemetry (count, sum, min, max per key) are kept this long, so charts
   * of a year still draw after the points are gone. The default is a year and a month, for year-on-year charts;
   * a value below TELEMETRY_RETENTION_DAYS counts as that.
   */
  TELEMETRY_ROLLUP_RETENTION_DAYS: z.coerce.number().int().positive().default(400),
  /**
   * How far ahead of its arrival a telemetry point may be dated (device clocks drift); a point further ahead is
   * refused (400, or a malformed MQTT message), since it would become the latest value and hide the present.
   */
  TELEMETRY_MAX_FUTURE_SKEW_SECONDS: z.coerce.number().int().min(0).max(86_400).default(300),
  /** The relay sends a device's updates at most once per window, merged to the latest value per key. */
  RELAY_COALESCE_MS: z.coerce.number().int().min(0).max(60_000).default(100),
  /** Sockets one user may hold open on one relay process at once; the next is refused at the handshake. */
  RELAY_MAX_SOCKETS_PER_USER: z.coerce.number().int().positive().max(10_000).default(16),
  /** Devices one socket may watch at once; subscribing past it refuses the extra ids. */
  RELAY_MAX_SUBSCRIPTIONS_PER_SOCKET: z.coerce.number().int().positive().max(100_000).default(1000),
  /**
   * The weather service forecasts may use (open-meteo's API) and how long to wait for it. Validated here at
   * start; the forecast reads them per call so a running test platform can be pointed at a local server.
   */
  OPEN_METEO_URL: optionalUrl(['http', 'https']),
  OPEN_METEO_TIMEOUT_MS: z.coerce.number().int().min(1).max(60_000).default(2000),
  /** A device is online while its last message is at most this old. */
  DEVICE_ONLINE_SECONDS: seconds(120),
  /**
   * The key device tokens are derived from (HMAC of the device id and its token generation): the platform can
   * then give the production MQTT broker each device's credentials without ever storing a token. At least 32
   * characters; required in production; development keeps a generated one in DATA_DIR.
   */
  DEVICE_TOKEN_SECRET: z
    .string()
    .trim()
    .transform((v) => (v === '' ? undefined : v))
    .optional()
    .refine((v) => v === undefined || v.length >= 32, { message: 'expected at least 32 characters' }),
  /** How long a device token lookup is cached (changes invalidate it at once). */
  DEVICE_CACHE_SECONDS: seconds(300),
  LOGIN_MAX_PER_ACCOUNT: z.coerce.number().int().positive().default(10),
  LOGIN_MAX_PER_ADDRESS: z.coerce.number().int().positive().default(50),
  LOGIN_WINDOW_SECONDS: seconds(15 * 60),
  /** Registrations one client address may attempt per window: each one costs a password hash and an account. */
  REGISTER_MAX_PER_ADDRESS: z.coerce.number().int().positive().default(20),
  REGISTER_WINDOW_SECONDS: seconds(3600),
  /** Refresh-token exchanges one client address may attempt per window. */
  REFRESH_MAX_PER_ADDRESS: z.coerce.number().int().positive().default(60),
  REFRESH_WINDOW_SECONDS: seconds(60),
  /**
   * Password hashes (argon2, ~19 MiB and tens of ms of CPU each) one process runs at once; 0: one per CPU. The
   * default stays 0 rather than a count, so rendered deploy files do not depend on the machine that rendered them.
   */
  ARGON2_CONCURRENCY: z.coerce.number().int().min(0).max(256).default(0),
  /** Password hashes that may wait for a free slot; the next request answers 429 with Retry-After at once. */
  ARGON2_QUEUE: z.coerce.number().int().min(0).max(10_000).default(32),
  /** Trust X-Forwarded-For for the client address (set behind NGINX or a Knative ingress). */
  TRUST_PROXY: flag,
});

export type Config = z.output<typeof configSchema>;

/** How long the telemetry store keeps points and rollups: rollups never go before the points they sum up. */
export function telemetryRetention(config: Pick<Config, 'TELEMETRY_RETENTION_DAYS' | 'TELEMETRY_ROLLUP_RETENTION_DAYS'>): Retention {
  const retentionDays = config.TELEMETRY_RETENTION_DAYS;
  return { retentionDays, rollupRetentionDays: Math.max(retentionDays, config.TELEMETRY_ROLLUP_RETENTION_DAYS) };
}

/**
 * The variables that carry a credential (the URLs embed their service's password), and who may read each: every
 * process of the platform (`all`), or only the functions of some domains and the processes that run one. A
 * long-lived process names what it needs beyond that beside itself (functions/processes.ts `credentials`). Deploy
 * files keep these out of anything shared (a ConfigMap, a plain environment) and give each only to its readers.
 */
export const credentials = {
  /** Signs access tokens; every other process verifies with the jwks function's public keys. */
  JWT_PRIVATE_KEY: { readers: ['signing'] },
  /** Device tokens are derived from it: the devices functions issue them (the bridge names it too). */
  DEVICE_TOKEN_SECRET: { readers: ['devices'] },
  DATABASE_URL: { readers: 'all' },
  REDIS_URL: { readers: 'all' },
  AMQP_URL: { readers: 'all' },
  MONGO_URL: { readers: 'all' },
  /** The broker's admin account reads every device's messages: no function, only the processes that name it. */
  MQTT_URL: { readers: [] },
} as const satisfies Partial<Record<keyof typeof configSchema.shape, { readers: 'all' | readonly Domain[] }>>;

export type Credential = keyof typeof credentials;

/** Whether a function of one of these domains (or a process running such functions) is given a credential. */
export function readsCredential(name: Credential, domains: readonly Domain[]): boolean {
  const { readers } = credentials[name];
  return readers === 'all' || (readers as readonly Domain[]).some((domain) => domains.includes(domain));
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses the environment; throws one ConfigError whose message names every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const result = configSchema.safeParse(env);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const name = String(issue.path[0] ?? '?');
    const got = env[name];
    return `${name}: ${inPlainWords(issue)}${got === undefined ? '' : `, got ${JSON.stringify(got)}`}`;
  });
  throw new ConfigError(lines.join('; '));
}

/**
 * What the validator found, as a person would say it: `PORT=abc` is "expected a number", not zod's
 * "expected number, received NaN" (a NaN the user never typed).
 */
function inPlainWords(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return issue.expected === 'int' ? 'expected a whole number' : issue.expected === 'number' ? 'expected a number' : `expected a ${issue.expected}`;
    case 'too_small':
      return issue.origin === 'number' ? `expected a number ${issue.inclusive ? 'of at least' : 'above'} ${String(issue.minimum)}` : issue.message;
    case 'too_big':
      return issue.origin === 'number' ? `expected a number ${issue.inclusive ? 'of at most' : 'below'} ${String(issue.maximum)}` : issue.message;
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => String(v)).join(', ')}`;
    default:
      return issue.message;
  }
}

/** A configuration for tests and tools: defaults plus the given overrides, without reading process.env. */
export function configWith(overrides: Record<string, string | undefined> = {}): Config {
  return loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', ...overrides });
}
