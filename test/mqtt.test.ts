/**
 * Telemetry over MQTT, end to end: through the real Mosquitto and the bridge into RabbitMQ, and through the
 * embedded broker that `npm start` runs. Unknown devices, revoked tokens and other devices' topics are
 * never published; malformed payloads are counted and dropped without stopping anything.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import mqtt from 'mqtt';
import { call, signedInUser, startPlatform, type TestPlatform } from './support/platform.ts';
import { collect, sleep, type Collector } from './support/bus.ts';
import { services } from './support/services.ts';
import { exchanges } from '../shared/bus/topology.ts';
import { startDeviceEdge, type DeviceEdge } from '../functions/devices/edge.ts';
import { metricsRegistry, metricNames } from '../shared/metrics.ts';

interface Fixture {
  p?: TestPlatform;
  edge?: DeviceEdge;
  telemetry?: Collector;
  devices: Array<{ id: string; token: string }>;
  clients: mqtt.MqttClient[];
}

async function setUp(f: Fixture, env: Record<string, string>) {
  f.p = await startPlatform({ env });
  f.edge = await startDeviceEdge(f.p.deps);
  const user = await signedInUser(f.p.url, 'mqtt');
  const res = await call(f.p.url, 'POST', '/devices/bulk', { token: user.accessToken, body: { devices: [{ name: 'A', type: 't' }, { name: 'B', type: 't' }] } });
  f.devices = res.body.devices.map((d: { device: { id: string }; deviceToken: string }) => ({ id: d.device.id, token: d.deviceToken }));
  f.telemetry = await collect(f.p.deps.bus, [{ exchange: exchanges.telemetry, pattern: 'telemetry.*' }]);
  f.devices.forEach(() => undefined);
  return user;
}

async function tearDown(f: Fixture) {
  await Promise.allSettled(f.clients.map((c) => c.endAsync(true)));
  await f.telemetry?.stop();
  await f.edge?.stop();
  await f.p?.close();
}

const fromDevice = (f: Fixture, deviceId: string) => f.telemetry!.events().filter((e) => e.subject === deviceId);

async function mqttCount(result: string): Promise<number> {
  const metric = await metricsRegistry.getSingleMetric(metricNames.mqttMessages)!.get();
  return metric.values.find((v) => v.labels.result === result)?.value ?? 0;
}

const bridge = suite('MQTT through Mosquitto and the bridge');
const b: Fixture = { devices: [], clients: [] };
let userToken = '';

bridge.before(async () => {
  const user = await setUp(b, { MQTT_URL: services.mqttUrl, MQTT_BRIDGE_GROUP: `test-${Math.random().toString(36).slice(2, 8)}`, MQTT_BRIDGE_CONNECTIONS: '2' });
  userToken = user.accessToken;
});

async function deviceClient(f: Fixture) {
  const client = await mqtt.connectAsync(services.mqttUrl, { protocolVersion: 5, connectTimeout: 5000, reconnectPeriod: 0 });
  f.clients.push(client);
  return client;
}

const publishWith = (client: mqtt.MqttClient, topic: string, payload: string, token?: string) =>
  client.publishAsync(topic, payload, { qos: 1, properties: token ? { userProperties: { token } } : {} });

bridge('a device publishes with its token and the points reach RabbitMQ, acknowledged after the confirm', async () => {
  const [a] = b.devices;
  const client = await deviceClient(b);
  await publishWith(client, `devices/${a!.id}/telemetry`, JSON.stringify({ ts: 1767225600000, values: { temperature: 20.5 } }), a!.token);
  const deadline = Date.now() + 10_000;
  while (fromDevice(b, a!.id).length === 0 && Date.now() < deadline) await sleep(20);
  const [event] = fromDevice(b, a!.id);
  assert.ok(event, 'published');
  assert.is(event!.data.via, 'mqtt');
  assert.equal(event!.data.points, [{ ts: 1767225600000, values: { temperature: 20.5 } }]);
});

/** Waits until the bridge has counted `count` more messages with this result (the device's PUBACK comes from the broker). */
async function counted(result: string, before: number, count: number) {
  const deadline = Date.now() + 10_000;
  while ((await mqttCount(result)) - before < count) {
    if (Date.now() > deadline) throw new Error(`expected ${count} ${result} messages, counted ${(await mqttCount(result)) - before}`);
    await sleep(20);
  }
}

bridge('no token, a wrong token and another device\'s topic are refused and never published', async () => {
  const [a, other] = b.devices;
  const client = await deviceClient(b);
  const before = await mqttCount('unauthorized');
  await publishWith(client, `devices/${a!.id}/telemetry`, JSON.stringify({ values: { x: 1 } }));
  await publishWith(client, `devices/${a!.id}/telemetry`, JSON.stringify({ values: { x: 1 } }), 'dt_forged');
  await publishWith(client, `devices/${a!.id}/telemetry`, JSON.stringify({ values: { x: 1 } }), other!.token);
  await counted('unauthorized', before, 3);
  await sleep(200);
  assert.is(fromDevice(b, a!.id).filter((e) => e.data.points[0].values.x === 1).length, 0);
  assert.is(fromDevice(b, other!.id).filter((e) => e.data.points[0].values.x === 1).length, 0);
});

bridge('malformed payloads are counted and dropped; the bridge keeps going', async () => {
  const [, device] = b.devices;
  const client = await deviceClient(b);
  const before = await mqttCount('malformed');
  for (const payload of ['not json', '{"values": {}}', '{"values": {"a": [1]}}']) {
    await publishWith(client, `devices/${device!.id}/telemetry`, payload, device!.token);
  }
  await counted('malformed', before, 3);
  await publishWith(client, `devices/${device!.id}/telemetry`, JSON.stringify({ values: { ok: true } }), device!.token);
  const deadline = Date.now() + 10_000;
  while (fromDevice(b, device!.id).length === 0 && Date.now() < deadline) await sleep(20);
  assert.equal(fromDevice(b, device!.id).map((e) => e.data.points[0].values), [{ ok: true }]);
});

bridge('a rotated token is refused on the next message', async () => {
  const [a] = b.devices;
  const rotated = await call(b.p!.url, 'POST', `/devices/${a!.id}/token`, { token: userToken });
  const client = await deviceClient(b);
  const before = await mqttCount('unauthorized');
  await publishWith(client, `devices/${a!.id}/telemetry`, JSON.stringify({ values: { y: 1 } }), a!.token);
  await counted('unauthorized', before, 1);
  await publishWith(client, `devices/${a!.id}/telemetry`, JSON.stringify({ values: { y: 2 } }), rotated.body.deviceToken);
  const deadline = Date.now() + 10_000;
  while (!fromDevice(b, a!.id).some((e) => e.data.points[0].values.y === 2) && Date.now() < deadline) await sleep(20);
  assert.equal(fromDevice(b, a!.id).filter((e) => 'y' in e.data.points[0].values).map((e) => e.data.points[0].values.y), [2]);
});

bridge.after(async () => tearDown(b));
bridge.run();

const embedded = suite('MQTT through the embedded broker');
const e: Fixture = { devices: [], clients: [] };
let embeddedUrl = '';

embedded.before(async () => {
  await setUp(e, { MQTT_URL: '', MQTT_LISTEN_PORT: '0', HOST: '127.0.0.1' });
  embeddedUrl = `mqtt://127.0.0.1:${/localhost:(\d+)/.exec(e.edge!.mqtt)![1]}`;
});

const connectAs = async (username: string, password: string) => {
  const client = await mqtt.connectAsync(embeddedUrl, { username, password, connectTimeout: 5000, reconnectPeriod: 0 });
  e.clients.push(client);
  return client;
};

embedded('a device connects with its id and token and its points reach the bus', async () => {
  const [a] = e.devices;
  const client = await connectAs(a!.id, a!.token);
  await client.publishAsync(`devices/${a!.id}/telemetry`, JSON.stringify([{ ts: 1767225600000, values: { t: 1 } }, { ts: 1767225601000, values: { t: 2 } }]), { qos: 1 });
  const deadline = Date.now() + 10_000;
  while (fromDevice(e, a!.id).length === 0 && Date.now() < deadline) await sleep(20);
  assert.equal(fromDevice(e, a!.id)[0]!.data.points.map((p: { values: { t: number } }) => p.values.t), [1, 2]);
});

embedded('a wrong token or another device\'s id is refused at CONNECT', async () => {
  const [a, other] = e.devices;
  for (const [user, pass] of [[a!.id, 'dt_forged'], [a!.id, other!.token], ['', a!.token]] as const) {
    await mqtt.connectAsync(embeddedUrl, { username: user, password: pass, connectTimeout: 3000, reconnectPeriod: 0 }).then(
      (client) => {
        e.clients.push(client);
        assert.unreachable(`connected as ${user}`);
      },
      (error: Error) => assert.match(error.message, /Bad username or password|Not authorized|Connection refused/i),
    );
  }
});

embedded('publishing on another device\'s topic disconnects and publishes nothing; subscribing is refused', async () => {
  const [a, other] = e.devices;
  const client = await connectAs(a!.id, a!.token);
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  client.publishAsync(`devices/${other!.id}/telemetry`, JSON.stringify({ values: { stolen: 1 } }), { qos: 1 }).catch(() => undefined);
  await Promise.race([closed, sleep(5000).then(() => assert.unreachable('not disconnected'))]);
  assert.is(fromDevice(e, other!.id).length, 0);
  const second = await connectAs(a!.id, a!.token);
  // A SUBACK of 0x80 (refused) is how mqtt.js's rejection comes about; the connection stays up.
  await second.subscribeAsync('devices/#', { qos: 1 }).then(
    () => assert.unreachable('subscribed'),
    (error: Error) => assert.match(error.message, /Subscribe error/),
  );
  assert.ok(second.connected);
});

embedded.after(async () => tearDown(e));
embedded.run();
