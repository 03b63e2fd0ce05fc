/**
 * Alerts end to end against the real services: rule CRUD with validation and owner isolation; crafted
 * telemetry sequences through POST /telemetry → RabbitMQ → ingest that open and clear alerts (gt with
 * forSeconds, outside); a redelivered message opening nothing twice; the no-data sweep firing after its
 * window and clearing on data; acknowledging; and the live `alert` event on a subscribed socket. The
 * suite runs on the real services and again on the embedded adapters.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Socket } from 'socket.io-client';
import { call, signedInUser, startPlatform, type TestPlatform } from './support/platform.ts';
import { sleep } from './support/bus.ts';
import { relaySocket } from './support/relay-socket.ts';
import { until } from './support/wait.ts';
import { cloudEvent } from '../shared/events.ts';
import { eventTypes } from '../shared/bus/topology.ts';
import { functionNamed } from '../functions/registry.ts';
import { sweepNoData } from '../functions/monitoring/model/alerts.ts';

type User = Awaited<ReturnType<typeof signedInUser>>;
interface TestDevice {
  id: string;
  token: string;
}
const ctx: { p?: TestPlatform; owner?: User; other?: User; sockets: Socket[] } = { sockets: [] };
const base = () => ctx.p!.url;
const as = (user: User, method: string, path: string, body?: unknown) => call(base(), method, path, { token: user.accessToken, body });

async function newDevice(name: string): Promise<TestDevice> {
  const res = await as(ctx.owner!, 'POST', '/devices', { name, type: 'sensor' });
  assert.is(res.status, 201);
  return { id: res.body.device.id, token: res.body.deviceToken };
}

async function send(device: TestDevice, points: Array<{ ts: number; values: Record<string, unknown> }>): Promise<void> {
  const res = await call(base(), 'POST', '/telemetry', { body: points, headers: { authorization: `Device ${device.token}` } });
  assert.is(res.status, 202, JSON.stringify(res.body));
}

/** Waits until the points are stored (so evaluated too: ingest evaluates before it acknowledges). */
async function sendAndSettle(device: TestDevice, key: string, points: Array<{ ts: number; value: number }>): Promise<void> {
  await send(
    device,
    points.map((p) => ({ ts: p.ts, values: { [key]: p.value } })),
  );
  const last = points[points.length - 1]!.ts;
  await until('points stored', async () => {
    const res = await as(ctx.owner!, 'GET', `/devices/${device.id}/telemetry?keys=${key}&from=${last}&to=${last + 1}`);
    return res.body.items?.length === 1;
  });
  // Storing and evaluating are one handler call: give the evaluation's commit a moment after the write.
  await sleep(100);
}

const alertsOf = async (device: TestDevice, state?: 'open' | 'cleared') =>
  (await as(ctx.owner!, 'GET', `/alerts?deviceId=${device.id}${state ? `&state=${state}` : ''}`)).body.items as Array<Record<string, unknown>>;

const rule = async (device: TestDevice, body: Record<string, unknown>) => {
  const res = await as(ctx.owner!, 'POST', `/devices/${device.id}/rules`, body);
  assert.is(res.status, 201, JSON.stringify(res.body));
  return res.body as { id: string };
};

const socketFor = (user: User): Promise<Socket> => relaySocket(base(), user.accessToken, ctx.sockets);

/** The same suite on the real services and on the embedded adapters of `npm start` (PGlite, in-process bus). */
function alertSuite(label: string, options: { embedded?: boolean }): void {
  const alerts = suite(`alerts: rules, evaluation, no-data, live (${label})`);
  alerts.before(async () => {
    ctx.sockets = [];
    ctx.p = await startPlatform({ ...options, env: { RELAY_COALESCE_MS: '20', ...(options.embedded ? { NODE_ENV: 'test' } : {}) } });
    ctx.owner = await signedInUser(base(), 'alert');
    ctx.other = await signedInUser(base(), 'snoop');
  });
  alerts.after(async () => {
    for (const socket of ctx.sockets) socket.disconnect();
    await ctx.p?.close();
  });

  alerts('rules: create, list, change, delete; invalid rules are refused', async () => {
    const device = await newDevice('Crud');
    const created = await as(ctx.owner!, 'POST', `/devices/${device.id}/rules`, { key: 'temperature', op: 'gt', value: 80, forSeconds: 30 });
    assert.is(created.status, 201);
    assert.equal({ ...created.body, id: undefined, createdAt: undefined, updatedAt: undefined }, {
      id: undefined,
      deviceId: device.id,
      key: 'temperature',
      op: 'gt',
      value: 80,
      low: null,
      high: null,
      forSeconds: 30,
      createdAt: undefined,
      updatedAt: undefined,
    });
    const listed = await as(ctx.owner!, 'GET', `/devices/${device.id}/rules`);
    assert.equal(listed.body.items.map((r: { id: string }) => r.id), [created.body.id]);

    const patched = await as(ctx.owner!, 'PATCH', `/devices/${device.id}/rules/${created.body.id}`, { value: 85 });
    assert.is(patched.status, 200);
    assert.is(patched.body.value, 85);
    const badPatch = await as(ctx.owner!, 'PATCH', `/devices/${device.id}/rules/${created.body.id}`, { op: 'outside' });
    assert.is(badPatch.status, 400, 'outside without low/high');
    const toNoData = await as(ctx.owner!, 'PATCH', `/devices/${device.id}/rules/${created.body.id}`, { op: 'nodata', value: null, forSeconds: 60 });
    assert.is(toNoData.status, 200, JSON.stringify(toNoData.body));
    assert.is(toNoData.body.value, null);

    for (const bad of [
      { key: 't', op: 'gt' },
      { key: 't', op: 'lt', low: 1 },
      { key: 't', op: 'outside', low: 5, high: 5 },
      { key: 't', op: 'outside', low: 5 },
      { key: 't', op: 'nodata' },
      { key: 't', op: 'nodata', forSeconds: 0 },
      { key: 't', op: 'nodata', forSeconds: 5, value: 3 },
      { key: '', op: 'gt', value: 1 },
      { key: 't', op: 'between', value: 1 },
    ]) {
      const res = await as(ctx.owner!, 'POST', `/devices/${device.id}/rules`, bad);
      assert.is(res.status, 400, JSON.stringify(bad));
    }

    const deleted = await as(ctx.owner!, 'DELETE', `/devices/${device.id}/rules/${created.body.id}`);
    assert.is(deleted.status, 204);
    assert.is((await as(ctx.owner!, 'DELETE', `/devices/${device.id}/rules/${created.body.id}`)).status, 404);
    assert.equal((await as(ctx.owner!, 'GET', `/devices/${device.id}/rules`)).body.items, []);
  });

  alerts("another user's device, rule and alert are not found", async () => {
    const device = await newDevice('Private');
    const r = await rule(device, { key: 'temperature', op: 'gt', value: 10 });
    const other = ctx.other!;
    assert.is((await as(other, 'POST', `/devices/${device.id}/rules`, { key: 'temperature', op: 'gt', value: 1 })).status, 404);
    assert.is((await as(other, 'GET', `/devices/${device.id}/rules`)).status, 404);
    assert.is((await as(other, 'PATCH', `/devices/${device.id}/rules/${r.id}`, { value: 1 })).status, 404);
    assert.is((await as(other, 'DELETE', `/devices/${device.id}/rules/${r.id}`)).status, 404);
    const t0 = Date.now() - 10_000;
    await sendAndSettle(device, 'temperature', [{ ts: t0, value: 20 }]);
    const open = await until('alert opened', async () => (await alertsOf(device, 'open'))[0]);
    assert.is((await as(other, 'POST', `/alerts/${String(open.id)}/ack`)).status, 404);
    assert.equal((await as(other, 'GET', `/alerts?deviceId=${device.id}`)).body.items, []);
    assert.is((await as(ctx.owner!, 'GET', `/devices/${device.id}/rules`)).body.items.length, 1, 'nothing changed');
  });

  alerts('gt with forSeconds: opens only after the condition held that long on point time, clears below', async () => {
    const device = await newDevice('Boiler');
    await rule(device, { key: 'temperature', op: 'gt', value: 80, forSeconds: 10 });
    const t0 = Date.now() - 120_000;
    // Above for 5 s, then below: the pending time starts again.
    await sendAndSettle(device, 'temperature', [
      { ts: t0, value: 81 },
      { ts: t0 + 5_000, value: 90 },
      { ts: t0 + 6_000, value: 70 },
    ]);
    assert.equal(await alertsOf(device), [], 'not held long enough');
    await sendAndSettle(device, 'temperature', [{ ts: t0 + 20_000, value: 85 }]);
    await sendAndSettle(device, 'temperature', [{ ts: t0 + 25_000, value: 86 }]);
    assert.equal(await alertsOf(device), [], '5 s of 10');
    await sendAndSettle(device, 'temperature', [{ ts: t0 + 30_000, value: 87 }]);
    const [opened] = await until('opened', async () => {
      const list = await alertsOf(device, 'open');
      return list.length === 1 ? list : undefined;
    });
    assert.is(opened!.value, 87);
    assert.is(opened!.openedAt, new Date(t0 + 30_000).toISOString());
    // Still above: stays the one open alert.
    await sendAndSettle(device, 'temperature', [{ ts: t0 + 35_000, value: 99 }]);
    assert.is((await alertsOf(device)).length, 1);
    await sendAndSettle(device, 'temperature', [{ ts: t0 + 40_000, value: 79 }]);
    const [cleared] = await until('cleared', async () => {
      const list = await alertsOf(device, 'cleared');
      return list.length === 1 ? list : undefined;
    });
    assert.is(cleared!.clearedAt, new Date(t0 + 40_000).toISOString());
    assert.equal(await alertsOf(device, 'open'), []);
    // Non-numeric values of the key are not thresholds: nothing happens.
    await send(device, [{ ts: t0 + 50_000, values: { temperature: 'hot' } }]);
    await sleep(300);
    assert.is((await alertsOf(device)).length, 1);
  });

  alerts('outside: opens out of the band and clears back inside; lt too', async () => {
    const device = await newDevice('Fridge');
    await rule(device, { key: 'humidity', op: 'outside', low: 30, high: 60 });
    await rule(device, { key: 'battery', op: 'lt', value: 10 });
    const t0 = Date.now() - 60_000;
    await sendAndSettle(device, 'humidity', [
      { ts: t0, value: 45 },
      { ts: t0 + 1_000, value: 25 },
    ]);
    await until('opened low', async () => (await alertsOf(device, 'open')).length === 1);
    await sendAndSettle(device, 'humidity', [
      { ts: t0 + 2_000, value: 65 },
      { ts: t0 + 3_000, value: 50 },
    ]);
    await until('cleared', async () => (await alertsOf(device, 'cleared')).length === 1);
    await sendAndSettle(device, 'humidity', [{ ts: t0 + 4_000, value: 70 }]);
    await until('opened high', async () => (await alertsOf(device, 'open')).length === 1);
    await sendAndSettle(device, 'battery', [{ ts: t0 + 5_000, value: 5 }]);
    const open = await until('battery alert', async () => {
      const list = await alertsOf(device, 'open');
      return list.length === 2 ? list : undefined;
    });
    assert.equal(open.map((a) => a.key).sort(), ['battery', 'humidity']);
  });

  alerts('a redelivered message opens no second alert and clears nothing twice', async () => {
    const device = await newDevice('Twice');
    const r = await rule(device, { key: 'pressure', op: 'gt', value: 2 });
    const ingest = functionNamed('ingestTelemetry');
    assert.ok(ingest && ingest.kind === 'event');
    const t0 = Date.now() - 30_000;
    const owner = ctx.owner!.userId;
    const message = (ts: number, value: number) =>
      cloudEvent({ type: eventTypes.telemetry, source: '/test', data: { deviceId: device.id, ownerId: owner, via: 'http', receivedAt: Date.now(), points: [{ ts, values: { pressure: value } }] } });
    const deliver = async (event: ReturnType<typeof message>) => {
      if (ingest?.kind !== 'event') return;
      await ingest.handler({ event, data: ingest.data.parse(event.data), deps: ctx.p!.deps, log: ctx.p!.deps.log });
    };
    const high = message(t0, 3);
    await deliver(high);
    await deliver(high);
    const low = message(t0 + 1_000, 1);
    await deliver(low);
    // The high one again after the clear: older than what was evaluated, so it re-opens nothing.
    await deliver(high);
    await deliver(low);
    const all = await alertsOf(device);
    assert.is(all.length, 1);
    assert.is(all[0]!.state, 'cleared');
    assert.is(all[0]!.ruleId, r.id);
  });

  alerts('nodata: opens after its window without data, once, and clears when data arrives', async () => {
    const device = await newDevice('Quiet');
    await rule(device, { key: 'heartbeat', op: 'nodata', forSeconds: 1 });
    await sendAndSettle(device, 'heartbeat', [{ ts: Date.now(), value: 1 }]);
    await sweepNoData(ctx.p!.deps);
    assert.equal(await alertsOf(device), [], 'data within the window');
    await sleep(1_200);
    await sweepNoData(ctx.p!.deps);
    await sweepNoData(ctx.p!.deps);
    const open = await until('no-data alert', async () => {
      const list = await alertsOf(device, 'open');
      return list.length === 1 ? list : undefined;
    }, 5_000);
    assert.is(open[0]!.key, 'heartbeat');
    assert.is(open[0]!.value, null);
    assert.is((await alertsOf(device)).length, 1, 'one alert however often the sweep runs');
    await sendAndSettle(device, 'heartbeat', [{ ts: Date.now(), value: 1 }]);
    await until('cleared on data', async () => (await alertsOf(device, 'cleared')).length === 1, 5_000);
    assert.equal(await alertsOf(device, 'open'), []);
  });

  alerts('ack: sets acknowledgedAt once; the list filters and pages newest first', async () => {
    const device = await newDevice('Ack');
    await rule(device, { key: 'a', op: 'gt', value: 0 });
    await rule(device, { key: 'b', op: 'gt', value: 0 });
    const t0 = Date.now() - 10_000;
    await sendAndSettle(device, 'a', [{ ts: t0, value: 1 }]);
    await sendAndSettle(device, 'b', [{ ts: t0 + 1_000, value: 1 }]);
    const open = await until('two open', async () => {
      const list = await alertsOf(device, 'open');
      return list.length === 2 ? list : undefined;
    });
    assert.equal(open.map((a) => a.key), ['b', 'a'], 'newest first');
    const acked = await as(ctx.owner!, 'POST', `/alerts/${String(open[1]!.id)}/ack`);
    assert.is(acked.status, 200);
    assert.type(acked.body.acknowledgedAt, 'string');
    const again = await as(ctx.owner!, 'POST', `/alerts/${String(open[1]!.id)}/ack`);
    assert.is(again.body.acknowledgedAt, acked.body.acknowledgedAt);
    const page1 = await as(ctx.owner!, 'GET', `/alerts?deviceId=${device.id}&limit=1`);
    assert.is(page1.body.items[0].key, 'b');
    const page2 = await as(ctx.owner!, 'GET', `/alerts?deviceId=${device.id}&limit=1&cursor=${page1.body.nextCursor}`);
    assert.is(page2.body.items[0].key, 'a');
    assert.is(page2.body.nextCursor, null);
    assert.equal((await alertsOf(device, 'cleared')), []);
    assert.is((await as(ctx.owner!, 'POST', '/alerts/00000000-0000-4000-8000-000000000000/ack')).status, 404);
  });

  alerts('a subscribed socket gets the alert live as it opens and clears', async () => {
    const device = await newDevice('Live');
    await rule(device, { key: 'temperature', op: 'gt', value: 50 });
    const socket = await socketFor(ctx.owner!);
    const ack = (await socket.timeout(5000).emitWithAck('subscribe', { deviceIds: [device.id] })) as { accepted: string[] };
    assert.equal(ack.accepted, [device.id]);
    const received: Array<{ alert: { state: string; deviceId: string } }> = [];
    socket.on('alert', (update) => received.push(update));
    const t0 = Date.now() - 5_000;
    await send(device, [{ ts: t0, values: { temperature: 60 } }]);
    await until('opened live', () => received.some((u) => u.alert.state === 'open'), 10_000);
    await send(device, [{ ts: t0 + 1_000, values: { temperature: 40 } }]);
    await until('cleared live', () => received.some((u) => u.alert.state === 'cleared'), 10_000);
    assert.ok(received.every((u) => u.alert.deviceId === device.id));
  });

  alerts.run();
}

alertSuite('real services', {});
alertSuite('embedded', { embedded: true });
