/**
 * The ES256 key material that signs access tokens, and the JWKS that publishes its public half.
 *
 * The key id (`kid`) is the key's RFC 7638 thumbprint, so the same key always has the same id in every
 * process. In production the key comes from JWT_PRIVATE_KEY; in development one is generated once
 * and kept in DATA_DIR so tokens survive a restart; in tests it lives in memory only.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, type Config } from '../config.ts';

export interface PublicJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
  kid: string;
  use: 'sig';
  alg: 'ES256';
}

export interface Jwks {
  keys: PublicJwk[];
}

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export function toPublicJwk(publicKey: KeyObject): PublicJwk {
  const jwk = publicKey.export({ format: 'jwk' });
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !jwk.x || !jwk.y) throw new Error('expected a P-256 (ES256) key');
  // RFC 7638: the thumbprint hashes the required members in lexicographic order, without whitespace.
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  const kid = createHash('sha256').update(canonical).digest('base64url');
  return { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, kid, use: 'sig', alg: 'ES256' };
}

export function signingKeyFromPem(pem: string, variable = 'JWT_PRIVATE_KEY'): SigningKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (error) {
    throw new ConfigError(`${variable}: not a PEM private key (${(error as Error).message})`);
  }
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new ConfigError(`${variable}: expected an EC P-256 key for ES256`);
  }
  const publicKey = createPublicKey(privateKey);
  return { kid: toPublicJwk(publicKey).kid, privateKey, publicKey };
}

export function generateSigningKeyPem(): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** Parses JWT_PREVIOUS_PUBLIC_KEYS: PEM blocks, kept so tokens signed before a key rotation still verify. */
export function previousPublicKeys(config: Pick<Config, 'JWT_PREVIOUS_PUBLIC_KEYS'>): KeyObject[] {
  const text = config.JWT_PREVIOUS_PUBLIC_KEYS ?? '';
  const blocks = text.match(/-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g) ?? [];
  return blocks.map((pem) => createPublicKey(pem));
}

export interface LoadedSigningKey {
  key: SigningKey;
  /** Set when the key was made up for development, so start-up can say so. */
  generatedAt?: string;
  /** The development key was made by an earlier start and read back (tokens it signed still verify). */
  reused?: true;
}

/** The signing key for this process, as the configuration says where it comes from. */
export function loadSigningKey(config: Pick<Config, 'JWT_PRIVATE_KEY' | 'NODE_ENV' | 'DATA_DIR'>): LoadedSigningKey {
  if (config.JWT_PRIVATE_KEY) return { key: signingKeyFromPem(config.JWT_PRIVATE_KEY.replace(/\\n/g, '\n')) };
  if (config.NODE_ENV === 'production') {
    throw new ConfigError('JWT_PRIVATE_KEY: required in production (an ES256 P-256 private key in PEM)');
  }
  if (config.NODE_ENV === 'test') return { key: signingKeyFromPem(generateSigningKeyPem()), generatedAt: 'memory' };
  const file = join(config.DATA_DIR, 'dev-jwt-es256.pem');
  const reused = existsSync(file);
  if (!reused) {
    mkdirSync(config.DATA_DIR, { recursive: true });
    writeFileSync(file, generateSigningKeyPem(), { mode: 0o600 });
  }
  return { key: signingKeyFromPem(readFileSync(file, 'utf8'), file), generatedAt: file, ...(reused ? { reused } : {}) };
}

export function jwksOf(keys: KeyObject[]): Jwks {
  return { keys: keys.map(toPublicJwk) };
}
