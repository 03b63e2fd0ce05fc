/**
 * Monitoring end to end against the real services: device → POST /telemetry → RabbitMQ → ingest trigger →
 * store → queries, and the live relay; redelivery, poison messages, a consumer killed mid-stream, aggregation
 * checked against computed values, and owner isolation on every query and on subscribe.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomUUID } from 'node:crypto';
import { io as connect, type Socket } from 'socket.io-client';
import { call, signedInUser, startPlatform, type TestPlatform } from './support/platform.ts';
import { sleep } from './support/bus.ts';
import { relaySocket } from './support/relay-socket.ts';
import { until } from './support/wait.ts';
import { cloudEvent, eventMessage } from '../shared/events.ts';
import { eventTypes, exchanges, queues, telemetryRoutingKey } from '../shared/bus/topology.ts';
import { startTrigger } from '../shared/bus/trigger.ts';
import { eventFunctions } from '../functions/registry.ts';
import { recentDay } from './support/time.ts';

type User = Awaited<ReturnType<typeof signedInUser>>;
const ctx: { p?: TestPlatform; owner?: User; other?: User; device?: string; token?: string; sockets: Socket[] } = { sockets: [] };
const base = () => ctx.p!.url;


const send = (body: unknown, token = ctx.token!) => call(base(), 'POST', '/telemetry', { body, headers: { authorization: `Device ${token}` } });
const query = (path: string, user = ctx.owner!) => call(base(), 'GET', path, { token: user.accessToken });

async function storedCount(deviceId: string, from: number, to: number): Promise<number> {
  const res = await query(`/devices/${deviceId}/telemetry?from=${from}&to=${to}&limit=10000`);
  return res.body.items.length;
}

const socketFor = (user: User): Promise<Socket> => relaySocket(base(), user.accessToken, ctx.sockets);

const subscribe = (socket: Socket, deviceIds: string[]) =>
  socket.timeout(5000).emitWithAck('subscribe', { deviceIds }) as Promise<{ accepted: string[]; refused: string[] }>;

const flow = suite('monitoring: ingest, queries, live');
flow.before(async () => {
  ctx.p = await startPlatform({ env: { RELAY_COALESCE_MS: '50' } });
  ctx.owner = await signedInUser(base(), 'mon');
  ctx.other = await signedInUser(base(), 'snoop');
  const res = await call(base(), 'POST', '/devices', { token: ctx.owner.accessToken, body: { name: 'Boiler', type: 'sensor' } });
  ctx.device = res.body.device.id;
  ctx.token = res.body.deviceToken;
});

flow('a point sent over HTTP is stored, queryable, and pushed live to a subscribed socket', async () => {
  const socket = await socketFor(ctx.owner!);
  const ack = await subscribe(socket, [ctx.device!]);
  assert.equal(ack, { accepted: [ctx.device!], refused: [] });
  const live = new Promise<{ deviceId: string; ts: number; values: Record<string, unknown> }>((resolve) => socket.once('telemetry', resolve));
  const ts = Date.now() - 1000;
  assert.is((await send({ ts, values: { temperature: 71.5, burner: true } })).status, 202);
  const update = await Promise.race([live, sleep(10_000).then(() => assert.unreachable('no live update'))]);
  assert.equal(update, { deviceId: ctx.device!, ts, values: { temperature: 71.5, burner: true } });
  const stored = await until('stored', async () => {
    const res = await query(`/devices/${ctx.device}/telemetry?keys=temperature,burner&from=${ts}&to=${ts + 1}`);
    return res.body.items.length === 2 ? res.body.items : undefined;
  });
  assert.equal(stored, [
    { key: 'burner', ts, value: true },
    { key: 'temperature', ts, value: 71.5 },
  ]);
  const latest = await query(`/devices/${ctx.device}/telemetry/latest?keys=temperature`);
  assert.equal(latest.body.items, [{ key: 'temperature', ts, value: 71.5 }]);
});

flow('a burst from one device reaches a browser coalesced to the latest value per key', async () => {
  const socket = await socketFor(ctx.owner!);
  await subscribe(socket, [ctx.device!]);
  const updates: Array<{ values: Record<string, number> }> = [];
  socket.on('telemetry', (u) => updates.push(u));
  const start = Date.now();
  await Promise.all(Array.from({ length: 100 }, (_, i) => send({ ts: start + i, values: { n: i } })));
  await until('last value seen', () => updates.some((u) => u.values.n === 99));
  assert.ok(updates.length < 100, `${updates.length} updates for 100 messages`);
});

flow('updates of several devices flushed in the same tick all reach a fast client', async () => {
  const made = await call(base(), 'POST', '/devices/bulk', { token: ctx.owner!.accessToken, body: { devices: [1, 2, 3, 4, 5].map((i) => ({ name: `Tick ${i}`, type: 't' })) } });
  const devices = made.body.devices as Array<{ device: { id: string }; deviceToken: string }>;
  const socket = await socketFor(ctx.owner!);
  await subscribe(socket, devices.map((d) => d.device.id));
  const seen = new Set<string>();
  socket.on('telemetry', (u: { deviceId: string }) => seen.add(u.deviceId));
  await Promise.all(devices.map((d) => send({ values: { tick: 1 } }, d.deviceToken)));
  await until('every device\'s update', () => seen.size === devices.length, 10_000);
});

flow('aggregations equal what the test computes from the points it sent', async () => {
  const res = await call(base(), 'POST', '/devices', { token: ctx.owner!.accessToken, body: { name: 'Agg', type: 'sensor' } });
  const id = res.body.device.id as string;
  const hour = 3_600_000;
  const start = Math.floor(Date.now() / hour) * hour - 3 * hour;
  const points = Array.from({ length: 180 }, (_, i) => ({ ts: start + i * 60_000, values: { v: Math.round(Math.sin(i / 7) * 1000) / 10 + i / 3, label: `m${i}` } }));
  for (let i = 0; i < points.length; i += 60) assert.is((await send(points.slice(i, i + 60), res.body.deviceToken)).status, 202);
  await until('all stored', async () => (await storedCount(id, start, start + 3 * hour)) === 360);
  for (const agg of ['avg', 'min', 'max', 'sum', 'count'] as const) {
    const got = await query(`/devices/${id}/telemetry?keys=v&from=${start}&to=${start + 3 * hour}&interval=1h&agg=${agg}`);
    assert.is(got.status, 200);
    const expected = [0, 1, 2].map((h) => {
      const values = points.slice(h * 60, h * 60 + 60).map((p) => p.values.v);
      const value = { avg: values.reduce((a, b) => a + b, 0) / 60, min: Math.min(...values), max: Math.max(...values), sum: values.reduce((a, b) => a + b, 0), count: 60 }[agg];
      return { key: 'v', ts: start + h * hour, count: 60, value };
    });
    assert.is(got.body.items.length, 3);
    got.body.items.forEach((item: { ts: number; value: number; count: number }, i: number) => {
      assert.is(item.ts, expected[i]!.ts);
      assert.is(item.count, 60);
      assert.ok(Math.abs(item.value - expected[i]!.value) < 1e-6, `${agg} bucket ${i}: ${item.value} vs ${expected[i]!.value}`);
    });
  }
  const halfHours = await query(`/devices/${id}/telemetry?keys=v&from=${start}&to=${start + 3 * hour}&interval=30m&agg=max&order=desc`);
  assert.is(halfHours.body.items.length, 6);
  assert.is(halfHours.body.items[0].ts, start + 2.5 * hour);
  const many = await call(base(), 'POST', '/telemetry/query', {
    token: ctx.owner!.accessToken,
    body: { deviceIds: [id, ctx.device!, randomUUID()], keys: ['v'], from: start, to: start + 3 * hour, interval: '1h', agg: 'count' },
  });
  assert.is(many.status, 200);
  assert.equal(many.body.results.map((r: { deviceId: string; items: unknown[] }) => [r.deviceId, r.items.length]), [[id, 3], [ctx.device!, 0]]);
  assert.is(many.body.missing.length, 1);
  const paged: unknown[] = [];
  let cursor: string | null = null;
  do {
    const page: { body: { items: unknown[]; nextCursor: string | null } } = await query(`/devices/${id}/telemetry?from=${start}&to=${start + 3 * hour}&limit=50${cursor ? `&cursor=${cursor}` : ''}`);
    paged.push(...page.body.items);
    cursor = page.body.nextCursor;
  } while (cursor);
  assert.is(paged.length, 360);
  assert.is(new Set(paged.map((p) => JSON.stringify(p))).size, 360);
});

flow('bad ranges, unknown aggregations and too many buckets answer 400', async () => {
  const path = `/devices/${ctx.device}/telemetry`;
  for (const q of ['from=10&to=5', 'interval=5m&agg=median', 'interval=1s&from=0&to=86400000000', 'interval=fortnight', 'from=yesterday', 'agg=avg', 'cursor=nope']) {
    const res = await query(`${path}?${q}`);
    assert.is(res.status, 400, `${q}: ${JSON.stringify(res.body)}`);
    assert.is(res.body.type, '/problems/validation');
  }
});

flow('another user gets 404 on every query and is refused on subscribe', async () => {
  const asOther = (path: string) => query(path, ctx.other!);
  assert.is((await asOther(`/devices/${ctx.device}/telemetry`)).status, 404);
  assert.is((await asOther(`/devices/${ctx.device}/telemetry/latest`)).status, 404);
  assert.is((await call(base(), 'DELETE', `/devices/${ctx.device}/telemetry`, { token: ctx.other!.accessToken })).status, 404);
  const many = await call(base(), 'POST', '/telemetry/query', { token: ctx.other!.accessToken, body: { deviceIds: [ctx.device!] } });
  assert.equal(many.body, { results: [], missing: [ctx.device!] });
  const socket = await socketFor(ctx.other!);
  assert.equal(await subscribe(socket, [ctx.device!, 'not-an-id']), { accepted: [], refused: [ctx.device!, 'not-an-id'] });
  let leaked = false;
  socket.on('telemetry', () => (leaked = true));
  await send({ values: { secret: 1 } });
  await sleep(500);
  assert.not.ok(leaked);
});

flow('a socket without a valid token is refused; logging out disconnects it', async () => {
  const bad = connect(base(), { path: '/socket.io', auth: { token: 'nope' }, transports: ['websocket'], reconnection: false });
  ctx.sockets.push(bad);
  const error = await new Promise<Error>((resolve) => bad.once('connect_error', resolve));
  assert.is(error.message, 'unauthorized');
  const user = await signedInUser(base(), 'leaver');
  const socket = await socketFor(user);
  const gone = new Promise<void>((resolve) => socket.once('disconnect', () => resolve()));
  await call(base(), 'POST', '/auth/logout', { token: user.accessToken });
  await Promise.race([gone, sleep(8000).then(() => assert.unreachable('still connected after logout'))]);
});

flow('DELETE removes a range of keys; deleting the device removes its telemetry', async () => {
  const res = await call(base(), 'POST', '/devices', { token: ctx.owner!.accessToken, body: { name: 'Del', type: 'sensor' } });
  const id = res.body.device.id as string;
  const t0 = Date.now() - 10_000;
  await send(Array.from({ length: 10 }, (_, i) => ({ ts: t0 + i * 1000, values: { a: i, b: i } })), res.body.deviceToken);
  await until('stored', async () => (await storedCount(id, t0, t0 + 10_000)) === 20);
  assert.is((await call(base(), 'DELETE', `/devices/${id}/telemetry?keys=a&from=${t0}&to=${t0 + 5000}`, { token: ctx.owner!.accessToken })).status, 204);
  assert.is(await storedCount(id, t0, t0 + 10_000), 15);
  await call(base(), 'DELETE', `/devices/${id}`, { token: ctx.owner!.accessToken });
  await until('purged', async () => {
    const { rows } = await ctx.p!.deps.db.query<{ n: string }>('SELECT count(*) AS n FROM telemetry WHERE device_id = $1', [id]);
    return rows[0]!.n === '0';
  });
});

flow.after(async () => {
  ctx.sockets.forEach((s) => s.close());
  await ctx.p?.close();
});
flow.run();

const unmerged = suite('monitoring: live updates without coalescing');
const u: { p?: TestPlatform } = {};
unmerged.before(async () => {
  u.p = await startPlatform({ env: { RELAY_COALESCE_MS: '0' } });
});

unmerged('every message of a burst reaches a fast client when nothing merges them', async () => {
  const user = await signedInUser(u.p!.url, 'burst');
  const made = await call(u.p!.url, 'POST', '/devices', { token: user.accessToken, body: { name: 'Burst', type: 't' } });
  const socket = await relaySocket(u.p!.url, user.accessToken, ctx.sockets);
  await subscribe(socket, [made.body.device.id]);
  const values = new Set<number>();
  socket.on('telemetry', (update: { values: { n: number } }) => values.add(update.values.n));
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: 60 }, (_, n) =>
      call(u.p!.url, 'POST', '/telemetry', { body: { ts: t0 + n, values: { n } }, headers: { authorization: `Device ${made.body.deviceToken}` } }),
    ),
  );
  await until('all 60 updates', () => values.size === 60, 10_000).catch(() => assert.unreachable(`${values.size} of 60 updates arrived`));
});

unmerged.after(async () => u.p?.close());
unmerged.run();

const delivery = suite('monitoring: at-least-once delivery, stored once');
const d: { p?: TestPlatform; device?: string } = {};
delivery.before(async () => {
  // No local triggers: the tests start and kill their own consumer of the ingest queue.
  d.p = await startPlatform({ local: false });
  const user = await signedInUser(d.p.url, 'delivery');
  d.device = (await call(d.p.url, 'POST', '/devices', { token: user.accessToken, body: { name: 'D', type: 't' } })).body.device.id;
  // Leftovers of earlier runs would be consumed by our trigger too; they are harmless but slow.
  await d.p.deps.bus.declareQueue({ name: queues.ingest, durable: true, bindings: [{ exchange: exchanges.telemetry, pattern: 'telemetry.#' }], deadLetterExchange: exchanges.deadLetter });
});

const ingest = eventFunctions.find((fn) => fn.name === 'ingestTelemetry')!;
const telemetryEvent = (deviceId: string, ts: number, value: number, id?: string) =>
  cloudEvent({ id, type: eventTypes.telemetry, source: `/devices/${deviceId}`, subject: deviceId, data: { deviceId, ownerId: randomUUID(), via: 'http', receivedAt: ts, points: [{ ts, values: { x: value } }] } });

async function count(deviceId: string): Promise<number> {
  const { rows } = await d.p!.deps.db.query<{ n: string }>('SELECT count(*) AS n FROM telemetry WHERE device_id = $1', [deviceId]);
  return Number(rows[0]!.n);
}

delivery('the same message delivered twice is stored once; a poison message is dead-lettered while later ones are stored', async () => {
  const deps = d.p!.deps;
  const trigger = await startTrigger(ingest, deps, { backoffMs: 10, retries: 2 });
  const dead = `test.dead.${randomUUID()}`;
  await deps.bus.declareQueue({ name: dead, durable: false, exclusive: true, bindings: [{ exchange: exchanges.deadLetter, pattern: `telemetry.${d.device}` }] });
  const deadLetters: string[] = [];
  const deadSub = await deps.bus.consume(dead, async (m) => void deadLetters.push(m.body.toString()));
  const twice = telemetryEvent(d.device!, recentDay, 1);
  await deps.bus.publish(exchanges.telemetry, telemetryRoutingKey(d.device!), eventMessage(twice));
  await deps.bus.publish(exchanges.telemetry, telemetryRoutingKey(d.device!), eventMessage(twice));
  await deps.bus.publish(exchanges.telemetry, telemetryRoutingKey(d.device!), { id: randomUUID(), type: eventTypes.telemetry, body: Buffer.from('{"poison": true') });
  const poisonData = cloudEvent({ type: eventTypes.telemetry, source: 'x', data: { deviceId: 'not-a-uuid', points: 'many' } });
  await deps.bus.publish(exchanges.telemetry, telemetryRoutingKey(d.device!), eventMessage(poisonData));
  const after = telemetryEvent(d.device!, recentDay + 1_000, 2);
  await deps.bus.publish(exchanges.telemetry, telemetryRoutingKey(d.device!), eventMessage(after));
  await until('later message stored', async () => (await count(d.device!)) === 2);
  await until('both poison messages dead-lettered', () => deadLetters.length === 2);
  await sleep(300);
  assert.is(await count(d.device!), 2, 'the duplicate stored nothing');
  assert.ok(deadLetters.some((b) => b.includes('not-a-uuid')));
  await deadSub.cancel();
  await trigger.cancel();
});

delivery('a consumer killed in the middle of a stream loses nothing and stores every point exactly once', async () => {
  const deps = d.p!.deps;
  const device = randomUUID();
  const total = 400;
  const t0 = recentDay;
  let trigger = await startTrigger(ingest, deps, { prefetch: 50, batchSize: 20 });
  const publishing = (async () => {
    for (let i = 0; i < total; i++) await deps.bus.publish(exchanges.telemetry, telemetryRoutingKey(device), eventMessage(telemetryEvent(device, t0 + i, i)));
  })();
  await until('some stored', async () => (await count(device)) > 50);
  await trigger.cancel();
  await sleep(200);
  trigger = await startTrigger(ingest, deps, { prefetch: 50, batchSize: 20 });
  await publishing;
  await until('all stored', async () => (await count(device)) === total, 30_000);
  await sleep(300);
  assert.is(await count(device), total);
  await trigger.cancel();
});

delivery.after(async () => d.p?.close());
delivery.run();
