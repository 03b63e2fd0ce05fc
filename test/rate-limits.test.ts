/**
 * Rate limits of the signing functions under parallel load: every attempt reserves its place before the work, so
 * a burst never gets more password checks, registrations or refreshes than the limits allow; and password hashing
 * is bounded per process. Each limit is checked on the real Redis and on the embedded memory cache.
 *
 * TRUST_PROXY is on so each test can speak from an address of its own (X-Forwarded-For) and start from empty
 * counters.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { call, goodPassword, randomEmail, signedInUser, startPlatform, type TestPlatform } from './support/platform.ts';
import { passwordHasher } from '../functions/signing/model/passwords.ts';
import { createWorkSlots, WorkSlotsFull } from '../shared/work-slots.ts';

type Answer = Awaited<ReturnType<typeof call>>;

let nextAddress = 1;
/** A client address no other test uses, so its counters start empty. */
const freshAddress = () => `198.51.100.${nextAddress++}`;

function statuses(answers: Answer[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const { status } of answers) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
}

function assertRateLimited(answer: Answer, maxRetryAfter: number): void {
  assert.is(answer.status, 429);
  assert.is(answer.headers.get('content-type'), 'application/problem+json');
  assert.is(answer.body.type, '/problems/rate-limited');
  const retryAfter = Number(answer.headers.get('retry-after'));
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= maxRetryAfter, `Retry-After ${answer.headers.get('retry-after')}`);
}

const limits = {
  LOGIN_MAX_PER_ACCOUNT: 10,
  LOGIN_WINDOW_SECONDS: 900,
  REGISTER_MAX_PER_ADDRESS: 5,
  REGISTER_WINDOW_SECONDS: 3600,
  REFRESH_MAX_PER_ADDRESS: 3,
  REFRESH_WINDOW_SECONDS: 60,
};

function limitSuite(adapters: 'redis' | 'embedded'): void {
  const test = suite(`rate limits under parallel load (${adapters})`);
  const ctx: { p?: TestPlatform } = {};
  const base = () => ctx.p!.url;

  test.before(async () => {
    ctx.p = await startPlatform({
      embedded: adapters === 'embedded',
      local: false,
      env: {
        ...Object.fromEntries(Object.entries(limits).map(([name, value]) => [name, String(value)])),
        // High enough that only the limit under test can refuse.
        LOGIN_MAX_PER_ADDRESS: '1000',
        ARGON2_QUEUE: '1000',
        TRUST_PROXY: 'true',
      },
    });
  });

  test('100 parallel wrong passwords for one account: exactly LOGIN_MAX_PER_ACCOUNT are checked, the rest 429', async () => {
    const email = randomEmail('burst');
    const address = freshAddress();
    assert.is((await call(base(), 'POST', '/auth/register', { body: { email, password: goodPassword }, headers: { 'x-forwarded-for': address } })).status, 201);
    const answers = await Promise.all(
      Array.from({ length: 100 }, () => call(base(), 'POST', '/auth/login', { body: { email, password: 'a wrong guess 123' }, headers: { 'x-forwarded-for': address } })),
    );
    assert.equal(statuses(answers), { 401: limits.LOGIN_MAX_PER_ACCOUNT, 429: 100 - limits.LOGIN_MAX_PER_ACCOUNT });
    for (const answer of answers.filter((a) => a.status === 401)) assert.is(answer.body.type, '/problems/invalid-credentials');
    for (const answer of answers.filter((a) => a.status === 429)) assertRateLimited(answer, limits.LOGIN_WINDOW_SECONDS);
    // The window is full: even the right password waits, from any address.
    assertRateLimited(await call(base(), 'POST', '/auth/login', { body: { email, password: goodPassword }, headers: { 'x-forwarded-for': freshAddress() } }), limits.LOGIN_WINDOW_SECONDS);
  });

  test('parallel registrations from one address: REGISTER_MAX_PER_ADDRESS succeed, the rest 429', async () => {
    const address = freshAddress();
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => call(base(), 'POST', '/auth/register', { body: { email: randomEmail('reg-burst'), password: goodPassword }, headers: { 'x-forwarded-for': address } })),
    );
    assert.equal(statuses(answers), { 201: limits.REGISTER_MAX_PER_ADDRESS, 429: 20 - limits.REGISTER_MAX_PER_ADDRESS });
    for (const answer of answers.filter((a) => a.status === 429)) assertRateLimited(answer, limits.REGISTER_WINDOW_SECONDS);
    const elsewhere = await call(base(), 'POST', '/auth/register', { body: { email: randomEmail('reg-other'), password: goodPassword }, headers: { 'x-forwarded-for': freshAddress() } });
    assert.is(elsewhere.status, 201, 'another address is not limited');
  });

  test('parallel refreshes from one address: REFRESH_MAX_PER_ADDRESS are tried, the rest 429', async () => {
    const address = freshAddress();
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => call(base(), 'POST', '/auth/refresh', { body: { refreshToken: `guessed-session.${i}` }, headers: { 'x-forwarded-for': address } })),
    );
    assert.equal(statuses(answers), { 401: limits.REFRESH_MAX_PER_ADDRESS, 429: 12 - limits.REFRESH_MAX_PER_ADDRESS });
    for (const answer of answers.filter((a) => a.status === 429)) assertRateLimited(answer, limits.REFRESH_WINDOW_SECONDS);
  });

  test('a successful login does not use up the address limit', async () => {
    const address = freshAddress();
    const user = await signedInUser(base(), 'regular');
    // Each login reserves its place, and a success gives it back: the address counts failures only.
    for (let i = 0; i < 3; i++) {
      assert.is((await call(base(), 'POST', '/auth/login', { body: { email: user.email, password: goodPassword }, headers: { 'x-forwarded-for': address } })).status, 200);
    }
    assert.is(await ctx.p!.deps.cache.get(`login-failures:address:${address}`), '0');
  });

  test.after(async () => ctx.p?.close());
  test.run();
}

limitSuite('redis');
limitSuite('embedded');

const hashing = suite('password hashing is bounded per process');
const h: { p?: TestPlatform } = {};
hashing.before(async () => {
  h.p = await startPlatform({
    local: false,
    env: { ARGON2_CONCURRENCY: '1', ARGON2_QUEUE: '1', LOGIN_MAX_PER_ACCOUNT: '3', LOGIN_MAX_PER_ADDRESS: '1000', TRUST_PROXY: 'true' },
  });
});

hashing('with ARGON2_CONCURRENCY=1, parallel logins never run two hashes at once', async () => {
  const slots = passwordHasher(h.p!.deps.config).slots;
  // With a queue of one, some of each round are refused (429): what matters is that no two hashes ever ran at once.
  const answers: Answer[] = [];
  for (let round = 0; round < 5; round++) {
    answers.push(...(await Promise.all(Array.from({ length: 8 }, () => call(h.p!.url, 'POST', '/auth/login', { body: { email: randomEmail('ghost'), password: 'a wrong guess 123' }, headers: { 'x-forwarded-for': freshAddress() } })))));
  }
  assert.ok(answers.every((a) => a.status === 401 || a.status === 429), JSON.stringify(statuses(answers)));
  assert.ok(answers.some((a) => a.status === 401), 'some passwords were checked');
  assert.is(slots.mostRunningAtOnce, 1);
});

hashing('with every slot and the queue taken, a login answers 429 at once and is not counted against the account', async () => {
  const email = randomEmail('busy');
  const address = freshAddress();
  assert.is((await call(h.p!.url, 'POST', '/auth/register', { body: { email, password: goodPassword }, headers: { 'x-forwarded-for': address } })).status, 201);
  const slots = passwordHasher(h.p!.deps.config).slots;
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const running = slots.run(() => held);
  const waiting = slots.run(() => held);
  try {
    assert.is(slots.running, 1);
    assert.is(slots.waiting, 1);
    const answers = await Promise.all(Array.from({ length: 3 }, () => call(h.p!.url, 'POST', '/auth/login', { body: { email, password: 'a wrong guess 123' }, headers: { 'x-forwarded-for': address } })));
    for (const answer of answers) assertRateLimited(answer, 1);
  } finally {
    release();
    await Promise.all([running, waiting]);
  }
  // Three refusals, LOGIN_MAX_PER_ACCOUNT 3: had they counted, the right password would now be refused too.
  assert.is((await call(h.p!.url, 'POST', '/auth/login', { body: { email, password: goodPassword }, headers: { 'x-forwarded-for': address } })).status, 200);
});

hashing.after(async () => h.p?.close());
hashing.run();

const slotsSuite = suite('work slots');

slotsSuite('run at most `concurrency` at once, queue up to `queue`, refuse the rest, and run every queued task', async () => {
  const slots = createWorkSlots({ concurrency: 2, queue: 3 });
  const releases: Array<() => void> = [];
  const task = () => new Promise<void>((resolve) => releases.push(resolve));
  const accepted = Array.from({ length: 5 }, () => slots.run(task));
  assert.is(slots.running, 2);
  assert.is(slots.waiting, 3);
  try {
    await slots.run(task);
    assert.unreachable('a sixth task was accepted');
  } catch (error) {
    assert.instance(error, WorkSlotsFull);
  }
  while (releases.length > 0 || slots.running > 0) {
    releases.shift()?.();
    await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(accepted);
  assert.is(slots.mostRunningAtOnce, 2);
  assert.is(slots.waiting, 0);
});

slotsSuite('a task that throws frees its slot', async () => {
  const slots = createWorkSlots({ concurrency: 1, queue: 0 });
  try {
    await slots.run(() => Promise.reject(new Error('boom')));
  } catch {
    // expected
  }
  assert.is(slots.running, 0);
  assert.is(await slots.run(async () => 7), 7);
});

slotsSuite.run();
