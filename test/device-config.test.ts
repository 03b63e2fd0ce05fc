/**
 * Device configuration, reported state and commands over HTTP, against the real services and again on the
 * embedded adapters: versioned desired configuration with If-Match, bounds (413, NUL, depth), owner isolation,
 * the device's conditional and long-polling reads, state reports and sync, the command state machine (poll →
 * sent → result, wait=true, expiry, 404/409), paging, the events on the bus and the live relay events.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Socket } from 'socket.io-client';
import { call, signedInUser, startPlatform, type TestPlatform } from './support/platform.ts';
import { collect, sleep, type Collector } from './support/bus.ts';
import { relaySocket } from './support/relay-socket.ts';
import { until } from './support/wait.ts';
import { exchanges } from '../shared/bus/topology.ts';
import { CONFIG_MAX_BYTES } from '../functions/devices/model/device-config.ts';
import { expireCommands } from '../functions/devices/model/device-commands.ts';

type User = Awaited<ReturnType<typeof signedInUser>>;
interface TestDevice {
  id: string;
  token: string;
}
const ctx: { p?: TestPlatform; owner?: User; other?: User; sockets: Socket[]; events?: Collector } = { sockets: [] };
const base = () => ctx.p!.url;
const as = (user: User, method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
  call(base(), method, path, { token: user.accessToken, body, headers });
const asDevice = (device: TestDevice, method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
  call(base(), method, path, { body, headers: { authorization: `Device ${device.token}`, ...headers } });
const unknownId = '00000000-0000-4000-8000-000000000000';

async function newDevice(name: string): Promise<TestDevice> {
  const res = await as(ctx.owner!, 'POST', '/devices', { name, type: 'sensor' });
  assert.is(res.status, 201);
  return { id: res.body.device.id, token: res.body.deviceToken };
}

const putConfig = (device: TestDevice, config: unknown, headers?: Record<string, string>) => as(ctx.owner!, 'PUT', `/devices/${device.id}/config`, { config }, headers);
const sendCommand = (device: TestDevice, body: unknown, query = '') => as(ctx.owner!, 'POST', `/devices/${device.id}/commands${query}`, body);

function configSuite(label: string, options: { embedded?: boolean }): void {
  const config = suite(`device configuration, state and commands (${label})`);
  config.before(async () => {
    ctx.sockets = [];
    ctx.p = await startPlatform({ ...options, env: { RELAY_COALESCE_MS: '20', ...(options.embedded ? { NODE_ENV: 'test' } : {}) } });
    ctx.owner = await signedInUser(base(), 'config');
    ctx.other = await signedInUser(base(), 'snoop');
    ctx.events = await collect(ctx.p.deps.bus, [
      { exchange: exchanges.events, pattern: 'device.config.updated' },
      { exchange: exchanges.events, pattern: 'device.state.reported' },
      { exchange: exchanges.events, pattern: 'command.updated' },
    ]);
  });
  config.after(async () => {
    for (const socket of ctx.sockets) socket.disconnect();
    await ctx.events?.stop();
    await ctx.p?.close();
  });

  config('desired configuration: versions, ETag, If-Match in its three spellings, 412 with the current ETag', async () => {
    const device = await newDevice('Thermostat');
    const initial = await as(ctx.owner!, 'GET', `/devices/${device.id}/config`);
    assert.is(initial.status, 200);
    assert.equal(initial.body, { desired: { version: 0, config: {}, updatedAt: null }, reported: null, inSync: false });

    const first = await putConfig(device, { setpoint: 21, schedule: { night: 17 } });
    assert.is(first.status, 200, JSON.stringify(first.body));
    assert.is(first.body.version, 1);
    assert.equal(first.body.config, { setpoint: 21, schedule: { night: 17 } });
    assert.type(first.body.updatedAt, 'string');
    assert.is(first.headers.get('etag'), '"1"');

    assert.is((await putConfig(device, { setpoint: 22 }, { 'if-match': '"1"' })).body.version, 2);
    assert.is((await putConfig(device, { setpoint: 23 }, { 'if-match': '2' })).body.version, 3);
    assert.is((await putConfig(device, { setpoint: 24 }, { 'if-match': 'W/"3"' })).body.version, 4);

    const stale = await putConfig(device, { setpoint: 99 }, { 'if-match': '"3"' });
    assert.is(stale.status, 412);
    assert.is(stale.body.type, '/problems/precondition-failed');
    assert.is(stale.headers.get('etag'), '"4"');
    assert.is((await putConfig(device, { setpoint: 99 }, { 'if-match': 'three' })).status, 400);

    const read = await as(ctx.owner!, 'GET', `/devices/${device.id}/config`);
    assert.is(read.body.desired.version, 4);
    assert.equal(read.body.desired.config, { setpoint: 24 });
  });

  config('concurrent changes never share a version', async () => {
    const device = await newDevice('Busy');
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => putConfig(device, { i })));
    assert.ok(answers.every((a) => a.status === 200));
    assert.equal(answers.map((a) => a.body.version as number).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8]);
  });

  config('bounds: over 64 KiB is 413, NUL and deep nesting are 400, and nothing is stored', async () => {
    const device = await newDevice('Bounded');
    const big = await putConfig(device, { blob: 'x'.repeat(CONFIG_MAX_BYTES) });
    assert.is(big.status, 413);
    assert.is(big.body.type, '/problems/payload-too-large');
    const nulValue = await putConfig(device, { name: 'a\u0000b' });
    assert.is(nulValue.status, 400);
    assert.is(nulValue.body.type, '/problems/validation');
    assert.is((await putConfig(device, { ['k\u0000']: 1 })).status, 400);
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 40; i++) deep = { d: deep };
    assert.is((await putConfig(device, deep)).status, 400);
    assert.is((await putConfig(device, [1, 2])).status, 400, 'an array is not a configuration');
    assert.is((await as(ctx.owner!, 'PUT', `/devices/${device.id}/config`, {})).status, 400);
    assert.is((await as(ctx.owner!, 'GET', `/devices/${device.id}/config`)).body.desired.version, 0);
    assert.is((await sendCommand(device, { name: 'x', params: { blob: 'y'.repeat(CONFIG_MAX_BYTES) } })).status, 413);
    assert.is((await sendCommand(device, { name: 'bad name!' })).status, 400);
    assert.is((await sendCommand(device, { name: 'x', timeoutSeconds: 86_401 })).status, 400);
  });

  config("another user's device is not found; a device token is required on the device side", async () => {
    const device = await newDevice('Private');
    const other = ctx.other!;
    assert.is((await as(other, 'PUT', `/devices/${device.id}/config`, { config: { a: 1 } })).status, 404);
    assert.is((await as(other, 'GET', `/devices/${device.id}/config`)).status, 404);
    assert.is((await as(other, 'POST', `/devices/${device.id}/commands`, { name: 'reboot' })).status, 404);
    assert.is((await as(other, 'GET', `/devices/${device.id}/commands`)).status, 404);
    const command = await sendCommand(device, { name: 'reboot' });
    assert.is((await as(other, 'GET', `/devices/${device.id}/commands/${command.body.command.id}`)).status, 404);
    assert.is((await call(base(), 'GET', '/device/config')).status, 401);
    assert.is((await call(base(), 'GET', '/device/config', { headers: { authorization: 'Device dt_nope' } })).status, 401);
    assert.is((await as(ctx.owner!, 'GET', `/devices/${device.id}/config`)).body.desired.version, 0, 'nothing changed');
  });

  config('the device reads its configuration: ETag, 304, ?version=, and a long poll a PUT answers', async () => {
    const device = await newDevice('Poller');
    const empty = await asDevice(device, 'GET', '/device/config');
    assert.is(empty.status, 200);
    assert.equal(empty.body, { version: 0, config: {} });
    assert.is(empty.headers.get('etag'), '"0"');
    await putConfig(device, { mode: 'eco' });

    const current = await asDevice(device, 'GET', '/device/config');
    assert.equal(current.body, { version: 1, config: { mode: 'eco' } });
    const notModified = await asDevice(device, 'GET', '/device/config', undefined, { 'if-none-match': '"1"' });
    assert.is(notModified.status, 304);
    assert.is(notModified.body, undefined);
    assert.is(notModified.headers.get('etag'), '"1"');
    assert.is((await asDevice(device, 'GET', '/device/config?version=1')).status, 304);
    assert.is((await asDevice(device, 'GET', '/device/config', undefined, { 'if-none-match': '"0"' })).status, 200);

    const started = Date.now();
    const timedOut = await asDevice(device, 'GET', '/device/config?wait=1', undefined, { 'if-none-match': 'W/"1"' });
    assert.is(timedOut.status, 304);
    assert.ok(Date.now() - started >= 900, 'waited for the wait');

    const polling = asDevice(device, 'GET', '/device/config?wait=10', undefined, { 'if-none-match': '"1"' });
    await sleep(300);
    const put = Date.now();
    await putConfig(device, { mode: 'boost' });
    const answered = await polling;
    assert.is(answered.status, 200);
    assert.equal(answered.body, { version: 2, config: { mode: 'boost' } });
    assert.is(answered.headers.get('etag'), '"2"');
    assert.ok(Date.now() - put < 2000, 'answered soon after the change, not at the end of the wait');
    assert.is((await asDevice(device, 'GET', '/device/config?wait=31')).status, 400);
  });

  config('state reports: stored, in sync when the reported version is the desired one; bad reports store nothing', async () => {
    const device = await newDevice('Reporter');
    await putConfig(device, { interval: 10 });
    const behind = await asDevice(device, 'PUT', '/device/state', { version: 0, state: { interval: 60 } });
    assert.is(behind.status, 204);
    let view = (await as(ctx.owner!, 'GET', `/devices/${device.id}/config`)).body;
    assert.is(view.inSync, false);
    assert.equal(view.reported.state, { interval: 60 });
    assert.is(view.reported.version, 0);

    assert.is((await asDevice(device, 'PUT', '/device/state', { version: 1, state: { interval: 10, fw: '1.2' } })).status, 204);
    view = (await as(ctx.owner!, 'GET', `/devices/${device.id}/config`)).body;
    assert.is(view.inSync, true);
    assert.equal(view.reported.state, { interval: 10, fw: '1.2' });
    assert.type(view.reported.reportedAt, 'string');

    for (const bad of [{ state: 'on' }, { version: -1, state: {} }, { version: 1.5, state: {} }, { state: { x: 'a\u0000' } }, {}]) {
      const res = await asDevice(device, 'PUT', '/device/state', bad);
      assert.is(res.status, 400, JSON.stringify(bad));
    }
    assert.is((await asDevice(device, 'PUT', '/device/state', { state: { blob: 'x'.repeat(CONFIG_MAX_BYTES) } })).status, 413);
    const unchanged = (await as(ctx.owner!, 'GET', `/devices/${device.id}/config`)).body;
    assert.equal(unchanged.reported, view.reported);

    // A state without a version is never in sync.
    await asDevice(device, 'PUT', '/device/state', { state: { interval: 10 } });
    view = (await as(ctx.owner!, 'GET', `/devices/${device.id}/config`)).body;
    assert.is(view.reported.version, null);
    assert.is(view.inSync, false);
  });

  config('a command: queued → the device polls (sent) → its result (succeeded) → the owner reads it; once only', async () => {
    const device = await newDevice('Worker');
    const created = await sendCommand(device, { name: 'firmware.update', params: { url: 'https://example.com/fw.bin' }, timeoutSeconds: 120 });
    assert.is(created.status, 202, JSON.stringify(created.body));
    const command = created.body.command;
    assert.is(command.status, 'queued');
    assert.equal(command.params, { url: 'https://example.com/fw.bin' });
    assert.is(command.result, null);
    assert.is(command.sentAt, null);
    assert.is(Date.parse(command.expiresAt) - Date.parse(command.createdAt), 120_000);

    const polled = await asDevice(device, 'GET', '/device/commands');
    assert.is(polled.status, 200);
    assert.equal(polled.body.commands, [{ id: command.id, name: 'firmware.update', params: { url: 'https://example.com/fw.bin' }, expiresAt: command.expiresAt }]);
    const sent = (await as(ctx.owner!, 'GET', `/devices/${device.id}/commands/${command.id}`)).body.command;
    assert.is(sent.status, 'sent');
    assert.type(sent.sentAt, 'string');
    // Pending until answered: delivered again.
    assert.is((await asDevice(device, 'GET', '/device/commands')).body.commands.length, 1);

    const done = await asDevice(device, 'POST', `/device/commands/${command.id}/result`, { status: 'succeeded', result: { version: '2.0' } });
    assert.is(done.status, 200, JSON.stringify(done.body));
    assert.is(done.body.command.status, 'succeeded');
    assert.equal(done.body.command.result, { version: '2.0' });
    const read = (await as(ctx.owner!, 'GET', `/devices/${device.id}/commands/${command.id}`)).body.command;
    assert.is(read.status, 'succeeded');
    assert.type(read.completedAt, 'string');
    assert.equal((await asDevice(device, 'GET', '/device/commands')).body.commands, []);

    const again = await asDevice(device, 'POST', `/device/commands/${command.id}/result`, { status: 'failed' });
    assert.is(again.status, 409);
    assert.is(again.body.type, '/problems/conflict');
    assert.is((await asDevice(device, 'POST', `/device/commands/${command.id}/result`, { status: 'done' })).status, 400);
  });

  config('unknown or foreign commands are 404 to the device and to the owner', async () => {
    const device = await newDevice('Mine');
    const neighbour = await newDevice('Neighbour');
    const theirs = (await sendCommand(neighbour, { name: 'ping' })).body.command;
    assert.is((await asDevice(device, 'POST', `/device/commands/${unknownId}/result`, { status: 'succeeded' })).status, 404);
    assert.is((await asDevice(device, 'POST', `/device/commands/${theirs.id}/result`, { status: 'succeeded' })).status, 404);
    assert.is((await as(ctx.owner!, 'GET', `/devices/${device.id}/commands/${theirs.id}`)).status, 404);
    assert.is((await as(ctx.owner!, 'GET', `/devices/${device.id}/commands/${unknownId}`)).status, 404);
    assert.is((await as(ctx.owner!, 'GET', `/devices/${neighbour.id}/commands/${theirs.id}`)).body.command.status, 'queued', 'untouched');
  });

  config('sendCommand with wait=true answers when the device posts the result', async () => {
    const device = await newDevice('Waiter');
    const waiting = sendCommand(device, { name: 'relay.on', params: { channel: 2 }, timeoutSeconds: 20 }, '?wait=true');
    const delivered = await until('command delivered', async () => {
      const res = await asDevice(device, 'GET', '/device/commands');
      return res.body.commands[0] as { id: string } | undefined;
    });
    await sleep(200);
    await asDevice(device, 'POST', `/device/commands/${delivered.id}/result`, { status: 'failed', result: 'relay stuck' });
    const answered = await waiting;
    assert.is(answered.status, 202);
    assert.is(answered.body.command.id, delivered.id);
    assert.is(answered.body.command.status, 'failed');
    assert.is(answered.body.command.result, 'relay stuck');

    // Unanswered: the wait ends with its timeout, the command expired.
    const started = Date.now();
    const expired = await sendCommand(device, { name: 'noop', timeoutSeconds: 1 }, '?wait=true');
    assert.is(expired.body.command.status, 'expired');
    assert.ok(Date.now() - started < 5_000);
  });

  config("the device's long poll for commands is answered by a new command", async () => {
    const device = await newDevice('Listener');
    const started = Date.now();
    const empty = await asDevice(device, 'GET', '/device/commands?wait=1');
    assert.equal(empty.body.commands, []);
    assert.ok(Date.now() - started >= 900);
    const polling = asDevice(device, 'GET', '/device/commands?wait=10');
    await sleep(300);
    const sent = Date.now();
    const command = (await sendCommand(device, { name: 'blink' })).body.command;
    const answered = await polling;
    assert.equal(answered.body.commands.map((c: { id: string }) => c.id), [command.id]);
    assert.ok(Date.now() - sent < 2000);
    assert.is((await as(ctx.owner!, 'GET', `/devices/${device.id}/commands/${command.id}`)).body.command.status, 'sent');
  });

  config('an expired command: 409 command-expired for its result, status expired, out of the pending list', async () => {
    const device = await newDevice('Slow');
    const command = (await sendCommand(device, { name: 'slow', timeoutSeconds: 1 })).body.command;
    assert.is((await asDevice(device, 'GET', '/device/commands')).body.commands.length, 1);
    await sleep(1_100);
    await expireCommands(ctx.p!.deps);
    assert.is(await expireCommands(ctx.p!.deps), 0, 'nothing left to expire');
    const late = await asDevice(device, 'POST', `/device/commands/${command.id}/result`, { status: 'succeeded' });
    assert.is(late.status, 409);
    assert.is(late.body.type, '/problems/command-expired');
    const read = (await as(ctx.owner!, 'GET', `/devices/${device.id}/commands/${command.id}`)).body.command;
    assert.is(read.status, 'expired');
    assert.is(read.result, null);
    assert.equal((await asDevice(device, 'GET', '/device/commands')).body.commands, []);
  });

  config('the list is newest first and pages with nextCursor', async () => {
    const device = await newDevice('Listed');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await sendCommand(device, { name: `c${i}` })).body.command.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<typeof as>> = await as(ctx.owner!, 'GET', `/devices/${device.id}/commands?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      assert.is(page.status, 200);
      assert.ok(page.body.commands.length <= 2);
      seen.push(...page.body.commands.map((c: { id: string }) => c.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    assert.equal(seen, [...ids].reverse());
    assert.is((await as(ctx.owner!, 'GET', `/devices/${device.id}/commands?cursor=nonsense`)).status, 400);
  });

  config('changes go out on the bus as CloudEvents', async () => {
    const device = await newDevice('Eventful');
    await putConfig(device, { a: 1 });
    await asDevice(device, 'PUT', '/device/state', { version: 1, state: { a: 1 } });
    const command = (await sendCommand(device, { name: 'go' })).body.command;
    await asDevice(device, 'GET', '/device/commands');
    await asDevice(device, 'POST', `/device/commands/${command.id}/result`, { status: 'succeeded' });
    const mine = () => ctx.events!.events().filter((e) => e.subject === device.id);
    await until('five events', () => mine().length >= 5);
    const events = mine();
    const config = events.find((e) => e.type === 'iotfn.device.config.updated')!;
    assert.equal({ ...config.data, updatedAt: undefined }, { deviceId: device.id, ownerId: ctx.owner!.userId, version: 1, config: { a: 1 }, updatedAt: undefined });
    const state = events.find((e) => e.type === 'iotfn.device.state.reported')!;
    assert.equal({ ...state.data, reportedAt: undefined }, { deviceId: device.id, ownerId: ctx.owner!.userId, version: 1, state: { a: 1 }, reportedAt: undefined });
    const commands = events.filter((e) => e.type === 'iotfn.command.updated');
    assert.equal(commands.map((e) => e.data.command.status), ['queued', 'sent', 'succeeded']);
    assert.ok(commands.every((e) => e.data.deviceId === device.id && e.data.ownerId === ctx.owner!.userId && e.data.command.id === command.id));
  });

  config('a subscribed socket gets device:config and command events live', async () => {
    const device = await newDevice('Live');
    const socket = await relaySocket(base(), ctx.owner!.accessToken, ctx.sockets);
    const ack = (await socket.timeout(5000).emitWithAck('subscribe', { deviceIds: [device.id] })) as { accepted: string[] };
    assert.equal(ack.accepted, [device.id]);
    const configs: Array<{ deviceId: string; kind: string; version: number }> = [];
    const commands: Array<{ command: { id: string; status: string } }> = [];
    socket.on('device:config', (update) => configs.push(update));
    socket.on('command', (update) => commands.push(update));

    await putConfig(device, { colour: 'red' });
    await asDevice(device, 'PUT', '/device/state', { version: 1, state: { colour: 'red' } });
    const command = (await sendCommand(device, { name: 'beep' })).body.command;
    await until('config live', () => configs.length >= 2, 10_000);
    assert.equal(configs.map((c) => [c.deviceId, c.kind, c.version]), [[device.id, 'desired', 1], [device.id, 'reported', 1]]);
    await until('command live', () => commands.some((c) => c.command.id === command.id && c.command.status === 'queued'), 10_000);
  });

  config.run();
}

configSuite('real services', {});
configSuite('embedded', { embedded: true });
