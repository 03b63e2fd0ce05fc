/**
 * Configuration: defaults, and one clear line naming each bad variable.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, loadConfig } from '../shared/config.ts';
import { loadSigningKey, toPublicJwk } from '../shared/auth/keys.ts';
import { freshSigningKeyPem } from './support/processes.ts';

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

config.run();
