/**
 * Configuration: defaults, and one clear line naming each bad variable.
 */
import { suite } from 'uvu';
import { services } from './support/services.ts';
import * as assert from 'uvu/assert';
import { ConfigError, loadConfig } from '../shared/config.ts';
import { loadSigningKey, toPublicJwk } from '../shared/auth/keys.ts';
import { freshSigningKeyPem } from './support/processes.ts';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { listenOn } from '../shared/http/listen.ts';
import { createFunctionPlatform } from '../functions/platform.ts';

const config = suite('config');

config('defaults run the embedded platform on 8080', () => {
  const c = loadConfig({});
  assert.is(c.PORT, 8080);
  assert.is(c.DATABASE_URL, undefined);
  assert.is(c.ACCESS_TOKEN_TTL_SECONDS, 900);
  assert.is(c.BODY_LIMIT_BYTES, 1048576);
  assert.is(c.ARGON2_CONCURRENCY, 0, 'one per CPU');
  assert.not.ok('ADMIN_EMAILS' in c, 'admins are granted with iotfn admin grant, never by registering');
});

config('an empty URL counts as unset', () => {
  assert.is(loadConfig({ DATABASE_URL: '' }).DATABASE_URL, undefined);
});

config('each bad variable is named with what is wrong and what was given', () => {
  try {
    loadConfig({ PORT: 'http', DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud' });
    assert.unreachable();
  } catch (error) {
    assert.instance(error, ConfigError);
    const message = (error as Error).message;
    assert.not.match(message, /\n/);
    assert.match(message, /PORT: .*got "http"/);
    assert.match(message, /DATABASE_URL: expected a URL starting with postgres:\/\/ or postgresql:\/\/, got "mysql:\/\/x"/);
    assert.match(message, /LOG_LEVEL: /);
  }
});

config('production has no default signing key; development and tests make one', () => {
  assert.throws(() => loadSigningKey({ NODE_ENV: 'production', DATA_DIR: '/nonexistent', JWT_PRIVATE_KEY: undefined }), /JWT_PRIVATE_KEY: required in production/);
  assert.ok(loadSigningKey({ NODE_ENV: 'test', DATA_DIR: '/nonexistent', JWT_PRIVATE_KEY: undefined }).generatedAt);
});

config('a given key is used with its RFC 7638 thumbprint as kid; a wrong key type is refused', () => {
  const pem = freshSigningKeyPem();
  const loaded = loadSigningKey({ NODE_ENV: 'production', DATA_DIR: '', JWT_PRIVATE_KEY: pem });
  assert.is(loaded.generatedAt, undefined);
  assert.is(loaded.key.kid, toPublicJwk(loaded.key.publicKey).kid);
  assert.match(loaded.key.kid, /^[\w-]{43}$/);
  assert.throws(() => loadSigningKey({ NODE_ENV: 'production', DATA_DIR: '', JWT_PRIVATE_KEY: 'not a key' }), /JWT_PRIVATE_KEY: not a PEM private key/);
});

config('numbers are explained in plain words, never as the validator\'s NaN', () => {
  const messageFor = (env: Record<string, string>) => {
    try {
      loadConfig(env);
    } catch (error) {
      return (error as Error).message;
    }
    return 'accepted';
  };
  assert.is(messageFor({ PORT: 'abc' }), 'PORT: expected a number, got "abc"');
  assert.is(messageFor({ PORT: '70000' }), 'PORT: expected a number of at most 65535, got "70000"');
  assert.is(messageFor({ PORT: '1.5' }), 'PORT: expected a whole number, got "1.5"');
  assert.is(messageFor({ LOG_LEVEL: 'loud' }), 'LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"');
});

config('the public port binds loopback unless HOST says otherwise', () => {
  assert.is(loadConfig({}).HOST, '127.0.0.1');
  assert.is(loadConfig({ HOST: '0.0.0.0' }).HOST, '0.0.0.0');
});

config('a taken port or a bad HOST is one line naming the variable', async () => {
  const holder = createServer();
  await listenOn(holder, { port: 0, host: '127.0.0.1' });
  const taken = (holder.address() as AddressInfo).port;
  try {
    const second = createServer();
    const error = await listenOn(second, { port: taken, host: '127.0.0.1' }).then(() => undefined, (e: unknown) => e as Error);
    assert.instance(error, ConfigError);
    assert.match(error!.message, new RegExp(`^PORT: port ${taken} on 127.0.0.1 is taken by another process`));
    const metrics = await listenOn(createServer(), { port: taken, host: '127.0.0.1', portVariable: 'METRICS_PORT' }).then(() => undefined, (e: unknown) => e as Error);
    assert.match(metrics!.message, /^METRICS_PORT: /);
    const badHost = await listenOn(createServer(), { port: 0, host: 'no-such-host.invalid' }).then(() => undefined, (e: unknown) => e as Error);
    assert.instance(badHost, ConfigError);
    assert.match(badHost!.message, /^HOST: no-such-host\.invalid is not an address of this machine/);
  } finally {
    holder.close();
  }
});

config('an unreachable DATABASE_URL stops start-up with one line naming it, without its password', async () => {
  const error = await createFunctionPlatform(loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', DATABASE_URL: 'postgres://iotfn:secret@127.0.0.1:1/test' })).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  assert.instance(error, ConfigError);
  assert.is(error!.message, 'DATABASE_URL: cannot use postgres://iotfn:***@127.0.0.1:1/test: nothing listens there: is the server running? (ECONNREFUSED)');
});

config('an unreachable REDIS_URL stops start-up with one line naming it, without its password', async () => {
  const error = await createFunctionPlatform(
    loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', DATABASE_URL: services.databaseUrl, REDIS_URL: 'redis://:secret@127.0.0.1:1/0' }),
  ).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  assert.instance(error, ConfigError);
  assert.is(error!.message, 'REDIS_URL: cannot use redis://:***@127.0.0.1:1/0: nothing listens there: is the server running? (ECONNREFUSED)');
});

config.run();
