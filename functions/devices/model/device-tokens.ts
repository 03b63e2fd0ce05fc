/**
 * Device tokens, derived rather than stored: `dt_` + HMAC-SHA256(DEVICE_TOKEN_SECRET, "{deviceId}.{generation}").
 *
 * The database keeps only the token's SHA-256 (what HTTP and the embedded broker look tokens up by) and its
 * generation, bumped by every rotation. Deriving lets the platform hand the production broker (Mosquitto's
 * dynamic security, which hashes passwords itself and takes them only in clear) a device's credentials at any
 * time — when the device is made, when its token rotates, or when a fresh broker must be filled again — while
 * a copy of the database alone still reveals no token. The secret is required in production; development
 * keeps a generated one in DATA_DIR beside the signing key; tests keep one per process in memory.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, type Config } from '../../../shared/config.ts';

const secrets = new Map<string, string>();

/** The derivation key: DEVICE_TOKEN_SECRET, or in development a key generated once into DATA_DIR. */
export function deviceTokenSecret(config: Pick<Config, 'NODE_ENV' | 'DATA_DIR' | 'DEVICE_TOKEN_SECRET'>): string {
  if (config.DEVICE_TOKEN_SECRET) return config.DEVICE_TOKEN_SECRET;
  if (config.NODE_ENV === 'production') throw new ConfigError('DEVICE_TOKEN_SECRET: required in production (at least 32 random characters, e.g. `openssl rand -base64 48`)');
  const place = config.NODE_ENV === 'test' ? 'memory' : join(config.DATA_DIR, 'device-token-secret');
  let secret = secrets.get(place);
  if (secret) return secret;
  if (place === 'memory') secret = randomBytes(32).toString('base64url');
  else if (existsSync(place)) secret = readFileSync(place, 'utf8').trim();
  else {
    secret = randomBytes(32).toString('base64url');
    mkdirSync(config.DATA_DIR, { recursive: true });
    writeFileSync(place, secret + '\n', { mode: 0o600, flag: 'wx' });
  }
  secrets.set(place, secret);
  return secret;
}

export function deriveDeviceToken(secret: string, deviceId: string, generation: number): string {
  return `dt_${createHmac('sha256', secret).update(`${deviceId}.${generation}`).digest('base64url')}`;
}

/** The random tokens are 256 bits, so a fast hash is as good as a slow one for lookups. */
export function hashDeviceToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/** A device's token of a generation, with the hash the database keeps. */
export function deviceToken(config: Parameters<typeof deviceTokenSecret>[0], deviceId: string, generation: number): { token: string; hash: string } {
  const token = deriveDeviceToken(deviceTokenSecret(config), deviceId, generation);
  return { token, hash: hashDeviceToken(token) };
}
