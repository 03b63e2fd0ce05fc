/**
 * The signing functions through the local gateway, against the real PostgreSQL and Redis.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import jwt from 'jsonwebtoken';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { call, goodPassword, randomEmail, signedInUser, startPlatform, type TestPlatform } from './support/platform.ts';
import { signAccessToken } from '../shared/auth/tokens.ts';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { services } from './support/services.ts';

const execFileAsync = promisify(execFile);

const ctx: { p?: TestPlatform } = {};
const base = () => ctx.p!.url;
const problemType = (res: { headers: Headers }) => res.headers.get('content-type');

const register = suite('register');
register.before(async () => {
  ctx.p = await startPlatform();
});

register('creates a user and answers 201 with its public view', async () => {
  const email = randomEmail('Reg');
  const res = await call(base(), 'POST', '/auth/register', { body: { email, password: goodPassword, name: 'Ann' } });
  assert.is(res.status, 201);
  const { user: deprecatedCopy, ...registered } = res.body;
  assert.equal(Object.keys(registered).sort(), ['createdAt', 'email', 'id', 'name', 'role']);
  assert.is(registered.email, email);
  assert.is(registered.name, 'Ann');
  assert.is(registered.role, 'user');
  assert.ok(!Number.isNaN(Date.parse(registered.createdAt)));
  // Release 0.1's `{ user }` still answers, the same user, for one more release.
  assert.equal(deprecatedCopy, registered);
});

register('register and me answer one user shape: the same fields, the same values', async () => {
  const email = randomEmail('shape');
  const res = await call(base(), 'POST', '/auth/register', { body: { email, password: goodPassword, name: 'Sam' } });
  assert.is(res.status, 201);
  const login = await call(base(), 'POST', '/auth/login', { body: { email, password: goodPassword } });
  const me = await call(base(), 'GET', '/auth/me', { token: login.body.accessToken });
  assert.is(me.status, 200);
  const { user: _deprecated, ...registered } = res.body;
  assert.equal(registered, me.body);
});

register('refuses an email already taken in another letter case with 409', async () => {
  const email = randomEmail('case');
  assert.is((await call(base(), 'POST', '/auth/register', { body: { email, password: goodPassword } })).status, 201);
  const res = await call(base(), 'POST', '/auth/register', { body: { email: email.toUpperCase(), password: goodPassword } });
  assert.is(res.status, 409);
  assert.is(res.body.type, '/problems/email-taken');
  assert.is(problemType(res), 'application/problem+json');
});

register('names every offending field of an invalid body', async () => {
  const res = await call(base(), 'POST', '/auth/register', { body: { email: 'not-an-email', password: 'short' } });
  assert.is(res.status, 400);
  assert.is(res.body.type, '/problems/validation');
  assert.equal(res.body.errors.map((e: { path: string }) => e.path).sort(), ['body.email', 'body.password']);
});

register('refuses a password that contains the email', async () => {
  const email = randomEmail('carol');
  const res = await call(base(), 'POST', '/auth/register', { body: { email, password: `${email.split('@')[0]}-2024!` } });
  assert.is(res.status, 400);
  assert.equal(res.body.errors, [{ path: 'body.password', message: 'must not contain the email' }]);
});

register('never makes an admin, even with ADMIN_EMAILS naming the email', async () => {
  const email = randomEmail('boss');
  const platform = await startPlatform({ env: { ADMIN_EMAILS: email } });
  try {
    const res = await call(platform.url, 'POST', '/auth/register', { body: { email, password: goodPassword } });
    assert.is(res.status, 201);
    assert.is(res.body.role, 'user');
  } finally {
    await platform.close();
  }
});

register.after(async () => ctx.p?.close());
register.run();

const session = suite('login, me, refresh, logout');
session.before(async () => {
  ctx.p = await startPlatform();
});

session('login answers a Bearer pair and me answers the user', async () => {
  const user = await signedInUser(base());
  const me = await call(base(), 'GET', '/auth/me', { token: user.accessToken });
  assert.is(me.status, 200);
  assert.is(me.body.email, user.email);
  assert.is(me.body.id, user.userId);
  assert.is(me.body.passwordHash, undefined);
});

session('login is case-insensitive on the email and answers expiresIn', async () => {
  const email = randomEmail('mixed');
  await call(base(), 'POST', '/auth/register', { body: { email, password: goodPassword } });
  const res = await call(base(), 'POST', '/auth/login', { body: { email: email.toUpperCase(), password: goodPassword } });
  assert.is(res.status, 200);
  assert.is(res.body.tokenType, 'Bearer');
  assert.is(res.body.expiresIn, 900);
});

session('a wrong password and an unknown email get the same answer', async () => {
  const email = randomEmail('enum');
  await call(base(), 'POST', '/auth/register', { body: { email, password: goodPassword } });
  const wrong = await call(base(), 'POST', '/auth/login', { body: { email, password: 'not the password at all' } });
  const unknown = await call(base(), 'POST', '/auth/login', { body: { email: randomEmail('ghost'), password: 'not the password at all' } });
  assert.is(wrong.status, 401);
  assert.is(unknown.status, 401);
  const strip = (b: Record<string, unknown>) => ({ ...b, instance: undefined });
  assert.equal(strip(wrong.body), strip(unknown.body));
  assert.is(wrong.body.type, '/problems/invalid-credentials');
});

session('refresh rotates: a new pair works, the old refresh token is refused', async () => {
  const user = await signedInUser(base());
  const next = await call(base(), 'POST', '/auth/refresh', { body: { refreshToken: user.refreshToken } });
  assert.is(next.status, 200);
  assert.is.not(next.body.refreshToken, user.refreshToken);
  assert.is((await call(base(), 'GET', '/auth/me', { token: next.body.accessToken })).status, 200);
  const third = await call(base(), 'POST', '/auth/refresh', { body: { refreshToken: next.body.refreshToken } });
  assert.is(third.status, 200);
});

session('reusing a rotated refresh token revokes the whole session', async () => {
  const user = await signedInUser(base());
  const next = await call(base(), 'POST', '/auth/refresh', { body: { refreshToken: user.refreshToken } });
  assert.is(next.status, 200);
  const reuse = await call(base(), 'POST', '/auth/refresh', { body: { refreshToken: user.refreshToken } });
  assert.is(reuse.status, 401);
  assert.is(reuse.body.type, '/problems/refresh-token-reused');
  assert.is((await call(base(), 'POST', '/auth/refresh', { body: { refreshToken: next.body.refreshToken } })).status, 401);
  assert.is((await call(base(), 'GET', '/auth/me', { token: next.body.accessToken })).status, 401);
});

session('two concurrent refreshes with one token: at most one wins', async () => {
  const user = await signedInUser(base());
  const results = await Promise.all([1, 2].map(() => call(base(), 'POST', '/auth/refresh', { body: { refreshToken: user.refreshToken } })));
  assert.ok(results.filter((r) => r.status === 200).length <= 1);
  assert.ok(results.some((r) => r.status === 401));
});

session('an unknown or malformed refresh token is refused', async () => {
  const res = await call(base(), 'POST', '/auth/refresh', { body: { refreshToken: 'no-such-session.abc' } });
  assert.is(res.status, 401);
  assert.is(res.body.type, '/problems/invalid-token');
});

session('logout revokes the access and the refresh token at once', async () => {
  const user = await signedInUser(base());
  const out = await call(base(), 'POST', '/auth/logout', { token: user.accessToken });
  assert.is(out.status, 204);
  assert.is(out.body, undefined);
  const me = await call(base(), 'GET', '/auth/me', { token: user.accessToken });
  assert.is(me.status, 401);
  assert.is(me.body.type, '/problems/invalid-token');
  assert.is((await call(base(), 'POST', '/auth/refresh', { body: { refreshToken: user.refreshToken } })).status, 401);
});

session('logging out one session leaves the other sessions of the user alone', async () => {
  const user = await signedInUser(base());
  const second = await call(base(), 'POST', '/auth/login', { body: { email: user.email, password: goodPassword } });
  await call(base(), 'POST', '/auth/logout', { token: user.accessToken });
  assert.is((await call(base(), 'GET', '/auth/me', { token: second.body.accessToken })).status, 200);
});

session.after(async () => ctx.p?.close());
session.run();

const tokens = suite('access tokens that must be refused');
const keep: { user?: Awaited<ReturnType<typeof signedInUser>> } = {};
tokens.before(async () => {
  ctx.p = await startPlatform();
  keep.user = await signedInUser(base());
});

async function refused(token: string | undefined, header?: string) {
  const res = await call(base(), 'GET', '/auth/me', header ? { headers: { authorization: header } } : { token });
  assert.is(res.status, 401, `expected 401, got ${res.status}`);
  assert.is(problemType(res), 'application/problem+json');
  assert.is(res.headers.get('www-authenticate'), 'Bearer');
  return res.body;
}

function claimsOf(token: string) {
  return jwt.decode(token, { complete: true })!;
}

tokens('no token, another scheme, garbage', async () => {
  assert.is((await refused(undefined)).type, '/problems/unauthenticated');
  await refused(undefined, `Basic ${Buffer.from('a:b').toString('base64')}`);
  await refused('not.a.jwt');
  await refused('garbage');
});

tokens('an expired token', async () => {
  const signing = ctx.p!.deps.signing!;
  const sid = (claimsOf(keep.user!.accessToken).payload as { sid: string }).sid;
  const expired = signAccessToken(signing.key, { ...signing.settings, accessTtlSeconds: -10 }, { sub: keep.user!.userId, sid, role: 'user' });
  assert.match((await refused(expired)).detail, /expired/);
});

tokens('a token signed by another key under the right kid', async () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { header, payload } = claimsOf(keep.user!.accessToken);
  const forged = jwt.sign(payload as object, privateKey, { algorithm: 'ES256', keyid: header.kid });
  await refused(forged);
});

tokens('alg none, and HS256 keyed with the public key', async () => {
  const { header, payload } = claimsOf(keep.user!.accessToken);
  const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT', kid: header.kid })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.`;
  await refused(none);
  const publicPem = createPublicKey(ctx.p!.deps.signing!.key.privateKey).export({ format: 'pem', type: 'spki' }).toString();
  const confused = jwt.sign(payload as object, publicPem, { algorithm: 'HS256', keyid: header.kid });
  await refused(confused);
});

tokens('wrong audience, wrong issuer, no kid, tampered payload', async () => {
  const signing = ctx.p!.deps.signing!;
  const claims = claimsOf(keep.user!.accessToken).payload as { sid: string; sub: string };
  const make = (settings: Partial<typeof signing.settings>) =>
    signAccessToken(signing.key, { ...signing.settings, ...settings }, { sub: claims.sub, sid: claims.sid, role: 'user' });
  await refused(make({ audience: 'someone-else' }));
  await refused(make({ issuer: 'evil' }));
  const noKid = jwt.sign({ sid: claims.sid, role: 'user' }, signing.key.privateKey, { algorithm: 'ES256', subject: claims.sub, issuer: 'iotfn', audience: 'iotfn', expiresIn: 60 });
  await refused(noKid);
  const [h, , s] = keep.user!.accessToken.split('.');
  const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claims, role: 'admin' })).toString('base64url')}.${s}`;
  await refused(tampered);
});

tokens('the same claims signed properly are accepted (the refusals above are not for another reason)', async () => {
  const signing = ctx.p!.deps.signing!;
  const claims = claimsOf(keep.user!.accessToken).payload as { sid: string; sub: string };
  const good = signAccessToken(signing.key, signing.settings, { sub: claims.sub, sid: claims.sid, role: 'user' });
  assert.is((await call(base(), 'GET', '/auth/me', { token: good })).status, 200);
});

tokens.after(async () => ctx.p?.close());
tokens.run();

const admins = suite('iotfn admin grant / revoke');
admins.before(async () => {
  ctx.p = await startPlatform({ local: false });
});

/** Runs the CLI as an operator would, against the test database; answers its exit code and output. */
async function iotfnAdmin(...args: string[]) {
  const dataDir = mkdtempSync(join(tmpdir(), 'iotfn-admin-'));
  try {
    const result = await execFileAsync(process.execPath, ['--import', 'tsx', 'bin/iotfn.ts', 'admin', ...args], {
      env: { ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'silent', DATA_DIR: dataDir, DATABASE_URL: services.databaseUrl, REDIS_URL: '', AMQP_URL: '', MQTT_URL: '', MONGO_URL: '' },
      timeout: 60_000,
    }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code?: number; stdout?: string; stderr?: string }) => ({ code: error.code ?? -1, stdout: error.stdout ?? '', stderr: error.stderr ?? '' }),
    );
    return result;
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const roleIn = (accessToken: string) => (jwt.decode(accessToken) as { role: string }).role;

admins('grant makes a registered user an admin: at the next login, and at the next refresh of a session already open', async () => {
  const user = await signedInUser(base(), 'operator');
  const granted = await iotfnAdmin('grant', user.email.toUpperCase());
  assert.is(granted.code, 0, granted.stderr);
  assert.match(granted.stdout, new RegExp(`${user.email} is now an admin`));
  const login = await call(base(), 'POST', '/auth/login', { body: { email: user.email, password: goodPassword } });
  assert.is(roleIn(login.body.accessToken), 'admin');
  assert.is((await call(base(), 'GET', '/auth/me', { token: login.body.accessToken })).body.role, 'admin');
  const refreshed = await call(base(), 'POST', '/auth/refresh', { body: { refreshToken: user.refreshToken } });
  assert.is(refreshed.status, 200);
  assert.is(roleIn(refreshed.body.accessToken), 'admin');

  const revoked = await iotfnAdmin('revoke', user.email);
  assert.is(revoked.code, 0, revoked.stderr);
  const again = await call(base(), 'POST', '/auth/refresh', { body: { refreshToken: refreshed.body.refreshToken } });
  assert.is(roleIn(again.body.accessToken), 'user', 'a revoked admin loses the role at the next refresh');
});

admins('an unknown email exits 1 and a malformed command 2, changing nothing', async () => {
  const unknown = await iotfnAdmin('grant', randomEmail('nobody'));
  assert.is(unknown.code, 1);
  assert.match(unknown.stderr, /no user registered with/, unknown.stderr);
  assert.is((await iotfnAdmin('promote', 'a@example.com')).code, 2);
  assert.is((await iotfnAdmin('grant')).code, 2);
});

admins.after(async () => ctx.p?.close());
admins.run();

const limits = suite('login rate limits');
limits.before(async () => {
  ctx.p = await startPlatform({ env: { LOGIN_MAX_PER_ACCOUNT: '3', LOGIN_MAX_PER_ADDRESS: '6', LOGIN_WINDOW_SECONDS: '60' } });
  await ctx.p.deps.cache.del('login-failures:address:127.0.0.1');
});

limits('per account: after 3 failures even the right password answers 429 with Retry-After', async () => {
  const email = randomEmail('limited');
  await call(base(), 'POST', '/auth/register', { body: { email, password: goodPassword } });
  for (let i = 0; i < 3; i++) {
    assert.is((await call(base(), 'POST', '/auth/login', { body: { email, password: 'wrong password here' } })).status, 401);
  }
  const res = await call(base(), 'POST', '/auth/login', { body: { email, password: goodPassword } });
  assert.is(res.status, 429);
  assert.is(res.body.type, '/problems/rate-limited');
  const retry = Number(res.headers.get('retry-after'));
  assert.ok(retry >= 1 && retry <= 60, `Retry-After ${retry}`);
});

limits('per address: failures across accounts from one address are limited', async () => {
  for (let i = 0; i < 3; i++) {
    assert.is((await call(base(), 'POST', '/auth/login', { body: { email: randomEmail('spray'), password: 'wrong password here' } })).status, 401);
  }
  const res = await call(base(), 'POST', '/auth/login', { body: { email: randomEmail('spray'), password: 'wrong password here' } });
  assert.is(res.status, 429);
});

limits('a successful login clears the account counter', async () => {
  await ctx.p!.deps.cache.del('login-failures:address:127.0.0.1');
  const email = randomEmail('clears');
  await call(base(), 'POST', '/auth/register', { body: { email, password: goodPassword } });
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 2; i++) await call(base(), 'POST', '/auth/login', { body: { email, password: 'wrong password here' } });
    assert.is((await call(base(), 'POST', '/auth/login', { body: { email, password: goodPassword } })).status, 200);
    await ctx.p!.deps.cache.del('login-failures:address:127.0.0.1');
  }
});

limits.after(async () => {
  await ctx.p?.deps.cache.del('login-failures:address:127.0.0.1');
  await ctx.p?.close();
});
limits.run();
