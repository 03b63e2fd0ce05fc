/**
 * The fleet simulator: its signals are repeatable from a seed and stay in range, and every value a
 * simulated fleet reports as acknowledged ends up in storage, over HTTP, over MQTT through the real
 * Mosquitto and the bridge, and over MQTT through the embedded broker. The command line provisions,
 * saves and reuses devices. Over each transport a simulated device follows its configuration (its pace
 * changes live, and the owner sees it in sync) and answers commands.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { call, goodPassword, randomEmail, signedInUser, startPlatform, type TestPlatform } from './support/platform.ts';
import { repoRoot } from './support/processes.ts';
import { startProjectMosquitto, type ProjectMosquitto } from './support/mosquitto.ts';
import { queues } from '../shared/bus/topology.ts';
import { settleWithin, until } from './support/wait.ts';
import { isDropout, profileOf, readingAt, type Reading } from '../simulators/signals.ts';
import { mulberry32 } from '../simulators/prng.ts';
import { runFleet, type FleetOptions, type FleetResult } from '../simulators/fleet.ts';

const minute = 60_000;
const hour = 3_600_000;

function series(seed: number, index: number, stepMs: number, spanMs: number): Array<Reading | null> {
  const out: Array<Reading | null> = [];
  for (let t = 0; t < spanMs; t += stepMs) out.push(readingAt(seed, index, t));
  return out;
}

const signals = suite('simulator signals');

signals('mulberry32 repeats its sequence for a seed and differs across seeds', () => {
  const draw = (seed: number) => Array.from({ length: 5 }, mulberry32(seed));
  assert.equal(draw(42), draw(42));
  assert.not.equal(draw(42), draw(43));
  for (const x of draw(7)) assert.ok(x >= 0 && x < 1);
});

signals('the same seed gives the same series; another seed another one', () => {
  for (const index of [0, 1, 7]) {
    assert.equal(series(42, index, 10_000, hour), series(42, index, 10_000, hour));
    assert.not.equal(series(42, index, 10_000, hour), series(43, index, 10_000, hour));
  }
  assert.not.equal(series(42, 0, 10_000, hour), series(42, 1, 10_000, hour), 'devices of one fleet differ');
  // Pure: asking out of order, or again, changes nothing.
  const later = readingAt(42, 3, 5 * minute);
  readingAt(42, 3, minute);
  assert.equal(readingAt(42, 3, 5 * minute), later);
});

signals('values stay in range: humidity 0–100, battery never rises and stops at 0, the counter only goes up', () => {
  for (let index = 0; index < 20; index++) {
    let battery = Number.POSITIVE_INFINITY;
    let counter = -1;
    // Three days: long enough for every battery (at most 100 %, at least 2 %/h) to run flat.
    for (let t = 0; t < 72 * hour; t += 5 * minute) {
      const r = readingAt(42, index, t, { dropoutProbability: 0 })!;
      assert.ok(r.humidity >= 0 && r.humidity <= 100, `humidity ${r.humidity}`);
      assert.ok(r.temperature > -20 && r.temperature < 60, `temperature ${r.temperature}`);
      assert.ok(r.battery >= 0 && r.battery <= 100 && r.battery <= battery, `battery ${r.battery} after ${battery}`);
      assert.ok(Number.isInteger(r.counter) && r.counter >= counter, `counter ${r.counter} after ${counter}`);
      battery = r.battery;
      counter = r.counter;
    }
    assert.is(battery, 0, `device ${index}'s battery ran flat`);
  }
});

signals('temperature follows a daily cycle (warmer mid-afternoon than before dawn); humidity the other way', () => {
  const at = (elapsedHours: number, key: 'temperature' | 'humidity', startTimeOfDayMs = 0) => {
    let sum = 0;
    for (let index = 0; index < 50; index++) sum += readingAt(1, index, elapsedHours * hour, { startTimeOfDayMs, spikeProbability: 0, dropoutProbability: 0 })![key];
    return sum / 50;
  };
  assert.ok(at(15, 'temperature') - at(3, 'temperature') > 3, `${at(15, 'temperature')} vs ${at(3, 'temperature')}`);
  assert.ok(at(15, 'humidity') < at(3, 'humidity'));
  // A run that starts at noon is warmest 3 hours in, coldest 15 hours in.
  assert.ok(at(3, 'temperature', 12 * hour) - at(15, 'temperature', 12 * hour) > 3);
});

signals('spikes and dropouts are occasional, and switched off at probability 0', () => {
  let dropouts = 0;
  let spikes = 0;
  const samples = 20_000;
  for (let i = 0; i < samples; i++) {
    const index = i % 20;
    const t = Math.floor(i / 20) * 1000;
    if (isDropout(5, index, t)) dropouts++;
    const calm = readingAt(5, index, t, { spikeProbability: 0, dropoutProbability: 0 })!;
    const live = readingAt(5, index, t, { dropoutProbability: 0 })!;
    if (Math.abs(live.temperature - calm.temperature) >= 8) spikes++;
  }
  assert.ok(dropouts > 0 && dropouts < samples * 0.06, `dropouts ${dropouts}`);
  assert.ok(spikes > samples * 0.003 && spikes < samples * 0.03, `spikes ${spikes}`);
  for (let t = 0; t < 10 * minute; t += 1000) assert.ok(readingAt(5, 0, t, { dropoutProbability: 0 }) !== null);
  assert.is(profileOf(5, 0).batteryAtStart, profileOf(5, 0).batteryAtStart);
});

signals.run();

/** Values stored for the fleet's devices, read back through the API as their owner would. */
async function storedValues(p: TestPlatform, email: string, result: FleetResult): Promise<number> {
  const login = await call(p.url, 'POST', '/auth/login', { body: { email, password: goodPassword } });
  let total = 0;
  for (const device of result.perDevice) {
    const res = await call(p.url, 'GET', `/devices/${device.id}/telemetry?from=0&limit=10000`, { token: login.body.accessToken });
    assert.is(res.status, 200);
    total += res.body.items.length;
  }
  return total;
}

/** Runs a small fleet and waits (bounded) until storage holds exactly what the simulator saw acknowledged. */
async function fleetArrives(p: TestPlatform, options: Partial<FleetOptions>) {
  const email = randomEmail('fleet');
  const result = await runFleet({
    url: p.url,
    credentials: { email, password: goodPassword },
    count: 5,
    ratePerDevice: 20,
    durationMs: Number.POSITIVE_INFINITY,
    messagesPerDevice: 20,
    transport: 'http',
    broker: 'embedded',
    seed: 11,
    ...options,
  });
  assert.is(result.errors, 0, JSON.stringify(result.errorKinds));
  assert.is(result.sent + result.dropouts, 100, 'every scheduled reading was sent or skipped by a dropout');
  assert.is(result.acked, result.sent);
  assert.is(result.valuesAcked, result.acked * 4, 'four values a message');
  assert.ok(result.acked > 50, `acked ${result.acked}`);
  let stored = 0;
  await until(`storage holds the ${result.valuesAcked} acknowledged values`, async () => (stored = await storedValues(p, email, result)) >= result.valuesAcked, 30_000).catch((error: Error) => {
    throw new Error(`${error.message} (stored ${stored})`);
  });
  assert.is(stored, result.valuesAcked, 'nothing more than was acknowledged either');
  // The simulator's own end-of-run check, through the same API, agrees.
  assert.equal([result.valuesStored, result.devicesShort], [result.valuesAcked, 0]);
  return { email, result };
}

/**
 * One simulated device running in the background: it reports its state on connecting, takes a configuration
 * the owner sets (its pace follows), refuses an interval out of bounds, answers `ping` and fails an unknown
 * command; stopped, the run ends at once (over HTTP: the long polls are cancelled).
 */
async function followsConfigAndCommands(p: TestPlatform, options: Partial<FleetOptions>) {
  const user = await signedInUser(p.url, 'fleet-control');
  const owner = { token: user.accessToken };
  const made = await call(p.url, 'POST', '/devices', { ...owner, body: { name: 'controlled', type: 'simulated-sensor' } });
  assert.is(made.status, 201, JSON.stringify(made.body));
  const id = made.body.device.id as string;
  const configView = async () => (await call(p.url, 'GET', `/devices/${id}/config`, owner)).body;
  const stop = new AbortController();
  const run = runFleet({
    url: p.url,
    devices: [{ id, token: made.body.deviceToken }],
    count: 1,
    ratePerDevice: 1,
    durationMs: 120_000,
    transport: 'http',
    broker: 'embedded',
    seed: 5,
    signals: { dropoutProbability: 0 },
    signal: stop.signal,
    ...options,
  });
  try {
    const first = await until('the state reported after connecting', async () => (await configView()).reported, 15_000);
    assert.is(first.version, 0, 'no configuration yet');
    assert.equal(first.state, { interval: 1 }, 'the pace of --rate 1');

    const put = await call(p.url, 'PUT', `/devices/${id}/config`, { ...owner, body: { config: { interval: 0.1 } } });
    assert.is(put.status, 200, JSON.stringify(put.body));
    const synced = await until('the device in sync with the new configuration', async () => {
      const view = await configView();
      return view.inSync && view.desired.version === put.body.version && view;
    }, 15_000);
    assert.equal(synced.reported.state, { interval: 0.1 });

    // Ten readings a second now, where there was one.
    const from = Date.now();
    const to = from + 1500;
    let readings = 0;
    await until('readings at the new pace', async () => {
      if (Date.now() < to + 500) return false;
      const res = await call(p.url, 'GET', `/devices/${id}/telemetry?keys=counter&from=${from}&to=${to}&limit=1000`, owner);
      readings = res.body.items.length;
      return readings >= 8;
    }, 15_000).catch((error: Error) => {
      throw new Error(`${error.message} (${readings} readings in 1.5 s)`);
    });

    const bad = await call(p.url, 'PUT', `/devices/${id}/config`, { ...owner, body: { config: { interval: 0 } } });
    assert.is(bad.status, 200);
    const refused = await until('the device saying why it did not apply it', async () => {
      const view = await configView();
      return view.reported?.state.error && view;
    }, 15_000);
    assert.is(refused.inSync, false);
    assert.is(refused.reported.version, put.body.version, 'the version still in effect');
    assert.match(refused.reported.state.error, /interval must be a number of seconds/);

    const ping = await call(p.url, 'POST', `/devices/${id}/commands?wait=true`, { ...owner, body: { name: 'ping' } });
    assert.is(ping.status, 202);
    assert.is(ping.body.command.status, 'succeeded', JSON.stringify(ping.body));
    assert.type(ping.body.command.result.pong, 'number');
    assert.ok(Math.abs(ping.body.command.result.pong - Date.now()) < 60_000);
    const unknown = await call(p.url, 'POST', `/devices/${id}/commands?wait=true`, { ...owner, body: { name: 'reboot' } });
    assert.is(unknown.body.command.status, 'failed', JSON.stringify(unknown.body));
    assert.equal(unknown.body.command.result, { error: 'unknown command reboot' });
  } finally {
    stop.abort();
  }
  assert.is(await settleWithin(run, 5000), 'resolved', 'the run ends at once when stopped');
  const result = await run;
  assert.is(result.errors, 0, JSON.stringify(result.errorKinds));
  assert.is(result.configsApplied, 1, 'the interval out of bounds was not applied');
  assert.is(result.commandsAnswered, 2, 'each command answered once');
}

const http = suite('simulated fleet over HTTP');
let hp: TestPlatform | undefined;
http.before(async () => {
  hp = await startPlatform();
});
http.after(async () => hp?.close());

http('5 devices × 20 readings: every acknowledged value is stored, with the battery never rising', async () => {
  const { email, result } = await fleetArrives(hp!, { transport: 'http' });
  const login = await call(hp!.url, 'POST', '/auth/login', { body: { email, password: goodPassword } });
  const res = await call(hp!.url, 'GET', `/devices/${result.perDevice[0]!.id}/telemetry?keys=battery&from=0&limit=100`, { token: login.body.accessToken });
  const battery = res.body.items.map((i: { value: number }) => i.value);
  assert.equal(battery, [...battery].sort((a, b) => b - a));
});

http('over MQTT to a platform that names no broker, the fleet stops before provisioning and says what to do', async () => {
  assert.equal((await call(hp!.url, 'GET', '/info')).body.mqtt, []);
  const email = randomEmail('no-broker');
  const error = await runFleet({ url: hp!.url, credentials: { email, password: goodPassword }, count: 2, ratePerDevice: 1, durationMs: 1000, transport: 'mqtt', seed: 1 }).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  assert.match(String(error?.message), /names no MQTT endpoint \(GET \/info\): send over HTTP with --http, or name the broker with --mqtt-url/);
  // Nothing was made for a run that could not go anywhere: the account was never even registered.
  assert.is((await call(hp!.url, 'POST', '/auth/login', { body: { email, password: goodPassword } })).status, 401);
});

http('acknowledged is not stored: a run through a broker the platform does not read reports 0 stored and fails', async () => {
  // The machine's own Mosquitto on 1883 (anonymous, no bridge of this platform): it acknowledges every publish.
  const email = randomEmail('foreign-broker');
  const result = await runFleet({
    url: hp!.url,
    credentials: { email, password: goodPassword },
    count: 1,
    ratePerDevice: 20,
    durationMs: Number.POSITIVE_INFINITY,
    messagesPerDevice: 3,
    transport: 'mqtt',
    mqttUrl: 'mqtt://127.0.0.1:1883',
    broker: 'mosquitto',
    telemetryOnly: true,
    seed: 5,
    storedWaitMs: 1500,
  });
  assert.ok(result.acked > 0, `the broker acknowledged ${result.acked}`);
  assert.equal([result.valuesStored, result.devicesShort], [0, 1]);
});

http('a device follows its configuration and answers commands by long polls', async () => {
  await followsConfigAndCommands(hp!, { transport: 'http' });
});

http('the command line provisions and saves devices, reuses them, and prints a JSON summary', async () => {
  const dir = await mkdtemp(join(os.tmpdir(), 'fleet-cli-'));
  const email = randomEmail('fleet-cli');
  const run = (args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'simulators/fleet.ts', '--url', hp!.url, '--http', '--rate', '20', '--messages', '5', '--seed', '3', ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  try {
    const saved = join(dir, 'devices.json');
    const first = await run(['--email', email, '--password', goodPassword, '--count', '2', '--save-devices', saved]);
    assert.is(first.code, 0, first.stderr);
    const summary = JSON.parse(first.stdout);
    assert.is(summary.devices, 2);
    assert.is(summary.transport, 'http');
    assert.is(summary.seed, 3);
    assert.is(summary.acked + summary.dropouts, 10);
    assert.match(first.stderr, /sent \d+ {2}acked \d+ {2}errors 0/, 'the progress line');
    const devices = JSON.parse(await readFile(saved, 'utf8')) as Array<{ id: string; token: string }>;
    assert.is(devices.length, 2);

    const again = await run(['--devices', saved]);
    assert.is(again.code, 0, again.stderr);
    assert.is(JSON.parse(again.stdout).acked, summary.acked, 'the same seed and devices send the same readings');
    const login = await call(hp!.url, 'POST', '/auth/login', { body: { email, password: goodPassword } });
    const owned = await call(hp!.url, 'GET', '/devices', { token: login.body.accessToken });
    assert.is(owned.body.total, 2, 'reusing devices provisions none');

    const wrong = await run(['--count', '2']);
    assert.is(wrong.code, 2);
    assert.match(wrong.stderr, /give --email and --password, or --devices/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

http.run();

const bridged = suite('simulated fleet over MQTT through Mosquitto and the bridge');
let bp: TestPlatform | undefined;
let broker: ProjectMosquitto | undefined;
const bridgeGroup = `sim-${Math.random().toString(36).slice(2, 8)}`;
bridged.before(async () => {
  broker = await startProjectMosquitto();
  bp = await startPlatform({ env: { MQTT_URL: broker.platformUrl, MQTT_BRIDGE_GROUP: bridgeGroup }, mqtt: true });
});
bridged.after(async () => {
  await bp?.deps.bus.deleteQueue(queues.deviceEdge(bridgeGroup)).catch(() => undefined);
  await bp?.close();
  await broker?.stop();
});

bridged('5 devices × 20 readings over MQTT 5 with id and token: every acknowledged value is stored', async () => {
  await fleetArrives(bp!, { transport: 'mqtt', broker: 'mosquitto', mqttUrl: broker!.devicesUrl });
});

bridged('a device follows its configuration and answers commands on its own connection', async () => {
  await followsConfigAndCommands(bp!, { transport: 'mqtt', broker: 'mosquitto', mqttUrl: broker!.devicesUrl });
});

bridged.run();

const embedded = suite('simulated fleet over MQTT through the embedded broker');
let ep: TestPlatform | undefined;
embedded.before(async () => {
  ep = await startPlatform({ env: { MQTT_URL: '', MQTT_LISTEN_PORT: '0', HOST: '127.0.0.1' }, mqtt: true });
});
embedded.after(async () => ep?.close());

const embeddedUrl = () => {
  const banner = ep!.local!.describe.mqtt ?? '';
  const port = /localhost:(\d+)/.exec(banner)?.[1];
  assert.ok(port, banner);
  return `mqtt://127.0.0.1:${port}`;
};

embedded('5 devices × 20 readings over MQTT 3.1.1 with id and token: every acknowledged value is stored', async () => {
  await fleetArrives(ep!, { transport: 'mqtt', broker: 'embedded', mqttUrl: embeddedUrl() });
});

embedded('without --mqtt-url the fleet sends through the broker the platform names at GET /info', async () => {
  const info = await call(ep!.url, 'GET', '/info');
  assert.is(info.status, 200);
  assert.equal(info.body.mqtt.map((m: { url: string; broker: string }) => [m.url, m.broker]), [[embeddedUrl(), 'embedded']]);
  const { result } = await fleetArrives(ep!, { transport: 'mqtt', broker: undefined, mqttUrl: undefined });
  assert.is(result.broker, 'embedded');
});

embedded('a device follows its configuration and answers commands on its own connection', async () => {
  await followsConfigAndCommands(ep!, { transport: 'mqtt', broker: 'embedded', mqttUrl: embeddedUrl() });
});

embedded.run();
