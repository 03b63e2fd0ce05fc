/**
 * Access tokens: short-lived ES256 JWTs with `kid`, issuer and audience, and how every function verifies them.
 *
 * Verification pins the algorithm (no `none`, no HS256 key confusion), requires a known `kid`, and checks
 * `exp`, issuer and audience. Keys come from a KeySource: the local signing key (inside signing, or in the
 * one-process gateway) or the JWKS that signing publishes over HTTP (every other domain in a cluster).
 *
 * A client sends the same token on every request until it expires, so the verifier remembers the claims of the
 * tokens it verified (VERIFIED_TOKENS_KEPT of them, least recently used dropped first) and answers a repeat without
 * the ES256 check. A remembered token is refused the moment its `exp` passes, as jsonwebtoken would; failures are
 * never remembered. Revocation is not the verifier's business: the session check after it (require-user.ts) is.
 */
import jwt from 'jsonwebtoken';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { Problem } from '../problem.ts';
import type { Jwks, SigningKey } from './keys.ts';
import { authCacheLookups } from '../metrics.ts';
import { RecentlyUsed } from '../recently-used.ts';

export const accessClaimsSchema = z.object({
  sub: z.string().min(1),
  sid: z.string().min(1),
  role: z.enum(['user', 'admin']),
  iat: z.number(),
  exp: z.number(),
});
export type AccessClaims = z.output<typeof accessClaimsSchema>;

export interface TokenSettings {
  issuer: string;
  audience: string;
  accessTtlSeconds: number;
}

export function signAccessToken(key: SigningKey, settings: TokenSettings, claims: { sub: string; sid: string; role: 'user' | 'admin' }): string {
  return jwt.sign({ sid: claims.sid, role: claims.role }, key.privateKey, {
    algorithm: 'ES256',
    keyid: key.kid,
    subject: claims.sub,
    issuer: settings.issuer,
    audience: settings.audience,
    expiresIn: settings.accessTtlSeconds,
  });
}

/** Finds the public key for a `kid`; undefined when no such key is known even after a refresh. */
export interface KeySource {
  keyFor(kid: string): Promise<KeyObject | undefined>;
}

export function localKeySource(keys: Array<{ kid: string; publicKey: KeyObject }>): KeySource {
  const byKid = new Map(keys.map((k) => [k.kid, k.publicKey]));
  return { keyFor: async (kid) => byKid.get(kid) };
}

/**
 * Keys fetched from signing's JWKS over HTTP, cached; an unknown `kid` triggers a refetch (signing rotated
 * its key), at most once per `minRefetchMs` so a flood of forged kids cannot hammer signing.
 */
export function remoteJwksSource(url: string, options: { timeoutMs?: number; minRefetchMs?: number; fetch?: typeof fetch } = {}): KeySource {
  const timeoutMs = options.timeoutMs ?? 3000;
  const minRefetchMs = options.minRefetchMs ?? 5000;
  const doFetch = options.fetch ?? fetch;
  let keys = new Map<string, KeyObject>();
  let lastFetch = 0;
  let inFlight: Promise<void> | undefined;

  async function refresh(): Promise<void> {
    lastFetch = Date.now();
    const response = await doFetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) throw new Error(`JWKS ${url} answered ${response.status}`);
    const body = (await response.json()) as Jwks;
    keys = new Map(body.keys.map((jwk) => [jwk.kid, createPublicKey({ key: { ...jwk }, format: 'jwk' })]));
  }

  return {
    async keyFor(kid) {
      const known = keys.get(kid);
      if (known) return known;
      if (Date.now() - lastFetch < minRefetchMs && lastFetch !== 0) return undefined;
      inFlight ??= refresh().finally(() => (inFlight = undefined));
      try {
        await inFlight;
      } catch (error) {
        throw new Problem('unavailable', 'The signing keys could not be fetched', { cause: error });
      }
      return keys.get(kid);
    },
  };
}

export interface TokenVerifier {
  /** Verified claims of an access token; throws Problem('invalid-token') for anything else. */
  verify(token: string): Promise<AccessClaims>;
}

/**
 * How many verified tokens one process remembers: about 5 MB (a token and its claims are under 500 bytes), and more
 * distinct tokens than a process sees within one access-token lifetime at our request rates.
 */
export const VERIFIED_TOKENS_KEPT = 10_000;

/** jsonwebtoken's own rule: a token is expired from the second its `exp` names. */
const hasExpired = (claims: AccessClaims, nowMs: number) => Math.floor(nowMs / 1000) >= claims.exp;

export function createTokenVerifier(
  source: KeySource,
  settings: Pick<TokenSettings, 'issuer' | 'audience'>,
  options: { maxRemembered?: number; now?: () => number } = {},
): TokenVerifier {
  const maxRemembered = options.maxRemembered ?? VERIFIED_TOKENS_KEPT;
  const now = options.now ?? Date.now;
  const verified = new RecentlyUsed<string, AccessClaims>(maxRemembered);
  const hits = authCacheLookups.labels('verified-tokens', 'hit');
  const misses = authCacheLookups.labels('verified-tokens', 'miss');

  return {
    async verify(token) {
      const remembered = verified.get(token);
      if (remembered) {
        if (hasExpired(remembered, now())) {
          verified.delete(token);
          throw new Problem('invalid-token', 'The token has expired');
        }
        hits.inc();
        return remembered;
      }
      misses.inc();
      const claims = await verifyAfresh(token);
      if (!hasExpired(claims, now())) verified.set(token, claims);
      return claims;
    },
  };

  async function verifyAfresh(token: string): Promise<AccessClaims> {
    const decoded = jwt.decode(token, { complete: true });
    if (!decoded || typeof decoded.payload === 'string') throw new Problem('invalid-token', 'The token is not a JWT');
    if (decoded.header.alg !== 'ES256') throw new Problem('invalid-token', 'The token is not signed with ES256');
    const kid = decoded.header.kid;
    if (!kid) throw new Problem('invalid-token', 'The token names no key (kid)');
    const key = await source.keyFor(kid);
    if (!key) throw new Problem('invalid-token', 'The token is signed by an unknown key');
    let payload: unknown;
    try {
      payload = jwt.verify(token, key, { algorithms: ['ES256'], issuer: settings.issuer, audience: settings.audience });
    } catch (error) {
      const expired = error instanceof jwt.TokenExpiredError;
      throw new Problem('invalid-token', expired ? 'The token has expired' : `The token is not valid: ${(error as Error).message}`);
    }
    const claims = accessClaimsSchema.safeParse(payload);
    if (!claims.success) throw new Problem('invalid-token', 'The token lacks the claims of an access token');
    // Frozen: every later request with this token is answered with this same object.
    return Object.freeze(claims.data);
  }
}
