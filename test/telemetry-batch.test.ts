/**
 * The MQTT bridge's telemetry batches (functions/devices/model/telemetry-batcher.ts) against the real
 * RabbitMQ, PostgreSQL and the platform's own ingest trigger and relay: how messages are grouped, that every
 * entry is stored exactly once (a redelivered batch, or the same entries in another event, store nothing
 * twice), that the relay pushes each device's newest values, and that a bus that cannot confirm refuses every
 * message of the batch.
 */
import { suite } from 'uvu';
import { randomUUID } from 'node:crypto';
import * as assert from 'uvu/assert';
import type { Socket } from 'socket.io-client';
import { call, signedInUser, startPlatform, type TestPlatform } from './support/platform.ts';
import { collect, sleep, type Collector } from './support/bus.ts';
import { relaySocket } from './support/relay-socket.ts';
import { services } from './support/services.ts';
import { until } from './support/wait.ts';
import { cloudEvent, eventMessage } from '../shared/events.ts';
import { eventTypes, exchanges, telemetryBatchRoutingKey } from '../shared/bus/topology.ts';
import { createRabbitBus } from '../shared/adapters/bus/rabbitmq.ts';
import { TelemetryBatchData, telemetryMessagesOf, type LiveTelemetry } from '../shared/messages.ts';
import { Problem } from '../shared/problem.ts';
import { telemetryBatcher } from '../functions/devices/model/telemetry-batcher.ts';
import type { DeviceIdentity } from '../functions/devices/model/device-auth.ts';
import { recentDay } from './support/time.ts';

type User = Awaited<ReturnType<typeof signedInUser>>;
const ctx: { p?: TestPlatform; owner?: User; devices: DeviceIdentity[]; batches?: Collector; sockets: Socket[] } = { devices: [], sockets: [] };
const t0 = recentDay;

async function stored(deviceId: string): Promise<number> {
  const res = await call(ctx.p!.url, 'GET', `/devices/${deviceId}/telemetry?from=${t0}&to=${t0 + 3_600_000}&limit=10000`, { token: ctx.owner!.accessToken });
  return res.body.items.length;
}

const batchesSeen = () => ctx.batches!.events().map((e) => ({ id: e.id as string, data: TelemetryBatchData.parse(e.data) }));

const test = suite('telemetry batches from the MQTT bridge');
test.before(async () => {
  ctx.p = await startPlatform({ env: { RELAY_COALESCE_MS: '0' } });
  ctx.owner = await signedInUser(ctx.p.url, 'batch');
  for (const name of ['North', 'South']) {
    const res = await call(ctx.p.url, 'POST', '/devices', { token: ctx.owner.accessToken, body: { name, type: 'sensor' } });
    assert.is(res.status, 201);
    ctx.devices.push({ ...res.body.device, ownerId: ctx.owner.userId });
  }
  ctx.batches = await collect(ctx.p.deps.bus, [{ exchange: exchanges.telemetry, pattern: telemetryBatchRoutingKey }]);
});
test.after(async () => {
  for (const socket of ctx.sockets) socket.disconnect();
  await ctx.batches?.stop();
  await ctx.p?.close();
});

test('messages added together go out in batches of at most maxMessages; each is stored once and pushed live', async () => {
  const socket = await relaySocket(ctx.p!.url, ctx.owner!.accessToken, ctx.sockets);
  const live: LiveTelemetry[] = [];
  socket.on('telemetry', (update: LiveTelemetry) => live.push(update));
  const ack = await socket.timeout(5000).emitWithAck('subscribe', { deviceIds: ctx.devices.map((d) => d.id) });
  assert.is(ack.accepted.length, 2);

  const batcher = telemetryBatcher(ctx.p!.deps, { maxMessages: 8, maxWaitMs: 50 });
  await Promise.all(
    Array.from({ length: 20 }, (_, i) => batcher.add(ctx.devices[i % 2]!, [{ ts: t0 + i * 1000, values: { level: i } }], 20)),
  );
  await ctx.batches!.waitFor(3);
  const batches = batchesSeen();
  assert.equal(batches.map((b) => b.data.messages.length), [8, 8, 4], 'full batches go out at once, the rest after the wait');
  const entries = batches.flatMap((b) => b.data.messages);
  assert.is(new Set(entries.map((e) => e.id)).size, 20, 'every device message has an id of its own');
  assert.ok(entries.every((e) => e.via === 'mqtt' && e.ownerId === ctx.owner!.userId));

  for (const device of ctx.devices) await until(`${device.id} stored`, async () => (await stored(device.id)) === 10);
  await until('the newest value of each device live', () =>
    ctx.devices.every((d, k) => live.some((u) => u.deviceId === d.id && u.values.level === 18 + k && u.ts === t0 + (18 + k) * 1000)),
  );
});

test('a batch delivered again, or its entries in another event, store nothing twice', async () => {
  const [first] = ctx.batches!.messages;
  assert.ok(first, 'a batch from the test before');
  await ctx.p!.deps.bus.publish(exchanges.telemetry, telemetryBatchRoutingKey, { ...first, body: first.body, headers: {} });
  const { data } = batchesSeen()[0]!;
  const copy = cloudEvent<TelemetryBatchData>({ type: eventTypes.telemetry, source: '/test', data });
  await ctx.p!.deps.bus.publish(exchanges.telemetry, telemetryBatchRoutingKey, eventMessage(copy));
  // A fresh point after both: once it is stored, the two copies before it were handled.
  const after = cloudEvent<TelemetryBatchData>({
    type: eventTypes.telemetry,
    source: '/test',
    data: { messages: [{ id: randomUUID(), deviceId: ctx.devices[0]!.id, ownerId: ctx.owner!.userId, via: 'mqtt', receivedAt: Date.now(), points: [{ ts: t0 + 60_000, values: { level: -1 } }] }] },
  });
  await ctx.p!.deps.bus.publish(exchanges.telemetry, telemetryBatchRoutingKey, eventMessage(after));
  await until('the point after the copies stored', async () => (await stored(ctx.devices[0]!.id)) === 11);
  await sleep(200);
  assert.is(await stored(ctx.devices[1]!.id), 10, 'the copies stored nothing');
  assert.equal(telemetryMessagesOf(copy.id, copy.data).map((m) => m.id), data.messages.map((m) => m.id), 'a batch is read as its own entries');
});

test('a lone message goes out after maxWaitMs; maxBytes splits a batch', async () => {
  const before = ctx.batches!.messages.length;
  const lone = telemetryBatcher(ctx.p!.deps, { maxMessages: 1000, maxWaitMs: 5 });
  await lone.add(ctx.devices[0]!, [{ ts: t0 + 120_000, values: { lone: 1 } }], 30);
  const bySize = telemetryBatcher(ctx.p!.deps, { maxMessages: 1000, maxBytes: 1000, maxWaitMs: 20 });
  await Promise.all([0, 1, 2].map((i) => bySize.add(ctx.devices[1]!, [{ ts: t0 + 180_000 + i, values: { big: 'x'.repeat(10) } }], 400)));
  await ctx.batches!.waitFor(before + 3);
  assert.equal(batchesSeen().slice(before).map((b) => b.data.messages.length), [1, 2, 1]);
});

test('when the bus does not confirm, every message of the batch is refused as unavailable and nothing is left waiting', async () => {
  const bus = await createRabbitBus(services.amqpUrl, { name: 'iotfn-test-closed', log: () => undefined });
  await bus.close();
  const batcher = telemetryBatcher({ ...ctx.p!.deps, bus }, { maxMessages: 2, maxWaitMs: 5 });
  const outcomes = await Promise.allSettled([0, 1, 2].map((i) => batcher.add(ctx.devices[0]!, [{ ts: t0 + i, values: { lost: i } }], 10)));
  for (const outcome of outcomes) {
    assert.is(outcome.status, 'rejected');
    const reason = (outcome as PromiseRejectedResult).reason;
    assert.ok(reason instanceof Problem && reason.status === 503, `unavailable, got ${String(reason)}`);
  }
  await batcher.drain();
});

test.run();
