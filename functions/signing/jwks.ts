/**
 * GET /auth/jwks.json: the public keys that verify access tokens. Other domains fetch it over HTTP (the
 * seed's synchronous signing ↔ device management link) instead of sharing a secret.
 */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { jwksOf } from '../../shared/auth/keys.ts';

const Jwk = z.object({ kty: z.literal('EC'), crv: z.literal('P-256'), x: z.string(), y: z.string(), kid: z.string(), use: z.literal('sig'), alg: z.literal('ES256') });

export default defineHttpFunction({
  name: 'jwks',
  domain: 'signing',
  method: 'GET',
  path: '/auth/jwks.json',
  auth: 'none',
  summary: 'Public keys (JWKS) that verify access tokens',
  // Every other function fetches these keys at its own cold start: a cold jwks would make each of those wait twice.
  deploy: { minScale: 1, maxScale: 5, concurrency: 100, why: 'every process without the signing key fetches the verification keys from it: warm, so no cold start elsewhere waits for a second one' },
  responses: { 200: z.object({ keys: z.array(Jwk) }) },
  async handler({ deps }) {
    if (!deps.signing) throw new Error('This process has no signing key (set JWT_PRIVATE_KEY)');
    return { status: 200, body: jwksOf(deps.signing.publicKeys), headers: { 'cache-control': 'public, max-age=300' } };
  },
});
