/**
 * The platform a function runs on: configuration, logger and the adapter behind each port.
 *
 * With DATABASE_URL / REDIS_URL set, the production adapters (pg, ioredis) talk to real servers; without,
 * the embedded ones run in-process (PGlite, an in-memory cache), so one `npm start` needs nothing installed.
 * Functions receive this as `deps` and never know which adapter they run on.
 *
 * Each adapter is imported when the configuration selects it, so a function process configured for
 * PostgreSQL, Redis and RabbitMQ never loads PGlite, the in-memory stores or the MongoDB driver (and a bundle
 * keeps them in chunks of their own). Start-up does only what a first request needs: the broker is connected on
 * first use (shared/bus/connect-on-first-use.ts), so are PostgreSQL and Redis in a function process
 * (shared/on-first-use.ts), the long-lived processes open both together at start, and migrations cost one read
 * when the schema is current (shared/db/migrate.ts).
 */
import { join } from 'node:path';
import { connectionFailures } from './connection-failures.ts';
import { ConfigError, telemetryRetention, type Config } from './config.ts';
import { createLogger, type Logger } from './log.ts';
import type { Relational } from './ports/relational.ts';
import type { Cache } from './ports/cache.ts';
import type { Bus } from './ports/bus.ts';
import type { TelemetryStore } from './ports/telemetry-store.ts';
import type { DeviceDirectory } from './ports/device-directory.ts';
import { declareTopology } from './bus/topology.ts';
import { connectOnFirstUse } from './bus/connect-on-first-use.ts';
import { cacheOnFirstUse, preparedOrClosed, relationalOnFirstUse } from './on-first-use.ts';
import { startOutboxRelay, type OutboxRelay } from './outbox.ts';
import { migrate } from './db/migrate.ts';
import { lockDataDir } from './data-dir-lock.ts';
import { loadSigningKey, previousPublicKeys, type SigningKey } from './auth/keys.ts';
import { createTokenVerifier, localKeySource, remoteJwksSource, type TokenSettings, type TokenVerifier } from './auth/tokens.ts';
import { toPublicJwk } from './auth/keys.ts';

export interface Signing {
  key: SigningKey;
  settings: TokenSettings;
  /** Every public key that verifies a token still in circulation: the current one first. */
  publicKeys: SigningKey['publicKey'][];
}

export interface Deps {
  config: Config;
  log: Logger;
  db: Relational;
  cache: Cache;
  bus: Bus;
  /** Device time series: MongoDB when MONGO_URL is set, else the relational store's telemetry table. */
  telemetry: TelemetryStore;
  /** What other domains may ask the devices domain about devices (who may see one, its owner, its place). */
  directory: DeviceDirectory;
  /** Publishes the outbox of this process's database; nudge it after committing events. */
  outbox: OutboxRelay;
  verifier: TokenVerifier;
  /** The signing key; undefined in a process that only verifies (JWKS_URL set, no private key). */
  signing?: Signing;
  /** One line per port naming its adapter, for the start-up banner. */
  adapters: Record<string, string>;
  /** What GET /info tells clients about this process's own endpoints: the embedded broker, once started. */
  advertised: { mqtt?: { url: string; broker: 'embedded' | 'mosquitto' } };
  /**
   * Reaches every configured server now (the schema check, a Redis PING), rejecting with the one line that names
   * the variable. Already done at start unless the platform connects on first use.
   */
  checkConnections(): Promise<void>;
  close(): Promise<void>;
}

export interface PlatformOptions {
  /** Overrides for tests: inject an adapter instead of building it from the configuration. */
  db?: Relational;
  cache?: Cache;
  bus?: Bus;
  telemetry?: TelemetryStore;
  log?: Logger;
  /**
   * Builds the devices directory on this platform's adapters. Its adapter belongs to the devices domain, which
   * nothing in shared/ imports: functions/platform.ts passes it, and every entry point builds its platform there.
   */
  directory: (ports: Pick<Deps, 'db' | 'cache' | 'config'>) => DeviceDirectory;
  /** Run the outbox relay loop in this process (default true). */
  relay?: boolean;
  /** Apply migrations at start (default true); with `connect: 'on-first-use'`, when the database is first used. */
  migrate?: boolean;
  /**
   * When PostgreSQL and Redis are connected: at start (the default: the long-lived processes, and the embedded
   * stores always), or when first used (function processes, functions/host.ts: a cold start's first request waits
   * only for what it touches; the host calls checkConnections once it has answered).
   */
  connect?: 'at-start' | 'on-first-use';
}

export async function createPlatform(config: Config, options: PlatformOptions): Promise<Deps> {
  const log = options.log ?? createLogger(config);
  const onFirstUse = options.connect === 'on-first-use';
  const connectDbOnFirstUse = onFirstUse && !options.db && Boolean(config.DATABASE_URL);
  const connectCacheOnFirstUse = onFirstUse && !options.cache && Boolean(config.REDIS_URL);
  // A request that touches one store nearly always touches the other (`me` reads the session in Redis, then the
  // user in PostgreSQL): the first use of either opens both side by side, so their connections overlap instead of
  // queueing. Kicked on the next microtask, when the first store's connection is already under way.
  let bothOpened = false;
  const openBoth = () => {
    if (bothOpened) return;
    bothOpened = true;
    queueMicrotask(() => {
      for (const store of [db, cache]) store.ping().catch(() => undefined);
    });
  };
  const [db, cache] = await Promise.all([
    options.db ??
      (connectDbOnFirstUse
        ? relationalOnFirstUse('postgres', () => {
            openBoth();
            return migratedRelational(config, options);
          })
        : relationalFor(config)),
    options.cache ??
      (connectCacheOnFirstUse
        ? cacheOnFirstUse('redis', () => {
            openBoth();
            return cacheFor(config);
          })
        : cacheFor(config)),
  ]);
  // Both servers asked side by side: a wrong DATABASE_URL or REDIS_URL is one line naming it, not a 503 on every
  // request later. A store opened on first use is asked by checkConnections (its ping connects and, for the
  // database, checks the schema); the others here, at start.
  const checkDb = async () => {
    const checked = connectDbOnFirstUse ? db.ping() : options.migrate !== false ? migrate(db) : undefined;
    await checked?.catch((error: unknown) => Promise.reject(unreachable('DATABASE_URL', config.DATABASE_URL, error)));
  };
  const checkCache = () => cache.ping().catch((error: unknown) => Promise.reject(unreachable('REDIS_URL', config.REDIS_URL, error)));
  const checkConnections = async () => {
    await Promise.all([connectDbOnFirstUse ? checkDb() : undefined, connectCacheOnFirstUse ? checkCache() : undefined]);
  };
  let maybeBus: Bus | undefined = options.bus;
  let maybeTelemetry: TelemetryStore | undefined = options.telemetry;
  try {
    if (maybeBus) await declareTopology(maybeBus);
    else maybeBus = await busFor(config, log);
    await Promise.all([connectDbOnFirstUse ? undefined : checkDb(), connectCacheOnFirstUse ? undefined : checkCache()]);
    maybeTelemetry ??= await telemetryFor(config, db);
    await maybeTelemetry.prepare(telemetryRetention(config));
  } catch (error) {
    await Promise.allSettled([db.close(), cache.close(), maybeBus?.close(), maybeTelemetry?.close()]);
    throw error;
  }
  const bus: Bus = maybeBus;
  const telemetry: TelemetryStore = maybeTelemetry;
  const outbox = options.relay === false ? idleRelay() : startOutboxRelay(db, bus, log);

  const settings: TokenSettings = {
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    accessTtlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
  };
  let signing: Signing | undefined;
  let keyNote = 'verifies with JWKS from ' + config.JWKS_URL;
  if (config.JWT_PRIVATE_KEY || !config.JWKS_URL) {
    const loaded = loadSigningKey(config);
    signing = { key: loaded.key, settings, publicKeys: [loaded.key.publicKey, ...previousPublicKeys(config)] };
    keyNote = loaded.generatedAt
      ? `ES256 development key ${loaded.key.kid} ${loaded.reused ? 'reused from' : 'generated into'} ${loaded.generatedAt}; set JWT_PRIVATE_KEY in production`
      : `ES256 key ${loaded.key.kid} from JWT_PRIVATE_KEY`;
  }
  const source = config.JWKS_URL
    ? remoteJwksSource(config.JWKS_URL)
    : localKeySource((signing?.publicKeys ?? []).map((publicKey) => ({ kid: toPublicJwk(publicKey).kid, publicKey })));

  return {
    config,
    log,
    db,
    cache,
    bus,
    telemetry,
    directory: options.directory({ db, cache, config }),
    outbox,
    signing,
    verifier: createTokenVerifier(source, settings),
    checkConnections,
    advertised: {},
    adapters: {
      relational: db.kind === 'postgres' ? 'PostgreSQL (DATABASE_URL)' : `PGlite, embedded (${embeddedPgDir(config) ?? 'in memory'})`,
      cache: cache.kind === 'redis' ? 'Redis (REDIS_URL)' : 'in-process memory, embedded',
      bus: bus.kind === 'rabbitmq' ? 'RabbitMQ (AMQP_URL)' : 'in-process bus, embedded',
      telemetry: telemetry.kind === 'mongodb' ? 'MongoDB (MONGO_URL)' : `PostgreSQL table on the relational store (${db.kind})`,
      tokens: keyNote,
    },
    async close() {
      await outbox.stop();
      await Promise.allSettled([bus.close(), telemetry.close()]);
      await Promise.allSettled([db.close(), cache.close()]);
    },
  };
}

async function relationalFor(config: Config): Promise<Relational> {
  if (config.DATABASE_URL) return (await import('./adapters/relational/postgres.ts')).createPostgres(config.DATABASE_URL);
  const { createPglite } = await import('./adapters/relational/pglite.ts');
  const dir = embeddedPgDir(config);
  if (!dir) return createPglite();
  // One process per embedded database: a second one would work on a copy that silently diverges.
  const lock = lockDataDir(config.DATA_DIR);
  try {
    const db = await createPglite(dir);
    return {
      ...db,
      async close() {
        await db.close();
        lock.release();
      },
    };
  } catch (error) {
    lock.release();
    throw error;
  }
}

/** PostgreSQL opened, with the schema brought up to date (one read when it is current: shared/db/migrate.ts). */
async function migratedRelational(config: Config, options: PlatformOptions): Promise<Relational> {
  const db = await relationalFor(config);
  return options.migrate === false ? db : preparedOrClosed(db, migrate);
}

async function cacheFor(config: Config): Promise<Cache> {
  if (config.REDIS_URL) return (await import('./adapters/cache/redis.ts')).createRedisCache(config.REDIS_URL, { keyPrefix: config.REDIS_KEY_PREFIX });
  return (await import('./adapters/cache/memory.ts')).createMemoryCache();
}

/** RabbitMQ is connected on first use; the in-process bus costs nothing, so it is ready at once. */
async function busFor(config: Config, log: Logger): Promise<Bus> {
  const url = config.AMQP_URL;
  if (url) {
    return connectOnFirstUse('rabbitmq', async () =>
      (await import('./adapters/bus/rabbitmq.ts')).createRabbitBus(url, { name: 'iotfn', log: (msg: string, err?: unknown) => log.warn({ err }, msg) }),
    );
  }
  const bus = (await import('./adapters/bus/memory.ts')).createMemoryBus();
  await declareTopology(bus);
  return bus;
}

async function telemetryFor(config: Config, db: Relational): Promise<TelemetryStore> {
  if (config.MONGO_URL) return (await import('./adapters/telemetry/mongo.ts')).createMongoTelemetryStore(config.MONGO_URL);
  return (await import('./adapters/telemetry/postgres.ts')).createPostgresTelemetryStore(db);
}

/**
 * A server that cannot be reached at start is one line naming the variable that points at it, where it points
 * (without the password) and what Node said, instead of a bare ECONNREFUSED. Other errors pass as they are.
 */
function unreachable(variable: string, url: string | undefined, error: unknown): unknown {
  const code = (error as NodeJS.ErrnoException)?.code;
  const reasons: Record<string, string> = {
    ...connectionFailures,
    // PostgreSQL's own refusals, by SQLSTATE.
    '28P01': 'the password was refused',
    '28000': 'the user may not connect',
    '3D000': 'the database does not exist',
  };
  if (!url || !code || !(code in reasons)) return error;
  let where = url;
  try {
    const parsed = new URL(url);
    parsed.password = parsed.password ? '***' : '';
    where = parsed.toString();
  } catch {
    // keep the URL as given; the config schema already checked its scheme
  }
  return new ConfigError(`${variable}: cannot use ${where}: ${reasons[code]} (${code})`, { cause: error });
}

/** PGlite keeps its files under DATA_DIR in development; tests run it in memory. */
function embeddedPgDir(config: Config): string | undefined {
  return config.NODE_ENV === 'test' ? undefined : join(config.DATA_DIR, 'pglite');
}

function idleRelay(): OutboxRelay {
  return { nudge() {}, async drain() {}, async stop() {} };
}
