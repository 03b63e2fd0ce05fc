/**
 * Devices sending telemetry over HTTP: what reaches RabbitMQ, what is refused (and then nothing is
 * published), token rotation and disabling, presence and device.status events.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { call, signedInUser, startPlatform, type TestPlatform } from './support/platform.ts';
import { collect, sleep, type Collector } from './support/bus.ts';
import { exchanges, telemetryRoutingKey } from '../shared/bus/topology.ts';
import { sweepOffline } from '../functions/devices/model/presence.ts';

type User = Awaited<ReturnType<typeof signedInUser>>;
const ctx: { p?: TestPlatform; user?: User; device?: { id: string }; token?: string; telemetry?: Collector; status?: Collector } = {};
const base = () => ctx.p!.url;

async function send(body: unknown, token: string | null = ctx.token!, headers: Record<string, string> = {}) {
  return call(base(), 'POST', '/telemetry', { body, headers: { ...(token ? { authorization: `Device ${token}` } : {}), ...headers } });
}

const ingest = suite('telemetry over HTTP');
ingest.before(async () => {
  ctx.p = await startPlatform({ env: { TELEMETRY_MAX_POINTS: '100', BODY_LIMIT_BYTES: '65536', DEVICE_ONLINE_SECONDS: '2' } });
  ctx.user = await signedInUser(base(), 'telemetry');
  const res = await call(base(), 'POST', '/devices', { token: ctx.user.accessToken, body: { name: 'Thermo', type: 'sensor' } });
  ctx.device = res.body.device;
  ctx.token = res.body.deviceToken;
  ctx.telemetry = await collect(ctx.p.deps.bus, [{ exchange: exchanges.telemetry, pattern: telemetryRoutingKey(ctx.device!.id) }]);
  ctx.status = await collect(ctx.p.deps.bus, [{ exchange: exchanges.events, pattern: 'device.status' }]);
});

ingest('a point is confirmed with 202 and reaches the telemetry exchange as a CloudEvent', async () => {
  const res = await send({ ts: 1767225600000, values: { temperature: 21.5, door: false, mode: 'eco' } });
  assert.is(res.status, 202);
  assert.is(res.body.accepted, 1);
  const [message] = await ctx.telemetry!.waitFor(1);
  assert.is(message!.id, res.body.id);
  assert.is(message!.type, 'iotfn.telemetry');
  assert.is(message!.routingKey, `telemetry.${ctx.device!.id}`);
  const event = JSON.parse(message!.body.toString());
  assert.is(event.specversion, '1.0');
  assert.is(event.subject, ctx.device!.id);
  assert.is(event.data.ownerId, ctx.user!.userId);
  assert.is(event.data.via, 'http');
  assert.equal(event.data.points, [{ ts: 1767225600000, values: { temperature: 21.5, door: false, mode: 'eco' } }]);
});

ingest('an array of points goes as one message; a missing ts becomes the arrival time', async () => {
  const before = ctx.telemetry!.messages.length;
  const started = Date.now();
  const res = await send([{ values: { a: 1 } }, { ts: 1767225660000, values: { a: 2 } }]);
  assert.is(res.status, 202);
  assert.is(res.body.accepted, 2);
  const messages = await ctx.telemetry!.waitFor(before + 1);
  const points = JSON.parse(messages[before]!.body.toString()).data.points;
  assert.ok(points[0].ts >= started && points[0].ts <= Date.now());
  assert.is(points[1].ts, 1767225660000);
});

ingest('every bad input is refused with problem+json and nothing is published', async () => {
  const before = ctx.telemetry!.messages.length;
  const cases: Array<[number, string, () => Promise<{ status: number; body: any }>]> = [ // eslint-disable-line @typescript-eslint/no-explicit-any
    [401, '/problems/unauthenticated', () => send({ values: { a: 1 } }, null)],
    [401, '/problems/unauthenticated', () => send({ values: { a: 1 } }, null, { authorization: `Bearer ${ctx.user!.accessToken}` })],
    [401, '/problems/unauthenticated', () => send({ values: { a: 1 } }, 'dt_not-a-real-token')],
    [400, '/problems/invalid-json', () => call(base(), 'POST', '/telemetry', { raw: '{"values":', headers: { authorization: `Device ${ctx.token}`, 'content-type': 'application/json' } })],
    [415, '/problems/unsupported-media-type', () => call(base(), 'POST', '/telemetry', { raw: 'a=1', headers: { authorization: `Device ${ctx.token}`, 'content-type': 'text/plain' } })],
    [400, '/problems/validation', () => send({ values: {} })],
    [400, '/problems/validation', () => send({ values: { a: { nested: 1 } } })],
    [400, '/problems/validation', () => send({ values: { 'bad key!': 1 } })],
    // JSON.parse reads 1e400 as Infinity, which no store can hold as a number.
    [400, '/problems/validation', () => call(base(), 'POST', '/telemetry', { raw: '{"values":{"a":1e400}}', headers: { authorization: `Device ${ctx.token}`, 'content-type': 'application/json' } })],
    [400, '/problems/validation', () => send({ ts: Date.now() + 3 * 86400_000, values: { a: 1 } })],
    [400, '/problems/validation', () => send({ ts: -5, values: { a: 1 } })],
    [400, '/problems/validation', () => send([])],
    [400, '/problems/validation', () => send('just a string')],
    [413, '/problems/too-many-points', () => send(Array.from({ length: 101 }, () => ({ values: { a: 1 } })))],
    [413, '/problems/payload-too-large', () => send({ values: { a: 'x'.repeat(1000) }, pad: 'y'.repeat(70_000) })],
  ];
  for (const [status, type, run] of cases) {
    const res = await run();
    assert.is(res.status, status, `${type}: ${JSON.stringify(res.body)}`);
    assert.is(res.body.type, type);
  }
  await sleep(300);
  assert.is(ctx.telemetry!.messages.length, before, 'nothing published for refused input');
});

ingest('a rotated token stops at once, the new one works', async () => {
  const old = ctx.token!;
  assert.is((await send({ values: { a: 1 } }, old)).status, 202);
  const rotated = await call(base(), 'POST', `/devices/${ctx.device!.id}/token`, { token: ctx.user!.accessToken });
  assert.is(rotated.status, 200);
  ctx.token = rotated.body.deviceToken;
  assert.is((await send({ values: { a: 1 } }, old)).status, 401);
  assert.is((await send({ values: { a: 1 } })).status, 202);
  await sleep(700);
  assert.is((await send({ values: { a: 1 } }, old)).status, 401, 'still refused after the cache settles');
});

ingest('a disabled device is refused with 403 until enabled again', async () => {
  await call(base(), 'PATCH', `/devices/${ctx.device!.id}`, { token: ctx.user!.accessToken, body: { status: 'disabled' } });
  const refused = await send({ values: { a: 1 } });
  assert.is(refused.status, 403);
  assert.is(refused.body.type, '/problems/device-disabled');
  await call(base(), 'PATCH', `/devices/${ctx.device!.id}`, { token: ctx.user!.accessToken, body: { status: 'active' } });
  assert.is((await send({ values: { a: 1 } })).status, 202);
});

ingest('sending makes the device online with device.status events both ways', async () => {
  await send({ values: { a: 1 } });
  const device = await call(base(), 'GET', `/devices/${ctx.device!.id}`, { token: ctx.user!.accessToken });
  assert.is(device.body.online, true);
  assert.ok(Date.now() - Date.parse(device.body.lastSeenAt) < 5000);
  const online = await call(base(), 'GET', '/devices?online=true', { token: ctx.user!.accessToken });
  assert.equal(online.body.items.map((d: { id: string }) => d.id), [ctx.device!.id]);
  const mine = () => ctx.status!.events().filter((e) => e.data.deviceId === ctx.device!.id);
  const deadline = Date.now() + 5000;
  while (!mine().some((e) => e.data.online === true) && Date.now() < deadline) await sleep(20);
  assert.ok(mine().some((e) => e.data.online === true), 'online announced');
  await sleep(2100);
  await sweepOffline(ctx.p!.deps);
  while (!mine().some((e) => e.data.online === false) && Date.now() < deadline + 5000) await sleep(20);
  const last = mine().at(-1)!;
  assert.is(last.data.online, false);
  assert.is(last.data.ownerId, ctx.user!.userId);
  assert.is((await call(base(), 'GET', `/devices/${ctx.device!.id}`, { token: ctx.user!.accessToken })).body.online, false);
  assert.is((await call(base(), 'GET', '/devices?online=false', { token: ctx.user!.accessToken })).body.total, 1);
  assert.is(await sweepOffline(ctx.p!.deps), 0, 'offline is announced once');
});

ingest('a deleted device\'s token is refused', async () => {
  await call(base(), 'DELETE', `/devices/${ctx.device!.id}`, { token: ctx.user!.accessToken });
  assert.is((await send({ values: { a: 1 } })).status, 401);
});

ingest.after(async () => {
  await ctx.telemetry?.stop();
  await ctx.status?.stop();
  await ctx.p?.close();
});
ingest.run();
