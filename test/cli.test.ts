/**
 * `npm start` as a newcomer runs it: nothing configured, every function embedded in one process, and the
 * curl walk of the README (register → login → me → logout → me answers 401) works.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { until } from './support/wait.ts';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { call, goodPassword, randomEmail } from './support/platform.ts';
import { startProcess, type Started } from './support/processes.ts';

const cli = suite('iotfn dev (npm start), embedded');
const ctx: { started?: Started; url?: string; dataDir?: string } = {};

/** Only the variables a newcomer's shell has: no DATABASE_URL, no REDIS_URL, no keys. */
function newcomerEnv(dataDir: string): Record<string, string> {
  const clean: Record<string, string> = {};
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'AMQP_URL', 'MQTT_URL', 'MONGO_URL', 'JWT_PRIVATE_KEY', 'JWKS_URL']) clean[name] = '';
  return { ...clean, NODE_ENV: 'development', PORT: '0', MQTT_LISTEN_PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
}

/**
 * Starts `iotfn dev` with only the variables a newcomer's shell has (no DATABASE_URL, no REDIS_URL, no keys)
 * and waits (bounded) for the URL it prints.
 */
async function startDev(args: string[], into: { started?: Started; url?: string; dataDir?: string }, prefix: string): Promise<void> {
  into.dataDir = mkdtempSync(join(tmpdir(), prefix));
  into.started = startProcess(process.execPath, ['--import', 'tsx', 'bin/iotfn.ts', 'dev', ...args], newcomerEnv(into.dataDir));
  const deadline = Date.now() + 60_000;
  while (!into.url && Date.now() < deadline) {
    if (into.started.child.exitCode !== null) throw new Error(into.started.output());
    into.url = /on (http:\/\/localhost:\d+)/.exec(into.started.output())?.[1];
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!into.url) throw new Error(`no URL printed within 60 s: ${into.started.output()}`);
}

cli.before(async () => startDev([], ctx, 'iotfn-cli-'));

cli('prints the URL and the adapters it runs on', () => {
  const out = ctx.started!.output();
  assert.match(out, /relational\s+PGlite, embedded/);
  assert.match(out, /cache\s+in-process memory, embedded/);
  assert.match(out, /development key .* generated/);
  assert.match(out, /bus\s+in-process bus, embedded/);
  assert.match(out, /mqtt\s+embedded broker on mqtt:\/\/localhost:\d+/);
});

cli('GET /info names the embedded broker where it listens, the realtime path and the docs', async () => {
  const port = /embedded broker on mqtt:\/\/localhost:(\d+)/.exec(ctx.started!.output())?.[1];
  const info = await call(ctx.url!, 'GET', '/info');
  assert.is(info.status, 200);
  assert.equal(info.body.mqtt.map((m: { url: string; broker: string }) => [m.url, m.broker]), [[`mqtt://127.0.0.1:${port}`, 'embedded']]);
  assert.is(info.body.mqtt[0].topics.telemetry, 'devices/{deviceId}/telemetry');
  assert.is(info.body.realtime.socketIoPath, '/socket.io');
  assert.is(info.body.docs.openapi, '/openapi.json');
});

cli('prints where the metrics are, and serves them there only', async () => {
  const metrics = /metrics\s+(http:\/\/[\w.]+:\d+)\/metrics/.exec(ctx.started!.output())?.[1];
  assert.ok(metrics, 'one line names the metrics URL');
  assert.match(await (await fetch(`${metrics}/metrics`)).text(), /iotfn_http_requests_total/);
  assert.is((await call(ctx.url!, 'GET', '/metrics')).status, 404);
});

cli('register → login → me → logout → me (401)', async () => {
  const email = randomEmail('newcomer');
  assert.is((await call(ctx.url!, 'POST', '/auth/register', { body: { email, password: goodPassword } })).status, 201);
  const login = await call(ctx.url!, 'POST', '/auth/login', { body: { email, password: goodPassword } });
  assert.is(login.status, 200);
  const token = login.body.accessToken;
  assert.is((await call(ctx.url!, 'GET', '/auth/me', { token })).body.email, email);
  assert.is((await call(ctx.url!, 'POST', '/auth/logout', { token })).status, 204);
  assert.is((await call(ctx.url!, 'GET', '/auth/me', { token })).status, 401);
});

cli('a device\'s telemetry goes through the embedded bus and store and back out of the query API', async () => {
  const email = randomEmail('device-owner');
  await call(ctx.url!, 'POST', '/auth/register', { body: { email, password: goodPassword } });
  const token = (await call(ctx.url!, 'POST', '/auth/login', { body: { email, password: goodPassword } })).body.accessToken;
  const device = await call(ctx.url!, 'POST', '/devices', { token, body: { name: 'Kitchen', type: 'sensor' } });
  assert.is(device.status, 201);
  const sent = await call(ctx.url!, 'POST', '/telemetry', { body: { values: { temperature: 21 } }, headers: { authorization: `Device ${device.body.deviceToken}` } });
  assert.is(sent.status, 202);
  const got = await call(ctx.url!, 'GET', `/devices/${device.body.device.id}`, { token });
  assert.is(got.body.online, true);
  // Through the in-process bus and trigger into PGlite, and back out of the query function.
  const deadline = Date.now() + 15_000;
  let latest: { body: { items: Array<{ key: string; value: unknown }> } } = { body: { items: [] } };
  while (latest.body.items.length === 0 && Date.now() < deadline) {
    latest = await call(ctx.url!, 'GET', `/devices/${device.body.device.id}/telemetry/latest`, { token });
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(latest.body.items.map((i) => [i.key, i.value]), [['temperature', 21]]);
  const page = await fetch(`${ctx.url}/`);
  assert.match(await page.text(), /\/app\/app\.js/);
});

cli('a second process on the same DATA_DIR stops at once with one line naming DATA_DIR', async () => {
  const second: { started?: Started } = {};
  second.started = startProcess(process.execPath, ['--import', 'tsx', 'bin/iotfn.ts', 'dev'], newcomerEnv(ctx.dataDir!));
  try {
    const code = await new Promise<number | null>((resolve) => second.started!.child.once('exit', resolve));
    const lines = second.started.output().trim().split('\n');
    assert.is(code, 1);
    assert.is(lines.length, 1, second.started.output());
    assert.match(lines[0]!, /^ConfigError: DATA_DIR: .* is in use by another iotfn process \(pid \d+\)/);
    // The first process is unharmed and still answers.
    assert.is((await call(ctx.url!, 'GET', '/healthz')).status, 200);
  } finally {
    await second.started.stop();
  }
});

cli('stops cleanly on SIGTERM, and frees DATA_DIR for the next process', async () => {
  await ctx.started!.stop();
  assert.is(ctx.started!.child.exitCode, 0);
  assert.not.ok(existsSync(join(ctx.dataDir!, 'iotfn.lock')));
});

cli.after(async () => {
  await ctx.started?.stop();
  if (ctx.dataDir) rmSync(ctx.dataDir, { recursive: true, force: true });
});
cli.run();

const demo = suite('iotfn dev --demo (npm start -- --demo)');
const d: { started?: Started; url?: string; dataDir?: string } = {};

demo.before(async () => startDev(['--demo'], d, 'iotfn-demo-'));

demo('a demo fleet of five devices is live at once, and the banner says how to sign in, on lines of their own', async () => {
  const email = /^\s+email\s+(\S+)$/m.exec(d.started!.output())?.[1];
  const password = /^\s+password\s+(.+)$/m.exec(d.started!.output())?.[1];
  assert.ok(email && password, d.started!.output());
  const credentials = ['', email, password] as const;
  const deadline = Date.now() + 30_000;
  let online = 0;
  let token = '';
  while (online < 5 && Date.now() < deadline) {
    const login = await call(d.url!, 'POST', '/auth/login', { body: { email: credentials![1], password: credentials![2]!.trim() } });
    token = login.body?.accessToken ?? '';
    if (token) online = (await call(d.url!, 'GET', '/devices?online=true', { token })).body.total ?? 0;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.is(online, 5);
  // Once the devices are live, the banner says how to sign in again (the start-up lines may have scrolled away).
  await until('the demo banner printed again', () => (/demo ready/.test(d.started!.output()) ? true : undefined), 30_000);
  assert.is(d.started!.output().match(/^\s+password\s+/gm)?.length, 2);
  const devices = await call(d.url!, 'GET', '/devices', { token });
  // Online comes first now (a demo device reports its state when it starts); its first reading follows.
  const latest = await until('the first temperature stored', async () => {
    const res = await call(d.url!, 'GET', `/devices/${devices.body.items[0].id}/telemetry/latest`, { token });
    return res.body.items?.some((i: { key: string }) => i.key === 'temperature') ? res.body : undefined;
  });
  assert.ok(latest.items.length > 0);
  const ruled = Date.now() + 15_000;
  let rules: Array<{ key: string; op: string }> = [];
  while (rules.length === 0 && Date.now() < ruled) {
    rules = (await call(d.url!, 'GET', `/devices/${devices.body.items[0].id}/rules`, { token })).body.items ?? [];
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.equal(rules.map((r) => [r.key, r.op]), [['temperature', 'gt']], 'each demo device watches its temperature');
});

demo.after(async () => {
  await d.started?.stop();
  if (d.dataDir) rmSync(d.dataDir, { recursive: true, force: true });
});
demo.run();
