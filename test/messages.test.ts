/**
 * Every message shape of shared/messages.ts against what the code really sends, on the real services: one
 * device's life through the API (created, updated, telemetry, online, configuration, reported state, commands
 * queued → sent → succeeded and one expired, an alert opened and cleared, token rotated, offline, deleted)
 * while a collector on both exchanges and a subscribed relay socket record what goes out. Each event's data
 * must parse with the schema of its routing key, each relay event with the schema of its name, and every
 * schema must have met at least one real message.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Socket } from 'socket.io-client';
import type { z } from 'zod';
import { call, signedInUser, startPlatform, type TestPlatform } from './support/platform.ts';
import { collect, type Collector } from './support/bus.ts';
import { relaySocket } from './support/relay-socket.ts';
import { until } from './support/wait.ts';
import { exchanges } from '../shared/bus/topology.ts';
import { eventData, liveEvents, TelemetryData, type EventName } from '../shared/messages.ts';
import { sweepOffline } from '../functions/devices/model/presence.ts';
import { expireCommands } from '../functions/devices/model/device-commands.ts';

type User = Awaited<ReturnType<typeof signedInUser>>;
const ctx: { p?: TestPlatform; user?: User; bus?: Collector; sockets: Socket[]; live: Array<{ name: string; message: unknown }> } = { sockets: [], live: [] };
const base = () => ctx.p!.url;
const as = (method: string, path: string, body?: unknown) => call(base(), method, path, { token: ctx.user!.accessToken, body });

/** The issues of a parse, readable in an assertion message. */
function problems(schema: z.ZodType, value: unknown): string | undefined {
  const parsed = schema.safeParse(value);
  return parsed.success ? undefined : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
}

const messages = suite('message schemas: what producers send parses with shared/messages.ts');

messages.before(async () => {
  ctx.p = await startPlatform({ env: { RELAY_COALESCE_MS: '0' } });
  ctx.user = await signedInUser(base(), 'messages');
  ctx.bus = await collect(ctx.p.deps.bus, [
    { exchange: exchanges.events, pattern: '#' },
    { exchange: exchanges.telemetry, pattern: 'telemetry.*' },
  ]);
});

messages.after(async () => {
  ctx.sockets.forEach((socket) => socket.close());
  await ctx.bus?.stop();
  await ctx.p?.close();
});

messages('a device\'s whole life: every event on the bus and every relay event has its schema\'s shape', async () => {
  const made = await as('POST', '/devices', { name: 'Shapes', type: 'sensor', location: { lat: 52.5, lon: 13.4 } });
  assert.is(made.status, 201);
  const id = made.body.device.id as string;
  let token = made.body.deviceToken as string;
  const asDevice = (method: string, path: string, body?: unknown) => call(base(), method, path, { body, headers: { authorization: `Device ${token}` } });

  const socket = await relaySocket(base(), ctx.user!.accessToken, ctx.sockets);
  for (const name of Object.keys(liveEvents)) socket.on(name, (message: unknown) => ctx.live.push({ name, message }));
  const ack = await socket.timeout(5000).emitWithAck('subscribe', { deviceIds: [id] });
  assert.equal(ack, { accepted: [id], refused: [] });

  assert.is((await as('PATCH', `/devices/${id}`, { name: 'Shapes 2', tags: ['a'] })).status, 200);
  assert.is((await as('POST', `/devices/${id}/rules`, { key: 'temperature', op: 'gt', value: 30 })).status, 201);
  const t0 = Date.now() - 60_000;
  assert.is((await asDevice('POST', '/telemetry', [{ ts: t0, values: { temperature: 35, door: true, mode: 'eco' } }])).status, 202);
  await until('the alert opened', async () => (await as('GET', `/alerts?deviceId=${id}&state=open`)).body.items?.length === 1);
  assert.is((await asDevice('POST', '/telemetry', { ts: t0 + 1000, values: { temperature: 20 } })).status, 202);
  await until('the alert cleared', async () => (await as('GET', `/alerts?deviceId=${id}&state=cleared`)).body.items?.length === 1);

  assert.is((await as('PUT', `/devices/${id}/config`, { config: { interval: 5, nested: { on: true } } })).status, 200);
  assert.is((await asDevice('PUT', '/device/state', { version: 1, state: { interval: 5 } })).status, 204);
  assert.is((await asDevice('PUT', '/device/state', { state: { booting: true } })).status, 204, 'a report without a version');
  const command = (await as('POST', `/devices/${id}/commands`, { name: 'reboot', params: { delay: 1 } })).body.command;
  assert.is((await asDevice('GET', '/device/commands')).body.commands.length, 1);
  assert.is((await asDevice('POST', `/device/commands/${command.id}/result`, { status: 'succeeded', result: { took: 3 } })).status, 200);
  assert.is((await as('POST', `/devices/${id}/commands`, { name: 'wait', timeoutSeconds: 1 })).status, 202);
  assert.ok((await expireCommands(ctx.p!.deps, Date.now() + 5000)) >= 1, 'a command expired');

  const rotated = await as('POST', `/devices/${id}/token`);
  assert.is(rotated.status, 200);
  token = rotated.body.deviceToken;
  assert.ok((await sweepOffline(ctx.p!.deps, Date.now() + 3_600_000)) >= 1, 'the device went offline');
  assert.is((await as('DELETE', `/devices/${id}`)).status, 204);

  const mine = () => ctx.bus!.messages.filter((m) => JSON.parse(m.body.toString('utf8')).subject === id);
  await until('device.deleted on the bus', () => mine().some((m) => m.routingKey === 'device.deleted'));
  const seen = new Set<string>();
  for (const message of mine()) {
    const event = JSON.parse(message.body.toString('utf8')) as { data: unknown };
    if (message.exchange === exchanges.telemetry) {
      assert.is(problems(TelemetryData, event.data), undefined, `telemetry: ${JSON.stringify(event.data)}`);
      seen.add('telemetry');
      continue;
    }
    const schema = eventData[message.routingKey as EventName];
    assert.ok(schema, `a schema for ${message.routingKey}`);
    assert.is(problems(schema, event.data), undefined, `${message.routingKey}: ${JSON.stringify(event.data)}`);
    seen.add(message.routingKey);
  }
  assert.equal([...seen].sort(), ['telemetry', ...Object.keys(eventData)].sort(), 'every event schema met a real event');

  // The relay drops what does not parse, so a relay event missing here is one the relay could not read.
  await until('device:deleted on the socket', () => ctx.live.some((e) => e.name === 'device:deleted'), 5000).catch(() => undefined);
  const liveSeen = new Set<string>();
  for (const { name, message } of ctx.live) {
    assert.is(problems(liveEvents[name as keyof typeof liveEvents], message), undefined, `${name}: ${JSON.stringify(message)}`);
    liveSeen.add(name);
  }
  assert.equal([...liveSeen].sort(), Object.keys(liveEvents).sort(), 'every relay event schema met a real message');
  const kinds = new Set(ctx.live.filter((e) => e.name === 'device:config').map((e) => (e.message as { kind: string }).kind));
  assert.equal([...kinds].sort(), ['desired', 'reported']);
});

messages.run();
