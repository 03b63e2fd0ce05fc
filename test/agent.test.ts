/**
 * The end-device agent: its readings are sane on this machine, and its disk buffer keeps every point, in
 * order and exactly once, through the platform being down, the agent restarting, a crash mid-write and
 * the bound (which drops the oldest, with a log line). A small local HTTP server stands in for the platform.
 * Against the real platform, the agent takes its interval from the device's configuration, reports it, answers
 * `ping`, and stops on a token the platform refuses instead of buffering for ever.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { parseAgentArgs, startAgent, type RunningAgent } from '../end-devices/agent.ts';
import type { AgentLog, LogFields } from '../end-devices/agent-log.ts';
import { PointBuffer, type TelemetryPoint } from '../end-devices/point-buffer.ts';
import { ReportingAgent } from '../end-devices/reporting-agent.ts';
import { systemCollector } from '../end-devices/system-metrics.ts';
import { httpTelemetrySender } from '../end-devices/telemetry-uplink.ts';
import { NotAPlatform, platformCheck } from '../end-devices/platform-check.ts';
import { DeviceApiError } from '../end-devices/device-api.ts';
import { repoRoot } from './support/processes.ts';
import { call, signedInUser, startPlatform, type TestPlatform } from './support/platform.ts';
import { settleWithin, until } from './support/wait.ts';

/** What the stand-in platform answers, request by request. */
type Answer = 202 | 503 | 400 | 401 | 'hang';

interface StandIn {
  url: string;
  /** Answers to give; `default` once they run out. */
  answers: Answer[];
  default: Answer;
  /** Larger requests are answered 413, as a platform with a lower TELEMETRY_MAX_POINTS would. */
  maxPoints: number;
  /** Points of the requests answered 202, in arrival order. */
  accepted: TelemetryPoint[];
  requestSizes: number[];
  /** The Authorization header of each GET /info (null: none, as it should be). */
  infoRequests: Array<string | null>;
  close(): Promise<void>;
}

async function standInPlatform(): Promise<StandIn> {
  const held: ServerResponse[] = [];
  const state: Omit<StandIn, 'url' | 'close'> = { answers: [], default: 503, maxPoints: 5000, accepted: [], requestSizes: [], infoRequests: [] };
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      // The platform's public GET /info, asked without the token before anything carries it.
      if (request.method === 'GET' && request.url === '/info') {
        state.infoRequests.push(request.headers.authorization ?? null);
        return void response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ version: 'stand-in', telemetry: { http: '/telemetry' }, mqtt: [] }));
      }
      // Telemetry only: the device's configuration and commands are not there (the agent keeps --interval).
      if (request.method !== 'POST' || request.url !== '/telemetry') return void response.writeHead(404, { 'content-type': 'application/json' }).end('{}');
      const points = JSON.parse(body) as TelemetryPoint[];
      assert.is(request.headers.authorization, 'Device dt_test');
      state.requestSizes.push(points.length);
      if (points.length > state.maxPoints) return void response.writeHead(413, { 'content-type': 'application/json' }).end('{}');
      const answer = state.answers.shift() ?? state.default;
      if (answer === 'hang') return void held.push(response);
      if (answer === 202) state.accepted.push(...points);
      response.writeHead(answer, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(state, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      held.forEach((r) => r.destroy());
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  });
}

/** Runs the agent program until it exits on its own (killed after 20 s): its exit code and what it logged. */
async function agentProgramExit(args: string[], token: string): Promise<{ code: unknown; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'end-devices/agent.ts', ...args], {
    cwd: repoRoot,
    env: { ...process.env, IOTFN_DEVICE_TOKEN: token },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const code = await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 20_000, 'still running'))]);
    return { code, stderr };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

function recordingLog(): AgentLog & { lines: Array<{ level: string; msg: string; fields: LogFields }> } {
  const lines: Array<{ level: string; msg: string; fields: LogFields }> = [];
  const at = (level: string) => (msg: string, fields: LogFields = {}) => void lines.push({ level, msg, fields });
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}

interface Fixture {
  dir: string;
  platform: StandIn;
  /** The reading number: each reading is `{n}`, so order and gaps are visible in what arrives. */
  n: number;
  ts: number;
  log: ReturnType<typeof recordingLog>;
}
const f = {} as Fixture;

/** An agent on the buffer file `name` with a counting collector and a clock one second per reading. */
async function agentOn(name: string, options: { url?: string; maxPoints?: number; batchSize?: number; timeoutMs?: number } = {}) {
  const buffer = await PointBuffer.open({ path: join(f.dir, name), maxPoints: options.maxPoints ?? 1000, log: f.log });
  const agent = new ReportingAgent({
    buffer,
    collect: async () => ({ n: ++f.n }),
    send: httpTelemetrySender(options.url ?? f.platform.url, 'dt_test', options.timeoutMs ?? 2000),
    log: f.log,
    clock: { now: () => (f.ts += 1000) },
    batchSize: options.batchSize ?? 500,
  });
  return { agent, buffer };
}

const numbers = (points: TelemetryPoint[]) => points.map((p) => p.values.n);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const logged = (pattern: RegExp) => f.log.lines.filter((l) => pattern.test(l.msg));

const collector = suite('agent: system readings');

collector('the collector returns sane values on this machine', async () => {
  const collect = await systemCollector({ diskPath: os.tmpdir() });
  const until = Date.now() + 50;
  while (Date.now() < until); // some CPU work, so the load between the two readings is not just idle
  const m = await collect();
  assert.ok(m.cpu_percent! >= 0 && m.cpu_percent! <= 100, `cpu ${m.cpu_percent}`);
  assert.ok(m.memory_total_bytes! > 0 && m.memory_used_bytes! > 0 && m.memory_used_bytes! <= m.memory_total_bytes!, `memory ${m.memory_used_bytes}/${m.memory_total_bytes}`);
  assert.ok(m.memory_percent! > 0 && m.memory_percent! <= 100);
  assert.ok(m.disk_percent! >= 0 && m.disk_percent! <= 100, `disk ${m.disk_percent}`);
  assert.ok(m.disk_used_bytes! <= m.disk_total_bytes!);
  assert.ok(m.load_1m! >= 0);
  if (process.platform === 'linux') assert.ok(m.net_rx_bytes! >= 0 && m.net_tx_bytes! >= 0, 'network counters from /proc/net/dev');
  for (const [key, value] of Object.entries(m)) {
    assert.ok(Number.isFinite(value), `${key} is ${value}`);
    assert.match(key, /^[A-Za-z0-9_.:-]{1,64}$/, 'a key the platform accepts');
  }
});

collector.run();

const buffering = suite('agent: buffering through an outage');

buffering.before.each(async () => {
  f.dir = await mkdtemp(join(os.tmpdir(), 'agent-test-'));
  f.platform = await standInPlatform();
  f.n = 0;
  f.ts = 1_767_225_600_000;
  f.log = recordingLog();
});

buffering.after.each(async () => {
  await f.platform.close();
  await rm(f.dir, { recursive: true, force: true });
});

buffering('points taken while the platform is down all arrive once, in order, when it comes back', async () => {
  const { agent, buffer } = await agentOn('a.jsonl');
  for (let i = 0; i < 5; i++) await agent.tick();
  assert.is(f.platform.accepted.length, 0);
  assert.is(buffer.size, 5);
  assert.is(logged(/unreachable/).length, 1, 'one line when the platform goes away, not one per attempt');

  f.platform.default = 202;
  await agent.tick();
  assert.equal(numbers(f.platform.accepted), range(1, 6));
  assert.equal(f.platform.accepted.map((p) => p.ts), range(1, 6).map((i) => 1_767_225_600_000 + i * 1000));
  assert.is(buffer.size, 0);
  assert.is(logged(/reachable again/).length, 1);
  assert.is((await stat(join(f.dir, 'a.jsonl'))).size, 0, 'the file is emptied once everything is acknowledged');
  await agent.stop();
});

buffering('a new agent on the same buffer file keeps what the stopped one could not send', async () => {
  const first = await agentOn('b.jsonl');
  for (let i = 0; i < 3; i++) await first.agent.tick();
  await first.agent.stop();

  const second = await agentOn('b.jsonl');
  assert.is(second.buffer.size, 3);
  assert.is(logged(/earlier run/).length, 1);
  for (let i = 0; i < 2; i++) await second.agent.tick();
  f.platform.default = 202;
  await second.agent.tick();
  assert.equal(numbers(f.platform.accepted), range(1, 6));
  await second.agent.stop();

  const third = await agentOn('b.jsonl');
  assert.is(third.buffer.size, 0, 'acknowledged points do not come back after a restart');
  await third.agent.tick();
  assert.equal(numbers(f.platform.accepted), range(1, 7));
  await third.agent.stop();
});

buffering('a closed port is an outage like any other', async () => {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const closedUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`;
  await new Promise((resolve) => probe.close(resolve));

  const down = await agentOn('c.jsonl', { url: closedUrl });
  for (let i = 0; i < 3; i++) await down.agent.tick();
  assert.is(down.buffer.size, 3);
  assert.match(String(logged(/unreachable/)[0]?.fields.reason), /ECONNREFUSED/);
  await down.agent.stop();

  f.platform.default = 202;
  const back = await agentOn('c.jsonl');
  await back.agent.tick();
  assert.equal(numbers(f.platform.accepted), range(1, 4));
  await back.agent.stop();
});

buffering('the backlog goes in batches, oldest first, and only acknowledged batches leave the buffer', async () => {
  const { agent, buffer } = await agentOn('d.jsonl', { batchSize: 2 });
  for (let i = 0; i < 5; i++) await agent.tick();
  f.platform.requestSizes.length = 0;

  f.platform.answers = [202, 503];
  await agent.flush();
  assert.equal(numbers(f.platform.accepted), [1, 2]);
  assert.is(buffer.size, 3, 'the batch answered 503 stays');

  f.platform.default = 202;
  await agent.flush();
  assert.equal(numbers(f.platform.accepted), range(1, 5));
  assert.equal(f.platform.requestSizes, [2, 2, 2, 1]);
  await agent.stop();
});

buffering('a bound smaller than the backlog drops the oldest points, with a log line', async () => {
  const { agent, buffer } = await agentOn('e.jsonl', { maxPoints: 3 });
  for (let i = 0; i < 7; i++) await agent.tick();
  assert.is(buffer.size, 3);
  assert.is(buffer.dropped, 4);
  const drops = logged(/buffer full: dropped/);
  assert.is(drops.length, 4);
  assert.match(drops[0]!.msg, /dropped the 1 oldest point to stay within 3 points/);
  assert.is(drops[0]!.level, 'warn');

  f.platform.default = 202;
  await agent.tick();
  // The eighth reading made room for itself by dropping the fifth.
  assert.equal(numbers(f.platform.accepted), [6, 7, 8]);
  assert.is(buffer.dropped, 5);
  await agent.stop();
});

buffering('during a long outage the file stays near its bound, and reopens with the newest points in order', async () => {
  const path = join(f.dir, 'long.jsonl');
  const padding = 'x'.repeat(5000);
  const buffer = await PointBuffer.open({ path, maxPoints: 100, maxBytes: 600_000, log: f.log });
  for (let i = 1; i <= 600; i++) await buffer.append({ ts: i, values: { n: i, padding } });
  assert.is(buffer.size, 100);
  assert.ok((await stat(path)).size <= 1024 * 1024 + 600_000 + 10_000, 'the dead front is cut away as it grows (3 MB were written)');
  await buffer.close();

  const reopened = await PointBuffer.open({ path, maxPoints: 100, maxBytes: 600_000, log: f.log });
  assert.equal(numbers(await reopened.oldest(1000)), range(501, 600));
  const lineBytes = Buffer.byteLength(JSON.stringify({ seq: 600, ts: 600, values: { n: 600, padding } })) + 1;
  const fits = Math.floor(20_000 / lineBytes);
  const small = await PointBuffer.open({ path, maxPoints: 100, maxBytes: 20_000, log: f.log });
  assert.is(small.size, fits, 'a lower byte bound drops the oldest on open');
  assert.equal(numbers(await small.oldest(1000)), range(601 - fits, 600));
});

buffering('a line cut short by a crash is skipped, and the points before it are kept', async () => {
  const first = await agentOn('f.jsonl');
  for (let i = 0; i < 3; i++) await first.agent.tick();
  await first.agent.stop();
  await appendFile(join(f.dir, 'f.jsonl'), '{"seq":4,"ts":17672');

  const second = await agentOn('f.jsonl');
  assert.is(second.buffer.size, 3);
  assert.is(logged(/unreadable/).length, 1);
  f.platform.default = 202;
  await second.agent.tick();
  assert.equal(numbers(f.platform.accepted), [1, 2, 3, 4]);
  const lines = (await readFile(join(f.dir, 'f.jsonl'), 'utf8')).split('\n').filter(Boolean);
  assert.is(lines.length, 0);
  await second.agent.stop();
});

buffering('a batch too large for the platform is halved; invalid points are dropped with an error line', async () => {
  const { agent, buffer } = await agentOn('g.jsonl', { batchSize: 8 });
  for (let i = 0; i < 5; i++) await agent.tick();
  f.platform.requestSizes.length = 0;
  f.platform.maxPoints = 2;
  f.platform.answers = [202, 202, 400];
  f.platform.default = 202;
  await agent.flush();
  assert.equal(f.platform.requestSizes, [5, 4, 2, 2, 1], 'halved twice, from 8 to 2');
  assert.equal(numbers(f.platform.accepted), [1, 2, 3, 4]);
  assert.is(buffer.size, 0);
  assert.is(logged(/refused points as invalid/).length, 1);
  await agent.stop();
});

buffering('a platform that does not answer in time counts as unreachable', async () => {
  const { agent, buffer } = await agentOn('h.jsonl', { timeoutMs: 200 });
  f.platform.default = 'hang';
  assert.is(await settleWithin(agent.tick(), 5000), 'resolved');
  assert.is(buffer.size, 1);
  assert.match(String(logged(/unreachable/)[0]?.fields.reason), /timeout|abort/i);
  await agent.stop();
});

buffering('a refused token (401) stops the schedule; the points stay on disk for a good token', async () => {
  const { agent, buffer } = await agentOn('r.jsonl');
  f.platform.default = 401;
  agent.start(50);
  await until('the refusal logged', () => logged(/refuses this device token/).length > 0, 5000);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.is(f.platform.requestSizes.length, 1, 'nothing sent after the refusal');
  assert.is(buffer.size, 1);
  assert.is(logged(/refuses this device token/)[0]!.level, 'error');
  await agent.stop();
});

buffering('the agent program reports this machine to the platform and stops on SIGTERM', async () => {
  f.platform.default = 202;
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'end-devices/agent.ts', '--url', f.platform.url, '--interval', '0.2', '--buffer', join(f.dir, 'cli.jsonl'), '--max-buffer', '100'],
    { cwd: repoRoot, env: { ...process.env, IOTFN_DEVICE_TOKEN: 'dt_test' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await until('two readings from the agent program', () => f.platform.accepted.length >= 2, 20_000);
    const [point] = f.platform.accepted;
    for (const key of ['cpu_percent', 'memory_used_bytes', 'memory_total_bytes', 'disk_percent', 'load_1m']) assert.type(point!.values[key], 'number', key);
    child.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000, 'still running'))]);
    assert.is(code, 0, stderr);
    assert.match(stderr, /"msg":"agent stopped"/);
    assert.match(stderr, /"msg":"platform found".*"version":"stand-in"/);
    assert.ok(f.platform.infoRequests.length >= 1, 'GET /info asked');
    assert.equal([...new Set(f.platform.infoRequests)], [null], 'GET /info carries no token');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

buffering('GET /info: an outage is asked about again, the platform answer remembered, another service refused once', async () => {
  const refusals: string[] = [];
  const closed = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const port = (probe.address() as AddressInfo).port;
      probe.close(() => resolve(port));
    });
  });
  const down = platformCheck(`http://127.0.0.1:${closed}`, 2000, (reason) => refusals.push(reason));
  const outage = await down.confirm().then(() => undefined, (error: unknown) => error);
  assert.instance(outage, DeviceApiError);
  assert.ok((outage as DeviceApiError).transient, 'an outage is transient');
  assert.equal(refusals, []);

  const before = f.platform.infoRequests.length;
  const up = platformCheck(f.platform.url, 2000, (reason) => refusals.push(reason));
  const [first, second] = await Promise.all([up.confirm(), up.confirm()]);
  assert.is(first.version, 'stand-in');
  assert.is(second, first);
  await up.confirm();
  assert.is(f.platform.infoRequests.length - before, 1, 'asked once, then remembered');

  const other = createServer((_request, response) => response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}'));
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  try {
    const wrong = platformCheck(`http://127.0.0.1:${(other.address() as AddressInfo).port}`, 2000, (reason) => refusals.push(reason));
    for (let i = 0; i < 2; i++) assert.instance(await wrong.confirm().then(() => undefined, (error: unknown) => error), NotAPlatform);
    assert.is(refusals.length, 1, 'told once');
    assert.match(refusals[0]!, /is not an iotfn platform \(GET \/info answered 200 without the version and telemetry path of one\): check --url/);
  } finally {
    await new Promise((resolve) => other.close(resolve));
  }
});

buffering('the agent program stops with exit code 2 when --url is not an iotfn platform, and never sends it the token', async () => {
  const authorizations: Array<string | null> = [];
  // Some other service on the port --url names: it answers everything 404.
  const other = createServer((request, response) => {
    authorizations.push(request.headers.authorization ?? null);
    response.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not Found</h1>');
  });
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
  try {
    const { code, stderr } = await agentProgramExit(['--url', url, '--buffer', join(f.dir, 'wrong-url.jsonl')], 'dt_test');
    assert.is(code, 2, stderr);
    assert.match(stderr, new RegExp(`${url.replace(/[.]/g, '\\.')} is not an iotfn platform \\(GET /info answered 404\\): check --url`));
    assert.equal(authorizations, [null], 'one request, GET /info, without the token');
  } finally {
    other.closeAllConnections();
    await new Promise((resolve) => other.close(resolve));
  }
});

buffering.run();

const platform = suite('agent: against the real platform');
let p: TestPlatform | undefined;
platform.before(async () => {
  p = await startPlatform();
});
platform.after(async () => p?.close());

platform('the machine\'s readings are accepted by POST /telemetry and stored', async () => {
  const dir = await mkdtemp(join(os.tmpdir(), 'agent-real-'));
  try {
    const user = await signedInUser(p!.url, 'agent');
    const made = await call(p!.url, 'POST', '/devices', { token: user.accessToken, body: { name: 'this machine', type: 'agent' } });
    const log = recordingLog();
    const buffer = await PointBuffer.open({ path: join(dir, 'buffer.jsonl'), maxPoints: 100, log });
    const agent = new ReportingAgent({
      buffer,
      collect: await systemCollector({ log }),
      send: httpTelemetrySender(p!.url, made.body.deviceToken, 5000),
      log,
    });
    await agent.tick();
    await agent.tick();
    await agent.stop();
    assert.is(buffer.size, 0, JSON.stringify(log.lines));
    const stored = await until('the readings in storage', async () => {
      const res = await call(p!.url, 'GET', `/devices/${made.body.device.id}/telemetry/latest`, { token: user.accessToken });
      const keys = (res.body.items ?? []) as Array<{ key: string }>;
      return keys.length >= 8 && keys;
    });
    const keys = stored.map((v) => v.key);
    for (const key of ['cpu_percent', 'memory_percent', 'disk_percent', 'load_1m']) assert.ok(keys.includes(key), `${key} in ${keys}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

platform('the agent takes its interval from the device\'s configuration, reports it, and answers ping', async () => {
  const dir = await mkdtemp(join(os.tmpdir(), 'agent-config-'));
  let running: RunningAgent | undefined;
  try {
    const user = await signedInUser(p!.url, 'agent-config');
    const owner = { token: user.accessToken };
    const made = await call(p!.url, 'POST', '/devices', { ...owner, body: { name: 'configured machine', type: 'agent' } });
    const id = made.body.device.id as string;
    const configView = async () => (await call(p!.url, 'GET', `/devices/${id}/config`, owner)).body;
    const first = await call(p!.url, 'PUT', `/devices/${id}/config`, { ...owner, body: { config: { interval: 1 } } });
    assert.is(first.status, 200, JSON.stringify(first.body));

    const log = recordingLog();
    // --interval is an hour: every reading within seconds comes from the configuration.
    const flags = parseAgentArgs(['--url', p!.url, '--token', made.body.deviceToken, '--interval', '3600', '--buffer', join(dir, 'buffer.jsonl')], {})!;
    running = await startAgent(flags, log);
    assert.is(running.remote.interval, 1, 'the configuration is read before the first reading');
    const view = await until('the agent in sync', async () => {
      const v = await configView();
      return v.inSync && v;
    });
    assert.equal(view.reported, { ...view.reported, version: first.body.version, state: { interval: 1 } });
    const readings = await until('three readings stored', async () => {
      const res = await call(p!.url, 'GET', `/devices/${id}/telemetry?keys=load_1m&from=0&limit=100`, owner);
      const items = (res.body.items ?? []) as Array<{ ts: number }>;
      return items.length >= 3 && items;
    });
    const gaps = readings.slice(1).map((r, i) => r.ts - readings[i]!.ts);
    assert.ok(gaps.every((gap) => gap >= 500 && gap <= 2500), `a reading about every second: ${gaps}`);

    // A change comes by the long poll, is applied and reported back.
    const next = await call(p!.url, 'PUT', `/devices/${id}/config`, { ...owner, body: { config: { interval: 5 } } });
    const synced = await until('the new interval reported', async () => {
      const v = await configView();
      return v.inSync && v.desired.version === next.body.version && v;
    });
    assert.equal(synced.reported.state, { interval: 5 });
    assert.is(running.remote.interval, 5);

    const ping = await call(p!.url, 'POST', `/devices/${id}/commands?wait=true`, { ...owner, body: { name: 'ping' } });
    assert.is(ping.body.command.status, 'succeeded', JSON.stringify(ping.body));
    assert.type(ping.body.command.result.pong, 'number');
    assert.is(ping.body.command.result.hostname, os.hostname());
    const unknown = await call(p!.url, 'POST', `/devices/${id}/commands?wait=true`, { ...owner, body: { name: 'reboot' } });
    assert.is(unknown.body.command.status, 'failed');
    assert.equal(unknown.body.command.result, { error: 'unknown command reboot' });

    assert.is(await settleWithin(running.stop(), 5000), 'resolved', 'the long polls end at once');
    running = undefined;
    assert.equal(log.lines.filter((l) => l.level !== 'info'), [], 'no warnings');
  } finally {
    await running?.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

platform('the agent program stops on a token the platform refuses, with a clear message and exit code 3, buffering nothing', async () => {
  const dir = await mkdtemp(join(os.tmpdir(), 'agent-refused-'));
  try {
    const { code, stderr } = await agentProgramExit(['--url', p!.url, '--interval', '0.2', '--buffer', join(dir, 'b.jsonl')], `dt_${randomBytes(24).toString('base64url')}`);
    assert.is(code, 3, stderr);
    assert.match(stderr, /"level":"error","msg":"the platform refuses this device token[^"]*check --token or IOTFN_DEVICE_TOKEN; stopping"/);
    assert.match(stderr, /401/);
    assert.is(await readFile(join(dir, 'b.jsonl'), 'utf8').catch(() => ''), '', 'nothing buffered');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

platform.run();
