/**
 * The handlers of the registry, one function at a time, in-process (support/call-function.ts): the real
 * harness (validation, auth, problem+json) on the embedded adapters, with no server and no real service. What
 * a host adds in front of the harness (routing, reading the socket, request limits) is the gateway's and the
 * functions-framework host's tests; the same flows on the real services are devices.test.ts, alerts.test.ts and
 * friends.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomUUID } from 'node:crypto';
import type { Deps } from '../shared/platform.ts';
import { PoisonEvent } from '../shared/bus/event-runner.ts';
import { callFunction, deliverEvent, embeddedPlatform, signIn, type CallResult, type SignedInUser } from './support/call-function.ts';
import { goodPassword, randomEmail } from './support/platform.ts';
import register from '../functions/signing/register.ts';
import login from '../functions/signing/login.ts';
import me from '../functions/signing/me.ts';
import refresh from '../functions/signing/refresh.ts';
import logout from '../functions/signing/logout.ts';
import addDevice from '../functions/devices/add-device.ts';
import bulkAddDevices from '../functions/devices/bulk-add-devices.ts';
import searchDevices, { EXACT_UP_TO } from '../functions/devices/search-devices.ts';
import getDevice from '../functions/devices/get-device.ts';
import updateDevice from '../functions/devices/update-device.ts';
import deleteDevice from '../functions/devices/delete-device.ts';
import queryMetrics from '../functions/monitoring/query-metrics.ts';
import latestMetrics from '../functions/monitoring/latest-metrics.ts';
import addAlertRule from '../functions/monitoring/add-alert-rule.ts';
import listAlertRules from '../functions/monitoring/list-alert-rules.ts';
import listAlerts from '../functions/monitoring/list-alerts.ts';
import ingestTelemetry from '../functions/monitoring/ingest-telemetry.ts';

const started = performance.now();
const ctx: { platform?: Deps; bootMs?: number; alice?: SignedInUser; bob?: SignedInUser } = {};
const platform = () => ctx.platform!;

/** One platform for the whole file: its boot (PGlite and the migrations) is most of the file's time. */
async function boot(): Promise<void> {
  if (ctx.platform) return;
  const at = performance.now();
  ctx.platform = await embeddedPlatform();
  ctx.bootMs = performance.now() - at;
  [ctx.alice, ctx.bob] = await Promise.all([signIn(ctx.platform, 'alice'), signIn(ctx.platform, 'bob')]);
}

function isProblem(res: CallResult, status: number, kind: string): void {
  assert.is(res.status, status, `expected ${status} ${kind}, got ${res.status} ${JSON.stringify(res.body)}`);
  assert.is(res.headers['content-type'], 'application/problem+json');
  assert.is(res.body.type, `/problems/${kind}`);
  assert.is(res.body.status, status);
}

/** The paths of a validation problem's field errors, sorted. */
const errorPaths = (res: CallResult): string[] => (res.body.errors as Array<{ path: string }>).map((e) => e.path).sort();

async function newDevice(owner: SignedInUser, fields: Record<string, unknown> = {}): Promise<{ id: string; ownerId: string }> {
  const res = await callFunction(addDevice, { token: owner.accessToken, body: { name: 'Boiler room', type: 'thermometer', ...fields } }, platform());
  assert.is(res.status, 201, JSON.stringify(res.body));
  return res.body.device;
}

// Signing ------------------------------------------------------------------------------------------------

const signing = suite('handlers: signing');
signing.before(boot);

signing('register answers 201 with the user; the same email in other letters is 409 email-taken', async () => {
  const email = randomEmail('reg');
  const res = await callFunction(register, { body: { email, password: goodPassword, name: 'Reg' }, ip: '192.0.2.1' }, platform());
  assert.is(res.status, 201);
  assert.is(res.body.email, email);
  assert.is(res.body.passwordHash, undefined, 'the hash never leaves');
  assert.is(res.body.user.passwordHash, undefined, 'nor in the deprecated copy');
  assert.is(res.headers['x-content-type-options'], 'nosniff');
  const again = await callFunction(register, { body: { email: email.toUpperCase(), password: goodPassword }, ip: '192.0.2.1' }, platform());
  isProblem(again, 409, 'email-taken');
});

signing('register refuses a short password, and one that contains the email, naming body.password', async () => {
  const short = await callFunction(register, { body: { email: randomEmail(), password: 'short' }, ip: '192.0.2.2' }, platform());
  isProblem(short, 400, 'validation');
  assert.equal(errorPaths(short), ['body.password']);
  const email = randomEmail('mine');
  const containing = await callFunction(register, { body: { email, password: `${email}-and-more` }, ip: '192.0.2.2' }, platform());
  isProblem(containing, 400, 'validation');
  assert.equal(errorPaths(containing), ['body.password']);
});

signing('login answers a token pair; a wrong password and an unknown email are both 401 invalid-credentials', async () => {
  const alice = ctx.alice!;
  const ok = await callFunction(login, { body: { email: alice.email, password: alice.password }, ip: '192.0.2.3' }, platform());
  assert.is(ok.status, 200);
  assert.type(ok.body.accessToken, 'string');
  assert.type(ok.body.refreshToken, 'string');
  const wrong = await callFunction(login, { body: { email: alice.email, password: 'not the password at all' }, ip: '192.0.2.3' }, platform());
  isProblem(wrong, 401, 'invalid-credentials');
  const unknown = await callFunction(login, { body: { email: randomEmail('nobody'), password: goodPassword }, ip: '192.0.2.3' }, platform());
  isProblem(unknown, 401, 'invalid-credentials');
  assert.is(unknown.body.detail, wrong.body.detail, 'an unknown email reads like a wrong password');
});

signing('the body is checked as the hosts check it: bad JSON 400, another type 415, none 400 naming body', async () => {
  isProblem(await callFunction(login, { raw: '{"email": ', headers: { 'content-type': 'application/json' } }, platform()), 400, 'invalid-json');
  isProblem(await callFunction(login, { raw: 'email=a', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, platform()), 415, 'unsupported-media-type');
  const none = await callFunction(login, {}, platform());
  isProblem(none, 400, 'validation');
  assert.equal(errorPaths(none), ['body']);
  const method = await callFunction(login, { method: 'GET' }, platform());
  isProblem(method, 405, 'method-not-allowed');
  assert.is(method.headers.allow, 'POST');
});

signing('me answers the caller; no token is 401 unauthenticated with a Bearer challenge, a forged one 401 invalid-token', async () => {
  const alice = ctx.alice!;
  const res = await callFunction(me, { token: alice.accessToken }, platform());
  assert.is(res.status, 200);
  assert.is(res.body.id, alice.userId);
  assert.is(res.body.email, alice.email);
  const none = await callFunction(me, {}, platform());
  isProblem(none, 401, 'unauthenticated');
  assert.is(none.headers['www-authenticate'], 'Bearer');
  const [head, payload] = alice.accessToken.split('.');
  isProblem(await callFunction(me, { token: `${head}.${payload}.forged` }, platform()), 401, 'invalid-token');
  isProblem(await callFunction(me, { token: 'not-a-jwt' }, platform()), 401, 'invalid-token');
});

signing('refresh rotates the pair; the old refresh token again is 401 refresh-token-reused and ends the session', async () => {
  const user = await signIn(platform(), 'refresh');
  const rotated = await callFunction(refresh, { body: { refreshToken: user.refreshToken } }, platform());
  assert.is(rotated.status, 200);
  assert.is.not(rotated.body.refreshToken, user.refreshToken);
  assert.is((await callFunction(me, { token: rotated.body.accessToken }, platform())).status, 200);

  isProblem(await callFunction(refresh, { body: { refreshToken: user.refreshToken } }, platform()), 401, 'refresh-token-reused');
  isProblem(await callFunction(me, { token: rotated.body.accessToken }, platform()), 401, 'invalid-token');
  isProblem(await callFunction(refresh, { body: { refreshToken: rotated.body.refreshToken } }, platform()), 401, 'invalid-token');
  isProblem(await callFunction(refresh, { body: { refreshToken: 'made-up' } }, platform()), 401, 'invalid-token');
});

signing('logout answers 204 without a body, and the access token is refused after', async () => {
  const user = await signIn(platform(), 'logout');
  const res = await callFunction(logout, { token: user.accessToken }, platform());
  assert.is(res.status, 204);
  assert.is(res.body, undefined);
  isProblem(await callFunction(me, { token: user.accessToken }, platform()), 401, 'invalid-token');
  isProblem(await callFunction(logout, { token: user.accessToken }, platform()), 401, 'invalid-token');
  isProblem(await callFunction(refresh, { body: { refreshToken: user.refreshToken } }, platform()), 401, 'invalid-token');
});

signing.run();

// Devices ------------------------------------------------------------------------------------------------

const devices = suite('handlers: devices');
devices.before(boot);

devices('add, get, update and delete a device; its events wait in the outbox', async () => {
  const alice = ctx.alice!;
  const added = await callFunction(addDevice, { token: alice.accessToken, body: { name: 'Greenhouse', type: 'thermometer', tags: ['north', 'north'], location: { lat: 52.5, lon: 13.4 } } }, platform());
  assert.is(added.status, 201);
  assert.match(added.body.deviceToken, /^dt_/);
  const id: string = added.body.device.id;
  assert.is(added.body.device.ownerId, alice.userId);

  const got = await callFunction(getDevice, { token: alice.accessToken, params: { id } }, platform());
  assert.is(got.status, 200);
  assert.is(got.body.name, 'Greenhouse');
  assert.is(got.body.online, false);
  assert.is(got.body.tokenHash, undefined, 'the token hash never leaves');

  const updated = await callFunction(updateDevice, { token: alice.accessToken, params: { id }, body: { name: 'Glasshouse', status: 'disabled' } }, platform());
  assert.is(updated.status, 200);
  assert.is(updated.body.name, 'Glasshouse');
  assert.is(updated.body.status, 'disabled');
  assert.equal(updated.body.location, { lat: 52.5, lon: 13.4 }, 'fields not named stay');

  assert.is((await callFunction(deleteDevice, { token: alice.accessToken, params: { id } }, platform())).status, 204);
  isProblem(await callFunction(getDevice, { token: alice.accessToken, params: { id } }, platform()), 404, 'not-found');

  const { rows } = await platform().db.query<{ type: string }>(`SELECT type FROM outbox WHERE payload->>'subject' = $1 ORDER BY seq`, [id]);
  assert.equal(rows.map((r) => r.type), ['iotfn.device.created', 'iotfn.device.updated', 'iotfn.device.deleted']);
});

devices("another user's device is 404 not-found to get, update and delete, and stays as it was", async () => {
  const { alice, bob } = { alice: ctx.alice!, bob: ctx.bob! };
  const { id } = await newDevice(alice);
  isProblem(await callFunction(getDevice, { token: bob.accessToken, params: { id } }, platform()), 404, 'not-found');
  isProblem(await callFunction(updateDevice, { token: bob.accessToken, params: { id }, body: { name: 'Mine now' } }, platform()), 404, 'not-found');
  isProblem(await callFunction(deleteDevice, { token: bob.accessToken, params: { id } }, platform()), 404, 'not-found');
  const still = await callFunction(getDevice, { token: alice.accessToken, params: { id } }, platform());
  assert.is(still.status, 200);
  assert.is(still.body.name, 'Boiler room');
});

devices('a malformed id is 400 on params.id, an empty update 400, and no token 401', async () => {
  const alice = ctx.alice!;
  const bad = await callFunction(getDevice, { token: alice.accessToken, params: { id: 'not-a-uuid' } }, platform());
  isProblem(bad, 400, 'validation');
  assert.equal(errorPaths(bad), ['params.id']);
  const { id } = await newDevice(alice);
  const empty = await callFunction(updateDevice, { token: alice.accessToken, params: { id }, body: {} }, platform());
  isProblem(empty, 400, 'validation');
  assert.match(empty.body.detail, /at least one field/);
  isProblem(await callFunction(addDevice, { body: { name: 'x', type: 'y' } }, platform()), 401, 'unauthenticated');
});

devices("search finds the caller's devices only, by text and by tag", async () => {
  const carol = await signIn(platform(), 'carol');
  const marker = `probe${randomUUID().slice(0, 8)}`;
  await newDevice(carol, { name: `${marker} kitchen`, tags: ['home', 'floor-1'] });
  await newDevice(carol, { name: `${marker} garage`, tags: ['home'] });
  await newDevice(ctx.bob!, { name: `${marker} office` });

  const all = await callFunction(searchDevices, { token: carol.accessToken }, platform());
  assert.is(all.status, 200);
  assert.is(all.body.total, 2);
  const text = await callFunction(searchDevices, { token: carol.accessToken, query: { q: 'KITCHEN' } }, platform());
  assert.equal(text.body.items.map((d: { name: string }) => d.name), [`${marker} kitchen`]);
  const tagged = await callFunction(searchDevices, { token: carol.accessToken, query: { tag: ['home', 'floor-1'] } }, platform());
  assert.is(tagged.body.total, 1);
  const paged = await callFunction(searchDevices, { token: carol.accessToken, query: { limit: 1, sort: 'name' } }, platform());
  assert.is(paged.body.items[0].name, `${marker} garage`);
  const next = await callFunction(searchDevices, { token: carol.accessToken, query: { limit: 1, sort: 'name', cursor: paged.body.nextCursor } }, platform());
  assert.is(next.body.items[0].name, `${marker} kitchen`);
  assert.is(next.body.nextCursor, null);
});

devices('on the embedded database too, a total above EXACT_UP_TO is the planner\'s estimate unless count=exact asks', async () => {
  const erin = await signIn(platform(), 'erin');
  for (const from of [0, 1000]) {
    const devices = Array.from({ length: from ? 5 : 1000 }, (_, n) => ({ name: `E${from + n}`, type: 'probe' }));
    assert.is((await callFunction(bulkAddDevices, { token: erin.accessToken, body: { devices } }, platform())).status, 201);
  }
  const estimated = await callFunction(searchDevices, { token: erin.accessToken, query: { limit: 1 } }, platform());
  assert.is(estimated.body.totalIsEstimate, true);
  assert.ok(estimated.body.total > EXACT_UP_TO, String(estimated.body.total));
  const exact = await callFunction(searchDevices, { token: erin.accessToken, query: { limit: 1, count: 'exact' } }, platform());
  assert.equal([exact.body.total, exact.body.totalIsEstimate], [1005, false]);
});

devices("the planner's estimate is asked once per filter for a few seconds; exact counts and online searches every time", async () => {
  const fay = await signIn(platform(), 'fay');
  const devices = Array.from({ length: 3 }, (_, n) => ({ name: `Fay ${n}`, type: 'probe' }));
  assert.is((await callFunction(bulkAddDevices, { token: fay.accessToken, body: { devices } }, platform())).status, 201);
  // The same platform, its database counting what the handler asks of it.
  const asked: string[] = [];
  const db = platform().db;
  const counting: Deps = { ...platform(), db: { ...db, query: (sql, params) => (asked.push(sql), db.query(sql, params)) } };
  const explains = () => asked.filter((sql) => sql.startsWith('EXPLAIN')).length;
  const counts = () => asked.filter((sql) => /count\(\*\)/.test(sql)).length;
  const search = async (query: Record<string, string>) => {
    const res = await callFunction(searchDevices, { token: fay.accessToken, query }, counting);
    assert.is(res.status, 200, JSON.stringify(res.body));
    return res.body as { total: number; totalIsEstimate: boolean };
  };
  const first = await search({ type: 'probe' });
  const again = await search({ type: 'probe' });
  assert.is(explains(), 1, 'the second search of the same filter did not ask the planner again');
  assert.equal([first.total, again.total], [3, 3], 'the few matches are counted exactly each time');
  assert.is(counts(), 2, 'and the bounded count ran for each');
  await search({ type: 'other' });
  assert.is(explains(), 2, 'another filter asks the planner');
  await search({ type: 'probe', online: 'false' });
  await search({ type: 'probe', online: 'false' });
  assert.is(explains(), 4, 'a search by online state is asked each time');
  await search({ type: 'probe', count: 'exact' });
  assert.is(explains(), 4, 'count=exact asks no planner');
});

devices('search refuses bad query parameters with 400 validation naming each one', async () => {
  const alice = ctx.alice!;
  const res = await callFunction(searchDevices, { token: alice.accessToken, query: { limit: 0, sort: 'colour', status: 'asleep', online: 'maybe' } }, platform());
  isProblem(res, 400, 'validation');
  assert.equal(errorPaths(res), ['query.limit', 'query.online', 'query.sort', 'query.status']);
  isProblem(await callFunction(searchDevices, { token: alice.accessToken, query: { limit: 101 } }, platform()), 400, 'validation');
  const cursor = await callFunction(searchDevices, { token: alice.accessToken, query: { cursor: 'garbage' } }, platform());
  isProblem(cursor, 400, 'validation');
  assert.equal(errorPaths(cursor), ['query.cursor']);
  const nul = await callFunction(searchDevices, { token: alice.accessToken, query: { q: 'a\u0000b' } }, platform());
  isProblem(nul, 400, 'validation');
});

devices('bulk add takes 1 to 1,000 devices, all or nothing', async () => {
  const dave = await signIn(platform(), 'dave');
  const three = await callFunction(bulkAddDevices, { token: dave.accessToken, body: { devices: [1, 2, 3].map((n) => ({ name: `Sensor ${n}`, type: 'probe' })) } }, platform());
  assert.is(three.status, 201);
  assert.is(three.body.devices.length, 3);
  assert.is(new Set(three.body.devices.map((d: { deviceToken: string }) => d.deviceToken)).size, 3);

  const none = await callFunction(bulkAddDevices, { token: dave.accessToken, body: { devices: [] } }, platform());
  isProblem(none, 400, 'validation');
  assert.equal(errorPaths(none), ['body.devices']);
  const tooMany = await callFunction(bulkAddDevices, { token: dave.accessToken, body: { devices: Array.from({ length: 1001 }, (_, n) => ({ name: `S${n}`, type: 'probe' })) } }, platform());
  isProblem(tooMany, 400, 'validation');
  assert.equal(errorPaths(tooMany), ['body.devices']);
  const oneBad = await callFunction(bulkAddDevices, { token: dave.accessToken, body: { devices: [{ name: 'Fine', type: 'probe' }, { name: '', type: 'probe' }] } }, platform());
  isProblem(oneBad, 400, 'validation');
  assert.equal(errorPaths(oneBad), ['body.devices.1.name']);

  const after = await callFunction(searchDevices, { token: dave.accessToken }, platform());
  assert.is(after.body.total, 3, 'the refused requests created nothing');
});

devices.run();

// Monitoring ---------------------------------------------------------------------------------------------

const monitoring = suite('handlers: monitoring');
monitoring.before(boot);

/** One device's points as the edge publishes them (`iotfn.telemetry`). */
const telemetry = (device: { id: string; ownerId: string }, points: Array<{ ts: number; values: Record<string, number | string | boolean> }>) => ({
  deviceId: device.id,
  ownerId: device.ownerId,
  via: 'http' as const,
  receivedAt: Date.now(),
  points,
});

monitoring('telemetry query parameters are validated, each problem naming its parameter', async () => {
  const alice = ctx.alice!;
  const { id } = await newDevice(alice);
  const query = (q: Record<string, string | number>) => callFunction(queryMetrics, { token: alice.accessToken, params: { id }, query: q }, platform());
  const cases: Array<[Record<string, string | number>, string]> = [
    [{ from: 'yesterday' }, 'query.from'],
    [{ interval: '5 minutes' }, 'query.interval'],
    [{ interval: '10ms' }, 'query.interval'],
    [{ agg: 'median', interval: '1h' }, 'query.agg'],
    [{ agg: 'max' }, 'query.interval'],
    [{ from: 2000, to: 1000 }, 'query.from'],
    [{ from: 0, to: 86_400_000, interval: '1s', keys: 'temp' }, 'query.interval'],
    [{ keys: 'no spaces allowed' }, 'query.keys.0'],
    [{ limit: 0 }, 'query.limit'],
    [{ order: 'sideways' }, 'query.order'],
    [{ cursor: 'garbage' }, 'query.cursor'],
  ];
  for (const [q, path] of cases) {
    const res = await query(q);
    isProblem(res, 400, 'validation');
    assert.equal(errorPaths(res), [path], `${JSON.stringify(q)} → ${JSON.stringify(res.body.errors)}`);
  }
  assert.is((await query({})).status, 200);
  isProblem(await callFunction(queryMetrics, { token: ctx.bob!.accessToken, params: { id } }, platform()), 404, 'not-found');
});

monitoring('ingestTelemetry delivered in-process is what queryMetrics and latestMetrics answer; a redelivery stores nothing twice', async () => {
  const alice = ctx.alice!;
  const device = await newDevice(alice);
  const t0 = Date.now() - 60_000;
  const event = await deliverEvent(ingestTelemetry, telemetry(device, [{ ts: t0, values: { temp: 21.5, door: 'open' } }, { ts: t0 + 1000, values: { temp: 22 } }]), platform());
  await deliverEvent(ingestTelemetry, event.data, platform(), { id: event.id });

  const raw = await callFunction(queryMetrics, { token: alice.accessToken, params: { id: device.id }, query: { keys: 'temp', from: t0 - 1 } }, platform());
  assert.is(raw.status, 200);
  assert.equal(raw.body.items, [{ key: 'temp', ts: t0, value: 21.5 }, { key: 'temp', ts: t0 + 1000, value: 22 }]);
  const buckets = await callFunction(queryMetrics, { token: alice.accessToken, params: { id: device.id }, query: { keys: 'temp', from: t0 - 1, to: t0 + 60_000, interval: '1h', agg: 'max' } }, platform());
  assert.equal(buckets.body.items.map((b: { value: number; count: number }) => [b.value, b.count]), [[22, 2]]);
  const latest = await callFunction(latestMetrics, { token: alice.accessToken, params: { id: device.id } }, platform());
  assert.equal(
    latest.body.items.map((i: { key: string; value: unknown }) => [i.key, i.value]).sort(),
    [['door', 'open'], ['temp', 22]],
  );
  isProblem(await callFunction(latestMetrics, { token: ctx.bob!.accessToken, params: { id: device.id } }, platform()), 404, 'not-found');
});

monitoring('an event the function can never process is a PoisonEvent, and stores nothing', async () => {
  const device = await newDevice(ctx.alice!);
  const bad = { ...telemetry(device, [{ ts: Date.now(), values: { temp: 1 } }]), deviceId: 'not-a-uuid' };
  try {
    await deliverEvent(ingestTelemetry, bad, platform());
    assert.unreachable('invalid data was processed');
  } catch (error) {
    assert.instance(error, PoisonEvent);
  }
  const empty = await deliverEvent(ingestTelemetry, telemetry(device, []), platform()).catch((error: unknown) => error);
  assert.instance(empty, PoisonEvent);
});

monitoring('alert rules: create, list, validation, and only on a device the caller owns', async () => {
  const alice = ctx.alice!;
  const { id } = await newDevice(alice);
  const add = (body: unknown, token = alice.accessToken) => callFunction(addAlertRule, { token, params: { id }, body }, platform());
  const created = await add({ key: 'temp', op: 'gt', value: 30 });
  assert.is(created.status, 201);
  assert.is(created.body.deviceId, id);
  assert.is(created.body.forSeconds, 0);
  assert.is((await add({ key: 'temp', op: 'outside', low: 5, high: 25, forSeconds: 60 })).status, 201);

  const listed = await callFunction(listAlertRules, { token: alice.accessToken, params: { id } }, platform());
  assert.equal(listed.body.items.map((r: { op: string }) => r.op), ['gt', 'outside']);

  for (const [body, detail] of [
    [{ key: 'temp', op: 'gt' }, /op gt needs a value/],
    [{ key: 'temp', op: 'outside', low: 30, high: 10 }, /low must be below high/],
    [{ key: 'temp', op: 'nodata' }, /nodata needs forSeconds/],
    [{ key: 'temp', op: 'between', value: 1 }, /body\.op/],
    [{ key: '', op: 'gt', value: 1 }, /body\.key/],
  ] as const) {
    const res = await add(body);
    isProblem(res, 400, 'validation');
    assert.match(res.body.detail, detail);
  }
  isProblem(await add({ key: 'temp', op: 'gt', value: 1 }, ctx.bob!.accessToken), 404, 'not-found');
  isProblem(await callFunction(listAlertRules, { token: ctx.bob!.accessToken, params: { id } }, platform()), 404, 'not-found');
  isProblem(await callFunction(addAlertRule, { token: alice.accessToken, params: { id: randomUUID() }, body: { key: 'temp', op: 'gt', value: 1 } }, platform()), 404, 'not-found');
});

monitoring('a point over a rule, delivered to ingestTelemetry, opens an alert listAlerts shows', async () => {
  const alice = ctx.alice!;
  const device = await newDevice(alice);
  assert.is((await callFunction(addAlertRule, { token: alice.accessToken, params: { id: device.id }, body: { key: 'temp', op: 'gt', value: 30 } }, platform())).status, 201);
  await deliverEvent(ingestTelemetry, telemetry(device, [{ ts: Date.now() - 1000, values: { temp: 35 } }]), platform());
  const alerts = await callFunction(listAlerts, { token: alice.accessToken, query: { deviceId: device.id } }, platform());
  assert.is(alerts.status, 200);
  assert.equal(alerts.body.items.map((a: { state: string; value: number; key: string }) => [a.key, a.state, a.value]), [['temp', 'open', 35]]);
  const others = await callFunction(listAlerts, { token: ctx.bob!.accessToken, query: { deviceId: device.id } }, platform());
  assert.equal(others.body.items, []);
});

monitoring.after(async () => {
  await ctx.platform?.close();
  const total = performance.now() - started;
  console.log(`  handlers.test.ts: embedded platform up in ${Math.round(ctx.bootMs ?? 0)} ms; file done in ${Math.round(total)} ms`);
});

monitoring.run();
