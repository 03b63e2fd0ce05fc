/**
 * The device protocol over MQTT, with the stock `mosquitto_pub`/`mosquitto_sub` clients, against both brokers:
 * the embedded aedes broker of `npm start` (MQTT 3.1.1) and Mosquitto with dynamic security run from the
 * project's rendered configuration (MQTT 3.1.1 and 5), behind the bridge.
 *
 * Username = device id, password = device token. A device publishes telemetry, state and command results on
 * its own topics and receives its configuration (retained) and commands; every refusal the issue lists is
 * asserted: anonymous, wrong token, another device's topic, `#`, `$share`, client-id takeover, oversized
 * packets, a rotated token.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { call, signedInUser, startPlatform, type TestPlatform } from './support/platform.ts';
import { collect, sleep, type Collector } from './support/bus.ts';
import { until } from './support/wait.ts';
import { mosquittoPub, mosquittoSub, pubackReason, type MqttVersion, type Subscriber } from './support/mosquitto-clients.ts';
import { startProjectMosquitto, type ProjectMosquitto } from './support/mosquitto.ts';
import { exchanges, queues } from '../shared/bus/topology.ts';
import { startDeviceEdge, type DeviceEdge } from '../functions/devices/edge.ts';
import { connectMaxBytes } from '../functions/devices/embedded-mqtt-broker.ts';
import { mqttMaxPacketBytes } from '../functions/devices/model/device-topics.ts';
import { telemetryMessagesOf } from '../shared/messages.ts';

interface Device {
  id: string;
  token: string;
}

interface Fixture {
  kind: 'embedded' | 'mosquitto';
  versions: MqttVersion[];
  port: number;
  p?: TestPlatform;
  edge?: DeviceEdge;
  mosquitto?: ProjectMosquitto;
  telemetry?: Collector;
  userToken: string;
  devices: Device[];
  subscribers: Subscriber[];
}

const group = `test-${Math.random().toString(36).slice(2, 8)}`;

async function setUp(f: Fixture) {
  if (f.kind === 'mosquitto') {
    f.mosquitto = await startProjectMosquitto();
    f.p = await startPlatform({ env: { MQTT_URL: f.mosquitto.platformUrl, MQTT_BRIDGE_GROUP: group, MQTT_BRIDGE_CONNECTIONS: '2' } });
    f.edge = await startDeviceEdge(f.p.deps);
    f.port = f.mosquitto.devicePort;
  } else {
    f.p = await startPlatform({ env: { MQTT_URL: '', MQTT_LISTEN_PORT: '0', HOST: '127.0.0.1' } });
    f.edge = await startDeviceEdge(f.p.deps);
    f.port = Number(/localhost:(\d+)/.exec(f.edge.mqtt)![1]);
  }
  const user = await signedInUser(f.p.url, 'mqtt');
  f.userToken = user.accessToken;
  const res = await call(f.p.url, 'POST', '/devices/bulk', { token: f.userToken, body: { devices: ['A', 'B', 'C', 'D'].map((name) => ({ name, type: 'sensor' })) } });
  assert.is(res.status, 201);
  f.devices = res.body.devices.map((d: { device: { id: string }; deviceToken: string }) => ({ id: d.device.id, token: d.deviceToken }));
  f.telemetry = await collect(f.p.deps.bus, [{ exchange: exchanges.telemetry, pattern: 'telemetry.*' }]);
  // The bridge creates each device's broker account from its `device.created` event.
  const [last] = f.devices.slice(-1);
  await until('the device accounts exist on the broker', async () => (await mosquittoPub(login(f, f.versions[0]!, last!), `devices/${last!.id}/telemetry`, '{"values":{"ready":1}}')).code === 0, 15_000);
}

async function tearDown(f: Fixture) {
  await Promise.allSettled(f.subscribers.map((s) => s.stop()));
  await f.telemetry?.stop();
  await f.edge?.stop();
  if (f.kind === 'mosquitto') await f.p?.deps.bus.deleteQueue(queues.deviceEdge(group)).catch(() => undefined);
  await f.p?.close();
  await f.mosquitto?.stop();
}

const login = (f: Fixture, version: MqttVersion, device?: Device, password?: string) => ({
  port: f.port,
  version,
  ...(device ? { username: device.id, password: password ?? device.token } : {}),
});

function subscribe(f: Fixture, version: MqttVersion, device: Device, topics: string[], options: { clientId?: string; password?: string } = {}) {
  const sub = mosquittoSub({ ...login(f, version, device, options.password), ...(options.clientId ? { clientId: options.clientId } : {}) }, topics);
  f.subscribers.push(sub);
  return sub;
}

/** A device's points on the bus, whether they came one event each (embedded broker) or in the bridge's batches. */
const pointsOf = (f: Fixture, deviceId: string) =>
  f.telemetry!.events().flatMap((e) => telemetryMessagesOf(e.id, e.data)).filter((m) => m.deviceId === deviceId).flatMap((m) => m.points);

function protocolSuite(f: Fixture) {
  const test = suite(`device protocol on the ${f.kind} broker`);
  test.before(() => setUp(f));
  test.after(() => tearDown(f));

  for (const version of f.versions) {
    test(`${version}: a device publishes telemetry with its id and token, and it reaches the bus`, async () => {
      const [a] = f.devices;
      const run = await mosquittoPub(login(f, version, a), `devices/${a!.id}/telemetry`, JSON.stringify({ ts: 1767225600000, values: { [version]: 1 } }));
      assert.is(run.code, 0, run.output);
      await until('the point on the bus', () => pointsOf(f, a!.id).some((p) => p.values[version] === 1));
    });

    test(`${version}: a point dated past the allowed clock skew is refused and never reaches the bus`, async () => {
      const [a] = f.devices;
      const ahead = Date.now() + 3_600_000;
      await mosquittoPub(login(f, version, a), `devices/${a!.id}/telemetry`, JSON.stringify({ ts: ahead, values: { ahead: 1 } }));
      // A point after it, within the skew, shows the first one had its turn.
      const run = await mosquittoPub(login(f, version, a), `devices/${a!.id}/telemetry`, JSON.stringify({ values: { [`${version}-after`]: 1 } }));
      assert.is(run.code, 0, run.output);
      await until('the point after it on the bus', () => pointsOf(f, a!.id).some((p) => p.values[`${version}-after`] === 1));
      assert.not.ok(pointsOf(f, a!.id).some((p) => p.values.ahead === 1), 'the point an hour ahead was dropped');
    });

    test(`${version}: anonymous and wrong-token connections are refused`, async () => {
      const [a] = f.devices;
      for (const who of [login(f, version), login(f, version, a, 'dt_forged'), { ...login(f, version, a), username: f.devices[1]!.id }]) {
        const run = await mosquittoPub(who, `devices/${a!.id}/telemetry`, '{"values":{"x":1}}');
        assert.is.not(run.code, 0, `accepted ${JSON.stringify(who)}: ${run.output}`);
        assert.match(run.output, /not authori[sz]ed|refused|bad user name/i);
      }
    });

    test(`${version}: nothing published on another device's topic reaches the bus`, async () => {
      const [a, b] = f.devices;
      const run = await mosquittoPub(login(f, version, a), `devices/${b!.id}/telemetry`, '{"values":{"stolen":1}}');
      if (version === 'mqttv5') assert.is(pubackReason(run), 135, run.output);
      await sleep(300);
      assert.not.ok(pointsOf(f, b!.id).some((p) => p.values.stolen === 1));
    });

    test(`${version}: wildcards, shared subscriptions and other devices' topics are refused to devices`, async () => {
      const [a, b] = f.devices;
      for (const topic of ['#', 'devices/+/config', `$share/${group}/devices/+/telemetry`, `$share/x/devices/${a!.id}/config`, `devices/${b!.id}/config`, `devices/${a!.id}/telemetry`]) {
        const sub = subscribe(f, version, a!, [topic]);
        const text = await sub.subscribed;
        assert.match(text, /denied|Subscribed \(mid: \d+\): 128|: 135|: 143/, `${topic}: ${text}`);
        await sub.stop();
      }
    });
  }

  const version = f.versions.at(-1)!;

  test('the owner sets a configuration and the device gets it at once, retained for late subscribers', async () => {
    const [, , c] = f.devices;
    const live = subscribe(f, version, c!, [`devices/${c!.id}/config`]);
    await live.subscribed;
    const put = await call(f.p!.url, 'PUT', `/devices/${c!.id}/config`, { token: f.userToken, body: { config: { interval: 5 } } });
    assert.is(put.status, 200, JSON.stringify(put.body));
    await live.waitFor(/"interval":5/);
    await live.stop();
    const late = subscribe(f, version, c!, [`devices/${c!.id}/config`]);
    const line = await late.waitFor(/"version":1/);
    assert.equal(JSON.parse(line.slice(line.indexOf(' ') + 1)), { version: 1, config: { interval: 5 } });
  });

  test('the device reports its state over MQTT and the owner sees it in sync', async () => {
    const [, , c] = f.devices;
    const run = await mosquittoPub(login(f, version, c), `devices/${c!.id}/state`, JSON.stringify({ version: 1, state: { interval: 5 } }));
    assert.is(run.code, 0, run.output);
    const view = await until('the reported state', async () => {
      const res = await call(f.p!.url, 'GET', `/devices/${c!.id}/config`, { token: f.userToken });
      return res.body?.reported ? res.body : undefined;
    });
    assert.equal(view.reported.state, { interval: 5 });
    assert.is(view.inSync, true);
  });

  test('a command reaches the connected device and its result is stored', async () => {
    const [, , c] = f.devices;
    const sub = subscribe(f, version, c!, [`devices/${c!.id}/commands`]);
    await sub.subscribed;
    // The device was heard from in the test before, so it counts as online.
    const sent = await call(f.p!.url, 'POST', `/devices/${c!.id}/commands`, { token: f.userToken, body: { name: 'reboot', params: { delay: 1 } } });
    assert.is(sent.status, 202, JSON.stringify(sent.body));
    const commandId = sent.body.command.id as string;
    const line = await sub.waitFor(new RegExp(commandId));
    const message = JSON.parse(line.slice(line.indexOf(' ') + 1));
    assert.is(message.name, 'reboot');
    assert.equal(message.params, { delay: 1 });
    const run = await mosquittoPub(login(f, version, c), `devices/${c!.id}/commands/${commandId}/result`, JSON.stringify({ status: 'succeeded', result: { ok: true } }));
    assert.is(run.code, 0, run.output);
    const done = await until('the command succeeded', async () => {
      const res = await call(f.p!.url, 'GET', `/devices/${c!.id}/commands/${commandId}`, { token: f.userToken });
      const command = res.body?.command ?? res.body;
      return command?.status === 'succeeded' ? command : undefined;
    });
    assert.equal(done.result, { ok: true });
  });

  test('a command for a device that is away waits and goes out when it comes back', async () => {
    const [, , , d] = f.devices;
    const sent = await call(f.p!.url, 'POST', `/devices/${d!.id}/commands`, { token: f.userToken, body: { name: 'calibrate', timeoutSeconds: 60 } });
    assert.is(sent.status, 202);
    await sleep(300);
    // One connection per device (the client id is the device id), so it subscribes and reports on the same one,
    // as device firmware does: mqtt.js here, since mosquitto_sub cannot publish.
    const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${f.port}`, { protocolVersion: version === 'mqttv5' ? 5 : 4, username: d!.id, password: d!.token, reconnectPeriod: 0, connectTimeout: 5000 });
    try {
      const received: string[] = [];
      device.on('message', (_topic, payload) => received.push(payload.toString()));
      await device.subscribeAsync(`devices/${d!.id}/commands`, { qos: 1 });
      // Coming back: the embedded broker sees the subscription; behind Mosquitto the platform hears the device.
      await device.publishAsync(`devices/${d!.id}/state`, '{"state":{"up":true}}', { qos: 1 });
      const message = await until('the waiting command', () => received.find((m) => m.includes(sent.body.command.id)));
      assert.is(JSON.parse(message).name, 'calibrate');
    } finally {
      await device.endAsync(true);
    }
  });

  test('a client id cannot take over another device\'s session', async () => {
    const [a, b] = f.devices;
    const victim = subscribe(f, version, a!, [`devices/${a!.id}/config`], { clientId: a!.id });
    await victim.subscribed;
    const thief = await mosquittoPub({ ...login(f, version, b), clientId: a!.id }, `devices/${b!.id}/telemetry`, '{"values":{"x":1}}');
    assert.is(thief.code, 0, thief.output);
    await sleep(500);
    assert.is(victim.child.exitCode, null, `the victim was disconnected: ${victim.output()}`);
    const put = await call(f.p!.url, 'PUT', `/devices/${a!.id}/config`, { token: f.userToken, body: { config: { still: 'here' } } });
    assert.is(put.status, 200);
    await victim.waitFor(/still/);
  });

  test('a PUBLISH over the packet limit closes the connection; nothing is stored', async () => {
    const [a] = f.devices;
    const dir = mkdtempSync(join(tmpdir(), 'iotfn-big-'));
    const file = join(dir, 'big.json');
    writeFileSync(file, JSON.stringify({ values: { big: 'x'.repeat(mqttMaxPacketBytes(f.p!.deps.config.BODY_LIMIT_BYTES)) } }));
    // MQTT 3.1.1: an MQTT 5 client learns Mosquitto's maximum packet size from the CONNACK and never sends it.
    const run = await mosquittoPub(login(f, 'mqttv311', a), `devices/${a!.id}/telemetry`, { file });
    assert.is.not(run.code, 0, run.output.slice(0, 500));
    assert.not.ok(pointsOf(f, a!.id).some((p) => 'big' in p.values));
  });

  if (f.kind === 'embedded') {
    test('a CONNECT over 64 KiB closes the connection before it is buffered', async () => {
      const [a] = f.devices;
      const run = await mosquittoPub({ ...login(f, version, a), password: 'x'.repeat(connectMaxBytes + 1) }, `devices/${a!.id}/telemetry`, '{"values":{"x":1}}');
      assert.is.not(run.code, 0, run.output);
    });
  }

  test('rotating the token disconnects the device within a second; the old token is refused, the new one works', async () => {
    const [, b] = f.devices;
    const sub = subscribe(f, version, b!, [`devices/${b!.id}/commands`]);
    await sub.subscribed;
    const rotated = await call(f.p!.url, 'POST', `/devices/${b!.id}/token`, { token: f.userToken });
    assert.is(rotated.status, 200);
    const started = Date.now();
    const code = await Promise.race([sub.exited, sleep(3000).then(() => 'still connected')]);
    assert.is.not(code, 'still connected', sub.output());
    assert.ok(Date.now() - started < 1500, `disconnected after ${Date.now() - started} ms`);
    const old = await mosquittoPub(login(f, version, b), `devices/${b!.id}/telemetry`, '{"values":{"old":1}}');
    assert.is.not(old.code, 0, old.output);
    const fresh = await mosquittoPub(login(f, version, b, rotated.body.deviceToken), `devices/${b!.id}/telemetry`, '{"values":{"fresh":1}}');
    assert.is(fresh.code, 0, fresh.output);
    await until('the new token\'s point', () => pointsOf(f, b!.id).some((p) => p.values.fresh === 1));
  });

  test('disabling a device disconnects it and refuses it until it is enabled again', async () => {
    const [, , , d] = f.devices;
    const sub = subscribe(f, version, d!, [`devices/${d!.id}/config`]);
    await sub.subscribed;
    const disabled = await call(f.p!.url, 'PATCH', `/devices/${d!.id}`, { token: f.userToken, body: { status: 'disabled' } });
    assert.is(disabled.status, 200, JSON.stringify(disabled.body));
    const started = Date.now();
    const code = await Promise.race([sub.exited, sleep(3000).then(() => 'still connected')]);
    assert.is.not(code, 'still connected', sub.output());
    assert.ok(Date.now() - started < 1500, `disconnected after ${Date.now() - started} ms`);
    const refused = await mosquittoPub(login(f, version, d), `devices/${d!.id}/telemetry`, '{"values":{"x":1}}');
    assert.is.not(refused.code, 0, refused.output);
    const enabled = await call(f.p!.url, 'PATCH', `/devices/${d!.id}`, { token: f.userToken, body: { status: 'active' } });
    assert.is(enabled.status, 200);
    await until('the device is let in again', async () => (await mosquittoPub(login(f, version, d), `devices/${d!.id}/telemetry`, '{"values":{"back":1}}')).code === 0);
  });

  test('deleting a device disconnects it and refuses it afterwards', async () => {
    const [a] = f.devices;
    const sub = subscribe(f, version, a!, [`devices/${a!.id}/config`]);
    await sub.subscribed;
    const deleted = await call(f.p!.url, 'DELETE', `/devices/${a!.id}`, { token: f.userToken });
    assert.is(deleted.status, 204);
    const code = await Promise.race([sub.exited, sleep(3000).then(() => 'still connected')]);
    assert.is.not(code, 'still connected', sub.output());
    const again = await mosquittoPub(login(f, version, a), `devices/${a!.id}/telemetry`, '{"values":{"x":1}}');
    assert.is.not(again.code, 0, again.output);
  });

  test.run();
}

protocolSuite({ kind: 'embedded', versions: ['mqttv311'], port: 0, userToken: '', devices: [], subscribers: [] });
protocolSuite({ kind: 'mosquitto', versions: ['mqttv311', 'mqttv5'], port: 0, userToken: '', devices: [], subscribers: [] });
