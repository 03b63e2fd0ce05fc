/**
 * `npm run bench` (device edge part): what a device meets, through the production broker (Mosquitto with the
 * project's rendered configuration and dynamic security, started on free loopback ports) and `iotfn bridge`.
 * One JSON line per figure, each beside its limit measured in the same run:
 *
 *   devices.mqtt.broker-alone      QoS 1 publishes through Mosquitto alone, device accounts → one subscriber
 *   devices.mqtt.e2e               QoS 1, one point per message, many device connections → stored rows
 *   devices.mqtt.burst             50,000 messages from 1,000 devices, all stored (lost must be 0)
 *   devices.mqtt.bridge-restart    the bridge stopped and started again mid-stream: nothing acknowledged is lost
 *   devices.mqtt.broker-restart    Mosquitto stopped (SIGTERM) and started again mid-stream: likewise
 *   devices.command.round-trip     POST /devices/{id}/commands?wait=true → device over MQTT → result, p50/p99
 *
 * The gateway (`iotfn dev` on the real PostgreSQL, Redis and RabbitMQ, with its ingest trigger) and the bridge
 * run as child processes; the devices are mqtt.js connections in this process, one per device, each with one
 * message in flight as a device would. Publishers pause when more than MAX_BACKLOG acknowledged messages are
 * not stored yet, so the figure is what is stored, not what Mosquitto can queue.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadavg } from 'node:os';
import mqtt from 'mqtt';
import { freePort, startServer, stopAll, stopChild, type Child } from './lib/children.ts';
import { percentile } from './lib/load.ts';
import { PointClock, publishMqttFor, TELEMETRY_KEY, type BenchDevice, type MqttPublisher } from './lib/monitoring-senders.ts';
import { openBenchStore } from './lib/monitoring-store.ts';
import { platformEnv, runId } from './lib/platform-env.ts';
import { deleteRunKeys } from './lib/redis-cleanup.ts';
import { progress, round } from './lib/report.ts';
import { call, logIn, registerBenchUser } from './signing.ts';
import { dynsecCommands, startProjectMosquitto, type ProjectMosquitto } from '../test/support/mosquitto.ts';
import { connectDevices, deleteBridgeQueue } from './lib/project-broker.ts';

const E2E_DEVICES = 200;
const E2E_S = 8;
const BURST_DEVICES = 1_000;
const BURST_PER_DEVICE = 50;
const RESTART_DEVICES = 50;
const RESTART_S = 8;
const BROKER_ALONE_PUBLISHERS = 50;
const BROKER_ALONE_S = 5;
const COMMANDS = 100;
const MAX_BACKLOG = 5_000;
const STORE_TIMEOUT_MS = 120_000;
const WATCHDOG_S = 600;

type Line = { bench: string; value: number; unit: string; [context: string]: unknown };

const env = platformEnv();
const group = `bench-${runId}-edge`;
const failures: string[] = [];
const store = openBenchStore();
const benchDevices: string[] = [];

function emitLine(line: Line): void {
  line.loadAvg1m = round(loadavg()[0] ?? 0, 2);
  process.stdout.write(JSON.stringify(line) + '\n');
  progress(`${line.bench}: ${line.value} ${line.unit}`);
  if (Number(line.lost ?? 0) > 0) failures.push(`${line.bench} (lost ${String(line.lost)})`);
}

/** `BENCH_ONLY=regex` runs only the figures whose name matches (for working on one). */
const only = process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY) : undefined;

async function figure(name: string, step: () => Promise<Line[]>): Promise<void> {
  if (only && !only.test(name)) return;
  progress(`${name} ...`);
  try {
    for (const line of await step()) emitLine(line);
  } catch (error) {
    progress(`${name} FAILED: ${(error as Error).stack ?? String(error)}`);
    failures.push(name);
  }
}

interface Gateway {
  url: string;
  token: string;
}

async function createDevices(gateway: Gateway, count: number): Promise<BenchDevice[]> {
  const devices: BenchDevice[] = [];
  for (let i = 0; i < count; i += 1000) {
    const batch = Array.from({ length: Math.min(1000, count - i) }, (_, j) => ({ name: `edge-${runId}-${i + j}`, type: 'bench' }));
    const body = await call(gateway.url, 'POST', '/devices/bulk', 201, { devices: batch }, { authorization: `Bearer ${gateway.token}` });
    for (const d of (body as { devices: Array<{ device: { id: string }; deviceToken: string }> }).devices) devices.push({ id: d.device.id, token: d.deviceToken });
  }
  benchDevices.push(...devices.map((d) => d.id));
  return devices;
}

async function closeDevices(publishers: MqttPublisher[]): Promise<void> {
  await Promise.allSettled(publishers.map((p) => p.client.endAsync(true)));
}

/** Runs the publishers for `seconds` (throttled on the unstored backlog) and waits until what was acknowledged is stored. */
async function streamAndStore(publishers: MqttPublisher[], seconds: number, during?: (elapsedMs: number) => Promise<void>) {
  const ids = publishers.map((p) => p.device.id);
  const since = await store.count(ids);
  let storedNow = since;
  let polling = true;
  const poller = (async () => {
    while (polling) {
      storedNow = await store.count(ids).catch(() => storedNow);
      await sleep(50);
    }
  })();
  const clock = new PointClock(Date.now() - 7 * 86_400_000 + Math.floor(Math.random() * 86_400_000));
  const started = performance.now();
  const side = during ? during(0) : Promise.resolve();
  const run = await publishMqttFor({ publishers, seconds, clock, backlog: (sofar) => sofar.issued - sofar.failed - (storedNow - since), maxBacklog: MAX_BACKLOG });
  await side;
  polling = false;
  await poller;
  const wait = await store.waitStored(ids, run.acked, { since, timeoutMs: STORE_TIMEOUT_MS, intervalMs: 100 });
  return { run, wait, seconds: (wait.at - started) / 1000 };
}

async function brokerAlone(mosquitto: ProjectMosquitto): Promise<Line[]> {
  // Accounts of the bench's own, outside the platform, to measure the broker with the same authentication and
  // QoS and one subscriber taking everything, as the bridge does.
  const admin = await mqtt.connectAsync(mosquitto.platformUrl, { protocolVersion: 5, clientId: `bench-${runId}-admin` });
  const names = Array.from({ length: BROKER_ALONE_PUBLISHERS }, (_, i) => `bench-${runId}-${i}`);
  await dynsecCommands(admin, [
    { command: 'createRole', rolename: `bench-${runId}`, acls: [{ acltype: 'publishClientSend', topic: 'bench/#', allow: true }] },
    ...names.map((username) => ({ command: 'createClient', username, password: 'bench', roles: [{ rolename: `bench-${runId}` }] })),
  ], 30_000);
  let received = 0;
  admin.on('message', () => (received += 1));
  await admin.subscribeAsync('bench/#', { qos: 1 });
  const clients = await Promise.all(names.map((username) => mqtt.connectAsync(mosquitto.devicesUrl, { protocolVersion: 5, username, password: 'bench', reconnectPeriod: 0 })));
  const payload = JSON.stringify({ ts: Date.now(), values: { [TELEMETRY_KEY]: 21.5 } });
  let acked = 0;
  const stopAt = performance.now() + BROKER_ALONE_S * 1000;
  const started = performance.now();
  await Promise.all(clients.map(async (client, i) => {
    while (performance.now() < stopAt) {
      await client.publishAsync(`bench/${i}`, payload, { qos: 1 });
      acked += 1;
    }
  }));
  const deadline = Date.now() + 10_000;
  while (received < acked && Date.now() < deadline) await sleep(20);
  const seconds = (performance.now() - started) / 1000;
  await Promise.allSettled([...clients, admin].map((c) => c.endAsync(true)));
  return [{ bench: 'devices.mqtt.broker-alone', value: round(received / seconds, 1), unit: 'msg/s', publishers: clients.length, acked, received, qos: 1, seconds: round(seconds, 2) }];
}

function e2eLine(bench: string, brokerRate: number | undefined, result: Awaited<ReturnType<typeof streamAndStore>>, extra: Record<string, unknown>): Line {
  const { run, wait, seconds } = result;
  const rate = Math.min(wait.stored, run.acked) / seconds;
  return {
    bench,
    value: round(rate, 1),
    unit: 'msg/s',
    ...(brokerRate ? { brokerAloneMsgPerS: brokerRate, ratioToBroker: round(rate / brokerRate, 3) } : {}),
    sent: run.acked,
    stored: wait.stored,
    lost: Math.max(0, run.acked - wait.stored),
    failedPublishes: run.failed,
    ...(run.firstError ? { firstError: run.firstError } : {}),
    ...(wait.timedOut ? { storeTimedOut: true } : {}),
    seconds: round(seconds, 2),
    qos: 1,
    pointsPerMessage: 1,
    maxBacklog: MAX_BACKLOG,
    ...extra,
  };
}

async function main(): Promise<void> {
  const watchdog = setTimeout(() => {
    progress(`device edge bench exceeded ${WATCHDOG_S} s; stopping`);
    void stopAll().finally(() => process.exit(1));
  }, WATCHDOG_S * 1000);
  watchdog.unref();
  const mosquitto = await startProjectMosquitto();
  let bridge: Child | undefined;
  const bridgePort = await freePort();
  const bridgeEnv = { ...env, PORT: String(bridgePort), MQTT_URL: mosquitto.platformUrl, MQTT_BRIDGE_GROUP: group };
  const startBridge = () => startServer('bridge', process.execPath, ['--import', 'tsx', 'bin/iotfn.ts', 'bridge'], bridgeEnv, bridgePort);
  try {
    let brokerRate: number | undefined;
    await figure('devices.mqtt.broker-alone', async () => {
      const lines = await brokerAlone(mosquitto);
      brokerRate = lines[0]?.value;
      return lines;
    });

    const gatewayPort = await freePort();
    await startServer('gateway', process.execPath, ['--import', 'tsx', 'bin/iotfn.ts', 'dev'], { ...env, PORT: String(gatewayPort) }, gatewayPort);
    const url = `http://127.0.0.1:${gatewayPort}`;
    const credentials = await registerBenchUser(url);
    const gateway: Gateway = { url, token: await logIn(url, credentials) };
    bridge = await startBridge();

    await figure('devices.mqtt.e2e', async () => {
      const devices = await createDevices(gateway, E2E_DEVICES);
      const publishers = await connectDevices(mosquitto.devicesUrl, devices);
      try {
        await streamAndStore(publishers, 1); // warm-up
        return [e2eLine('devices.mqtt.e2e', brokerRate, await streamAndStore(publishers, E2E_S), { devices: devices.length })];
      } finally {
        await closeDevices(publishers);
      }
    });

    await figure('devices.mqtt.burst', async () => {
      const devices = await createDevices(gateway, BURST_DEVICES);
      const publishers = await connectDevices(mosquitto.devicesUrl, devices);
      try {
        const ids = devices.map((d) => d.id);
        const since = await store.count(ids);
        // Two hours back, a second per device apart: distinct times, all inside the points' retention (a point older
        // than that is counted in the rollups only, and the figure counts stored points).
        const base = Date.now() - 2 * 3_600_000;
        const started = performance.now();
        let acked = 0;
        let failed = 0;
        await Promise.all(publishers.map(async ({ client, device }, i) => {
          for (let n = 0; n < BURST_PER_DEVICE; n++) {
            try {
              await client.publishAsync(`devices/${device.id}/telemetry`, JSON.stringify({ ts: base + i * 1000 + n, values: { [TELEMETRY_KEY]: n } }), { qos: 1 });
              acked += 1;
            } catch {
              failed += 1;
            }
          }
        }));
        const wait = await store.waitStored(ids, acked, { since, timeoutMs: STORE_TIMEOUT_MS, intervalMs: 200 });
        const seconds = (wait.at - started) / 1000;
        return [{ bench: 'devices.mqtt.burst', value: round(seconds, 2), unit: 's', sent: acked, stored: wait.stored, lost: Math.max(0, acked - wait.stored), failedPublishes: failed, devices: devices.length, msgPerS: round(Math.min(acked, wait.stored) / seconds, 1), ...(brokerRate ? { brokerAloneMsgPerS: brokerRate } : {}) }];
      } finally {
        await closeDevices(publishers);
      }
    });

    await figure('devices.mqtt.bridge-restart', async () => {
      const devices = await createDevices(gateway, RESTART_DEVICES);
      const publishers = await connectDevices(mosquitto.devicesUrl, devices);
      try {
        const result = await streamAndStore(publishers, RESTART_S, async () => {
          await sleep((RESTART_S * 1000) / 3);
          await stopChild(bridge!);
          bridge = await startBridge();
        });
        return [e2eLine('devices.mqtt.bridge-restart', brokerRate, result, { devices: devices.length, restartedAtS: round(RESTART_S / 3, 1) })];
      } finally {
        await closeDevices(publishers);
      }
    });

    await figure('devices.mqtt.broker-restart', async () => {
      const devices = await createDevices(gateway, RESTART_DEVICES);
      // Devices reconnect and send again what had no PUBACK, as device libraries do.
      const publishers = await connectDevices(mosquitto.devicesUrl, devices, { reconnect: true });
      try {
        const result = await streamAndStore(publishers, RESTART_S, async () => {
          await sleep((RESTART_S * 1000) / 3);
          await mosquitto.restart();
        });
        return [e2eLine('devices.mqtt.broker-restart', brokerRate, result, { devices: devices.length, restartedAtS: round(RESTART_S / 3, 1) })];
      } finally {
        await closeDevices(publishers);
      }
    });

    await figure('devices.command.round-trip', async () => {
      const [device] = await createDevices(gateway, 1);
      const [publisher] = await connectDevices(mosquitto.devicesUrl, [device!]);
      const client = publisher!.client;
      client.on('message', (_topic, payload) => {
        const command = JSON.parse(payload.toString()) as { id: string };
        void client.publishAsync(`devices/${device!.id}/commands/${command.id}/result`, JSON.stringify({ status: 'succeeded', result: { ok: true } }), { qos: 1 });
      });
      await client.subscribeAsync(`devices/${device!.id}/commands`, { qos: 1 });
      await client.publishAsync(`devices/${device!.id}/state`, JSON.stringify({ state: { ready: true } }), { qos: 1 });
      const samples: number[] = [];
      let failed = 0;
      for (let i = 0; i < COMMANDS; i++) {
        const started = performance.now();
        const body = await call(gateway.url, 'POST', `/devices/${device!.id}/commands?wait=true`, 202, { name: 'ping', timeoutSeconds: 10 }, { authorization: `Bearer ${gateway.token}` }, 15_000);
        const status = (body as { command?: { status?: string } }).command?.status;
        if (status === 'succeeded') samples.push(performance.now() - started);
        else failed += 1;
      }
      await client.endAsync(true);
      return [
        { bench: 'devices.command.round-trip.p50', value: round(percentile(samples, 0.5), 1), unit: 'ms', commands: COMMANDS, succeeded: samples.length, failed },
        { bench: 'devices.command.round-trip.p99', value: round(percentile(samples, 0.99), 1), unit: 'ms', commands: COMMANDS, succeeded: samples.length, failed },
      ];
    });
  } finally {
    await stopAll();
    await mosquitto.stop().catch(() => undefined);
    if (benchDevices.length) await store.deleteTelemetry(benchDevices).catch(() => undefined);
    await store.close();
    await deleteRunKeys().catch(() => undefined);
    await deleteBridgeQueue(group).catch(() => undefined);
    clearTimeout(watchdog);
  }
  if (failures.length) {
    progress(`failed: ${failures.join(', ')}`);
    process.exitCode = 1;
  }
}

await main();
