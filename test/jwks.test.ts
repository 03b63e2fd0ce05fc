/**
 * Cross-domain verification: a process without the signing key verifies user tokens with the keys it
 * fetches from signing's JWKS over HTTP, honours revocation, and refetches when it meets an unknown kid.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { call, signedInUser, startPlatform, type TestPlatform } from './support/platform.ts';
import { remoteJwksSource, createTokenVerifier, signAccessToken } from '../shared/auth/tokens.ts';
import { jwksOf, signingKeyFromPem, generateSigningKeyPem } from '../shared/auth/keys.ts';
import { Problem } from '../shared/problem.ts';

const jwks = suite('JWKS across domains');
const ctx: { signing?: TestPlatform; other?: TestPlatform } = {};

jwks.before(async () => {
  ctx.signing = await startPlatform();
  const prefix = ctx.signing.deps.config.REDIS_KEY_PREFIX;
  // The "other domain": no private key, keys from signing's JWKS, the same Redis for revocation.
  ctx.other = await startPlatform({ env: { JWKS_URL: `${ctx.signing.url}/auth/jwks.json`, REDIS_KEY_PREFIX: prefix } });
});

jwks('the JWKS publishes the key that signed the tokens, by kid', async () => {
  const user = await signedInUser(ctx.signing!.url);
  const res = await call(ctx.signing!.url, 'GET', '/auth/jwks.json');
  const kid = JSON.parse(Buffer.from(user.accessToken.split('.')[0]!, 'base64url').toString()).kid;
  assert.ok(res.body.keys.some((k: { kid: string }) => k.kid === kid));
  assert.is(res.body.keys[0].alg, 'ES256');
  assert.is(res.body.keys[0].d, undefined, 'no private part');
});

jwks('a process without the key accepts the token and refuses it after logout', async () => {
  assert.is(ctx.other!.deps.signing, undefined);
  const user = await signedInUser(ctx.signing!.url);
  assert.is((await call(ctx.other!.url, 'GET', '/auth/me', { token: user.accessToken })).status, 200);
  await call(ctx.signing!.url, 'POST', '/auth/logout', { token: user.accessToken });
  assert.is((await call(ctx.other!.url, 'GET', '/auth/me', { token: user.accessToken })).status, 401);
});

jwks('an unknown kid triggers a refetch, so a rotated key is picked up', async () => {
  let served = jwksOf([signingKeyFromPem(generateSigningKeyPem()).publicKey]);
  let fetches = 0;
  const server: Server = createServer((_req, res) => {
    fetches++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(served));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
  const settings = { issuer: 'iotfn', audience: 'iotfn', accessTtlSeconds: 60 };
  const verifier = createTokenVerifier(remoteJwksSource(url, { minRefetchMs: 0 }), settings);
  const rotated = signingKeyFromPem(generateSigningKeyPem());
  const token = signAccessToken(rotated, settings, { sub: 'u', sid: 's', role: 'user' });
  await verifier.verify(token).then(() => assert.unreachable('the key is not published yet'), (e) => assert.instance(e, Problem));
  served = jwksOf([rotated.publicKey]);
  const claims = await verifier.verify(token);
  assert.is(claims.sub, 'u');
  await verifier.verify(token);
  assert.is(fetches, 2, 'a known kid is served from the cache');
  server.close();
});

jwks('an unreachable JWKS answers 503 unavailable, not 500', async () => {
  const verifier = createTokenVerifier(remoteJwksSource('http://127.0.0.1:9/jwks', { timeoutMs: 500 }), { issuer: 'iotfn', audience: 'iotfn' });
  const token = signAccessToken(signingKeyFromPem(generateSigningKeyPem()), { issuer: 'iotfn', audience: 'iotfn', accessTtlSeconds: 60 }, { sub: 'u', sid: 's', role: 'user' });
  try {
    await verifier.verify(token);
    assert.unreachable();
  } catch (error) {
    assert.instance(error, Problem);
    assert.is((error as Problem).status, 503);
  }
});

jwks.after(async () => {
  await ctx.other?.close();
  await ctx.signing?.close();
});
jwks.run();
