/**
 * The internal endpoints (issue 10, item 5): `/metrics` and the detailed `/readyz` (each dependency's error text)
 * answer on METRICS_PORT only; the public port, which anyone who reaches the API reaches, keeps `/healthz` and a
 * `/readyz` that says ready or not and nothing more. For the gateway of `npm start`, a functions-framework
 * process, and a long-lived process (the relay).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { call, startPlatform, type TestPlatform } from './support/platform.ts';
import { freePort, freshSigningKeyPem, repoRoot, startProcess, waitForHttp, type Started } from './support/processes.ts';
import { services } from './support/services.ts';
import { until } from './support/wait.ts';
import { startInternalServer } from '../shared/http/internal-server.ts';

const allOk = { relational: 'ok', cache: 'ok', bus: 'ok', telemetry: 'ok' };

/** What the public port of any process must answer: no metrics, readiness without detail. */
async function assertPublicPort(url: string): Promise<void> {
  const metrics = await call(url, 'GET', '/metrics');
  assert.is(metrics.status, 404, 'no /metrics on the public port');
  assert.is(metrics.headers.get('content-type'), 'application/problem+json');
  assert.is.not(metrics.body.type, undefined);
  assert.not.match(JSON.stringify(metrics.body), /iotfn_/);
  const ready = await call(url, 'GET', '/readyz');
  assert.is(ready.status, 200);
  assert.equal(ready.body, { ready: true }, 'ready or not, no checks');
  assert.equal((await call(url, 'GET', '/healthz')).body, { status: 'ok' });
}

/** What the internal port answers: Prometheus text with the platform's metrics, and each dependency's check. */
async function assertInternalPort(url: string, counted?: RegExp): Promise<void> {
  const metrics = await fetch(url + '/metrics', { signal: AbortSignal.timeout(10_000) });
  assert.is(metrics.status, 200);
  assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain/);
  const text = await metrics.text();
  assert.match(text, /^# TYPE iotfn_\w+ /m);
  if (counted) assert.match(text, counted);
  const ready = await call(url, 'GET', '/readyz');
  assert.is(ready.status, 200);
  assert.equal(ready.body, { ready: true, checks: allOk });
  const other = await call(url, 'GET', '/auth/jwks.json');
  assert.is(other.status, 404, 'the internal port serves the internal endpoints only');
  assert.is(other.headers.get('content-type'), 'application/problem+json');
}

const gateway = suite('internal endpoints: the gateway of npm start');
const g: { p?: TestPlatform } = {};

gateway.before(async () => {
  g.p = await startPlatform({ local: false });
});

gateway('the public port has no /metrics and a /readyz without checks', async () => {
  await assertPublicPort(g.p!.url);
});

gateway('the metrics port answers Prometheus text with iotfn_ metrics and /readyz with the checks', async () => {
  await call(g.p!.url, 'GET', '/auth/jwks.json');
  assert.is.not(new URL(g.p!.metricsUrl).port, new URL(g.p!.url).port);
  await assertInternalPort(g.p!.metricsUrl, /iotfn_http_requests_total\{function="jwks",method="GET",status="200"\} \d+/);
});

gateway('a dependency down: the public /readyz says 503 only, the internal one names it', async () => {
  const p = await startPlatform({ local: false });
  try {
    await p.deps.cache.close();
    const bare = await call(p.url, 'GET', '/readyz');
    assert.is(bare.status, 503);
    assert.equal(bare.body, { ready: false });
    const detailed = await call(p.metricsUrl, 'GET', '/readyz');
    assert.is(detailed.status, 503);
    assert.is(detailed.body.checks.relational, 'ok');
    assert.is.not(detailed.body.checks.cache, 'ok');
  } finally {
    await p.close();
  }
});

gateway('a METRICS_PORT already taken stops with one line naming the variable', async () => {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const port = (holder.address() as { port: number }).port;
  try {
    const error = await startInternalServer(g.p!.deps, { port, host: '127.0.0.1' }).then(() => undefined, (e: Error) => e);
    assert.ok(error, 'refused');
    assert.match(error!.message, new RegExp(`^METRICS_PORT: port ${port} on 127\\.0\\.0\\.1 is taken by another process; .*set METRICS_PORT to a free port \\(0 takes any\\)`));
  } finally {
    await new Promise((resolve) => holder.close(resolve));
  }
});

gateway('NGINX, the public entry of Compose, routes neither /metrics nor /readyz', () => {
  const conf = readFileSync(join(repoRoot, 'deploy/nginx/nginx.conf'), 'utf8');
  assert.not.match(conf, /location[^{]*\/(metrics|readyz)\b/);
});

gateway.after(async () => {
  await g.p?.close();
});
gateway.run();

const processes = suite('internal endpoints: a functions-framework process and the relay');
const started: Started[] = [];
const env = (extra: Record<string, string>) => ({
  NODE_OPTIONS: '--import tsx',
  NODE_ENV: 'production',
  LOG_LEVEL: 'warn',
  HOST: '127.0.0.1',
  DATABASE_URL: services.databaseUrl,
  REDIS_URL: services.redisUrl,
  AMQP_URL: services.amqpUrl,
  REDIS_KEY_PREFIX: `test-${Math.random().toString(36).slice(2, 10)}:`,
  JWT_PRIVATE_KEY: freshSigningKeyPem(),
  ...extra,
});

processes('`functions-framework --target=jwks`: metrics and checks on METRICS_PORT, not on its port', async () => {
  const [port, metricsPort] = [await freePort(), await freePort()];
  const fn = startProcess('node_modules/.bin/functions-framework', ['--source=functions/index.ts', '--target=jwks', `--port=${port}`], env({ METRICS_PORT: String(metricsPort) }));
  started.push(fn);
  const url = `http://127.0.0.1:${port}`;
  const internal = `http://127.0.0.1:${metricsPort}`;
  await waitForHttp(`${url}/healthz`, fn);
  await waitForHttp(`${internal}/healthz`, fn);
  assert.is((await call(url, 'GET', '/auth/jwks.json')).status, 200);
  await assertPublicPort(url);
  await assertInternalPort(internal, /iotfn_http_requests_total\{function="jwks",method="GET",status="200"\} \d+/);
});

processes('`iotfn relay`: metrics and checks on METRICS_PORT, printed at start; not on its port', async () => {
  const [port, metricsPort] = [await freePort(), await freePort()];
  const relay = startProcess(process.execPath, ['--import', 'tsx', 'bin/iotfn.ts', 'relay'], env({ PORT: String(port), METRICS_PORT: String(metricsPort), NODE_OPTIONS: '' }));
  started.push(relay);
  await waitForHttp(`http://127.0.0.1:${port}/healthz`, relay);
  await waitForHttp(`http://127.0.0.1:${metricsPort}/healthz`, relay);
  const printed = new RegExp(`metrics on http://127\\.0\\.0\\.1:${metricsPort}/metrics`);
  await until('the relay prints where its metrics are', async () => printed.test(relay.output()), 10_000);
  await assertPublicPort(`http://127.0.0.1:${port}`);
  await assertInternalPort(`http://127.0.0.1:${metricsPort}`);
});

processes.after(async () => {
  await Promise.all(started.map((s) => s.stop()));
});
processes.run();
