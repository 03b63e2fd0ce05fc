/**
 * The per-process caches behind a user request (verified tokens, session liveness, the user read) and the pushed
 * invalidations that keep them honest, across two platforms on one Redis and PostgreSQL, as two function processes
 * would be: a logout or a revoked session on one is refused by the other within a second, a role change shows at
 * once, and a dropped subscription sends every check back to Redis.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Redis } from 'ioredis';
import { call, signedInUser, startPlatform, type TestPlatform } from './support/platform.ts';
import { services } from './support/services.ts';
import { until } from './support/wait.ts';
import { killRedisSubscribers } from './cache.contract.ts';
import { generateSigningKeyPem, signingKeyFromPem } from '../shared/auth/keys.ts';
import { createTokenVerifier, localKeySource, signAccessToken, type KeySource } from '../shared/auth/tokens.ts';
import { pushedMemo } from '../shared/auth/pushed-memo.ts';
import { SESSION_MEMO_ENTRIES, SESSION_MEMO_MS, SESSIONS_ENDED_CHANNEL } from '../shared/auth/sessions.ts';
import type { Cache } from '../shared/ports/cache.ts';
import { setUserRole } from '../functions/signing/model/users.ts';
import { authCacheLookups } from '../shared/metrics.ts';
import { deviceMemo } from '../functions/devices/model/device-auth.ts';

/** The promise: every process refuses an ended session's tokens within this. */
const REVOCATION_BOUND_MS = 1_000;

const sessionMemo = (cache: Cache) => pushedMemo(cache, SESSIONS_ENDED_CHANNEL, { name: 'sessions', ttlMs: SESSION_MEMO_MS, maxEntries: SESSION_MEMO_ENTRIES });

/** Polls `GET /auth/me` with `token` until it is refused; answers how long that took after `since`. */
async function refusedAfter(base: string, token: string, since: number): Promise<number> {
  for (;;) {
    const res = await call(base, 'GET', '/auth/me', { token });
    if (res.status === 401) return Date.now() - since;
    assert.is(res.status, 200, 'only 200 until refused');
    if (Date.now() - since > REVOCATION_BOUND_MS * 5) return Date.now() - since;
    await sleep(5);
  }
}

/** Calls `me` on the platform until its session memo is live and has answered once, so the next call is a hit. */
async function warm(p: TestPlatform, token: string): Promise<void> {
  assert.is((await call(p.url, 'GET', '/auth/me', { token })).status, 200);
  await until('the session memo is live', () => sessionMemo(p.deps.cache).trusted, 3_000);
  assert.is((await call(p.url, 'GET', '/auth/me', { token })).status, 200);
}

const ctx: { a?: TestPlatform; b?: TestPlatform; prefix?: string; admin?: Redis } = {};

const twoProcesses = suite('two platforms on one Redis');

twoProcesses.before(async () => {
  // One key prefix and one signing key, as two processes of one deployment share them.
  ctx.prefix = `test-auth-caches-${Math.random().toString(36).slice(2, 10)}:`;
  const env = { REDIS_KEY_PREFIX: ctx.prefix, JWT_PRIVATE_KEY: generateSigningKeyPem() };
  ctx.a = await startPlatform({ env, local: false });
  ctx.b = await startPlatform({ env, local: false });
  ctx.admin = new Redis(services.redisUrl);
});

twoProcesses.after(async () => {
  ctx.admin?.disconnect();
  await Promise.all([ctx.a?.close(), ctx.b?.close()]);
});

twoProcesses('a logout on A is refused by B within 1 s', async () => {
  const { a, b } = ctx as Required<typeof ctx>;
  const user = await signedInUser(a.url, 'cache-logout');
  await warm(b, user.accessToken);
  const started = Date.now();
  assert.is((await call(a.url, 'POST', '/auth/logout', { token: user.accessToken })).status, 204);
  const delay = await refusedAfter(b.url, user.accessToken, started);
  console.log(`  B refused the token ${delay} ms after the logout on A began`);
  assert.ok(delay < REVOCATION_BOUND_MS, `refused after ${delay} ms`);
});

twoProcesses('a session revoked by refresh-token reuse on A is refused by B within 1 s', async () => {
  const { a, b } = ctx as Required<typeof ctx>;
  const user = await signedInUser(a.url, 'cache-reuse');
  const rotated = await call(a.url, 'POST', '/auth/refresh', { body: { refreshToken: user.refreshToken } });
  assert.is(rotated.status, 200);
  await warm(b, rotated.body.accessToken);
  const started = Date.now();
  const reused = await call(a.url, 'POST', '/auth/refresh', { body: { refreshToken: user.refreshToken } });
  assert.is(reused.status, 401);
  const delay = await refusedAfter(b.url, rotated.body.accessToken, started);
  console.log(`  B refused the token ${delay} ms after the reuse on A began`);
  assert.ok(delay < REVOCATION_BOUND_MS, `refused after ${delay} ms`);
});

twoProcesses("a role change made through A shows in B's remembered user within 1 s", async () => {
  const { a, b } = ctx as Required<typeof ctx>;
  const user = await signedInUser(a.url, 'cache-role');
  await warm(b, user.accessToken);
  assert.is((await call(b.url, 'GET', '/auth/me', { token: user.accessToken })).body.role, 'user');
  const started = Date.now();
  assert.ok(await setUserRole(a.deps.db, user.email, 'admin', a.deps.cache));
  await until('B shows the new role', async () => (await call(b.url, 'GET', '/auth/me', { token: user.accessToken })).body.role === 'admin', REVOCATION_BOUND_MS);
  console.log(`  B showed the new role ${Date.now() - started} ms after the change`);
});

twoProcesses('while its subscription is down, B asks Redis, so a logout it cannot hear is still honoured', async () => {
  const { a, b, prefix, admin } = ctx as Required<typeof ctx>;
  const user = await signedInUser(a.url, 'cache-drop');
  await warm(b, user.accessToken);
  const memo = sessionMemo(b.deps.cache);
  assert.ok((await killRedisSubscribers(admin, prefix)) >= 1, 'killed the subscribers of this prefix');
  await until('B stops trusting its memo', () => !memo.trusted, 1_000);
  // The subscribers reconnect within about 100 ms: log out now, while B cannot hear the revocation.
  assert.is((await call(a.url, 'POST', '/auth/logout', { token: user.accessToken })).status, 204);
  assert.is((await call(b.url, 'GET', '/auth/me', { token: user.accessToken })).status, 401, 'refused at once, from Redis');

  // Once resubscribed, B remembers again, starting empty, and hears revocations again.
  await until('B trusts its memo again', () => memo.trusted, 5_000);
  const next = await signedInUser(a.url, 'cache-drop-after');
  await warm(b, next.accessToken);
  const started = Date.now();
  assert.is((await call(a.url, 'POST', '/auth/logout', { token: next.accessToken })).status, 204);
  assert.ok((await refusedAfter(b.url, next.accessToken, started)) < REVOCATION_BOUND_MS);
});

/** Posts one point as the device; answers the status. */
async function sendAsDevice(base: string, deviceToken: string): Promise<number> {
  const res = await call(base, 'POST', '/telemetry', { body: { temperature: 21.5 }, headers: { authorization: `Device ${deviceToken}` } });
  return res.status;
}

/**
 * Sends as the device on `base` until the answer turns from `before` to `after`; answers how long that took after
 * `since`, or a time past the bound when it never turned.
 */
async function deviceAnswerTurns(base: string, deviceToken: string, before: number, after: number, since: number): Promise<number> {
  for (;;) {
    const got = await sendAsDevice(base, deviceToken);
    if (got === after) return Date.now() - since;
    assert.is(got, before, `only ${before} until ${after}`);
    if (Date.now() - since > REVOCATION_BOUND_MS * 5) return Date.now() - since;
    await sleep(5);
  }
}

twoProcesses("B remembers a device's identity, and refuses it within 1 s of a rotation, a disabling or a deletion on A", async () => {
  const { a, b } = ctx as Required<typeof ctx>;
  const user = await signedInUser(a.url, 'cache-device');
  const created = await call(a.url, 'POST', '/devices', { token: user.accessToken, body: { name: 'memo probe', type: 'sensor' } });
  assert.is(created.status, 201);
  const id: string = created.body.device.id;
  const first: string = created.body.deviceToken;
  assert.is(await sendAsDevice(b.url, first), 202);
  await until("B's device memo is live", () => deviceMemo(b.deps.cache).trusted, 3_000);
  assert.is(await sendAsDevice(b.url, first), 202);
  const hits = async () => (await authCacheLookups.get()).values.find((v) => v.labels.cache === 'devices' && v.labels.outcome === 'hit')?.value ?? 0;
  const hitsBefore = await hits();
  assert.is(await sendAsDevice(b.url, first), 202);
  assert.is(await hits(), hitsBefore + 1, 'B answered that message from its memo');

  const within = async (change: string, token: string, before: number, after: number, make: () => Promise<void>) => {
    const started = Date.now();
    await make();
    const delay = await deviceAnswerTurns(b.url, token, before, after, started);
    console.log(`  B answered ${after} ${delay} ms after the ${change} on A began`);
    assert.ok(delay < REVOCATION_BOUND_MS, `${change}: ${after} after ${delay} ms`);
  };
  let second = '';
  await within('rotation', first, 202, 401, async () => {
    const rotated = await call(a.url, 'POST', `/devices/${id}/token`, { token: user.accessToken });
    assert.is(rotated.status, 200);
    second = rotated.body.deviceToken;
  });
  assert.is(await sendAsDevice(b.url, second), 202, 'the new token works on B');
  await within('disabling', second, 202, 403, async () => {
    assert.is((await call(a.url, 'PATCH', `/devices/${id}`, { token: user.accessToken, body: { status: 'disabled' } })).status, 200);
  });
  // B now remembers the device as disabled: a deletion must end that too.
  await within('deletion', second, 403, 401, async () => {
    assert.is((await call(a.url, 'DELETE', `/devices/${id}`, { token: user.accessToken })).status, 204);
  });
});

twoProcesses.run();

const embedded = suite('embedded memory cache');

embedded('a logout is refused at once, with the session memo live', async () => {
  const p = await startPlatform({ embedded: true, local: false });
  try {
    const user = await signedInUser(p.url, 'cache-embedded');
    await warm(p, user.accessToken);
    assert.is((await call(p.url, 'POST', '/auth/logout', { token: user.accessToken })).status, 204);
    assert.is((await call(p.url, 'GET', '/auth/me', { token: user.accessToken })).status, 401);
  } finally {
    await p.close();
  }
});

embedded.run();

const verified = suite('verified-token cache');
const key = signingKeyFromPem(generateSigningKeyPem());
const settings = { issuer: 'iotfn-test', audience: 'iotfn-test', accessTtlSeconds: 60 };
const sign = (sub: string) => signAccessToken(key, settings, { sub, sid: `sid-${sub}`, role: 'user' });

/** The local key source, counting lookups: one per token verified afresh, none for a remembered one. */
function countingSource(): KeySource & { lookups: number } {
  const local = localKeySource([key]);
  const source = {
    lookups: 0,
    keyFor(kid: string) {
      source.lookups++;
      return local.keyFor(kid);
    },
  };
  return source;
}

/** The verified-token cache's hits so far, as /metrics shows them. */
async function tokenHits(): Promise<number> {
  const { values } = await authCacheLookups.get();
  return values.find((v) => v.labels.cache === 'verified-tokens' && v.labels.outcome === 'hit')?.value ?? 0;
}

verified('a remembered token is refused from the second its exp names', async () => {
  let clock = Date.now();
  const source = countingSource();
  const verifier = createTokenVerifier(source, settings, { now: () => clock });
  const token = sign('expiring');
  const claims = await verifier.verify(token);
  const hitsBefore = await tokenHits();
  assert.equal(await verifier.verify(token), claims);
  assert.is(source.lookups, 1, 'the second check was answered from memory');
  assert.is(await tokenHits(), hitsBefore + 1, 'and counted as a hit');
  clock = claims.exp * 1000 - 1;
  assert.ok(await verifier.verify(token), 'still valid a millisecond before exp');
  clock = claims.exp * 1000;
  const refused = await verifier.verify(token).then(
    () => undefined,
    (error: unknown) => error,
  );
  assert.match(String((refused as Error | undefined)?.message), /expired/);
});

verified('keeps at most maxRemembered tokens, dropping the least recently used', async () => {
  const source = countingSource();
  const verifier = createTokenVerifier(source, settings, { maxRemembered: 3 });
  const tokens = ['t1', 't2', 't3', 't4', 't5'].map(sign);
  for (const token of tokens) await verifier.verify(token);
  assert.is(source.lookups, 5);
  for (const token of tokens.slice(2)) await verifier.verify(token);
  assert.is(source.lookups, 5, 'the three most recent are remembered');
  await verifier.verify(tokens[0]!);
  assert.is(source.lookups, 6, 'the oldest was dropped');
});

verified('does not remember a token that failed', async () => {
  const source = countingSource();
  const verifier = createTokenVerifier(source, settings);
  const token = sign('forged');
  const [header, payload, signature] = token.split('.');
  const forged = `${header}.${payload}.${signature!.slice(0, -4)}AAAA`;
  for (let i = 0; i < 2; i++) {
    const error = await verifier.verify(forged).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(error, 'a forged signature is refused every time');
  }
  assert.is(source.lookups, 2, 'checked afresh each time');
});

verified.run();
