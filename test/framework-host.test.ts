/**
 * The deploy unit: a functions-framework process serving one function (what Knative and OpenFaaS scale),
 * and the same host in-process through functions-framework's own test server.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { call, goodPassword, randomEmail, startPlatform, type TestPlatform } from './support/platform.ts';
import { exitCode, freePort, freshSigningKeyPem, startProcess, waitForHttp, type Started } from './support/processes.ts';
import { services } from './support/services.ts';
import { registerWithFunctionsFramework, takeOverFrameworkServer, pathMatcher } from '../shared/http/framework-host.ts';
import { functions } from '../functions/registry.ts';
import { randomUUID } from 'node:crypto';
import { cloudEvent } from '../shared/events.ts';
import { eventTypes, exchanges, queues } from '../shared/bus/topology.ts';
import { collect } from './support/bus.ts';
import { recentDay } from './support/time.ts';

const inProcess = suite('functions-framework host, in-process');
const ctx: { p?: TestPlatform; servers: Server[] } = { servers: [] };

async function serve(name: string): Promise<string> {
  const server = getTestServer(name);
  ctx.servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

inProcess.before(async () => {
  ctx.p = await startPlatform({ env: { BODY_LIMIT_BYTES: '4096' }, local: false });
  await takeOverFrameworkServer(4096);
  registerWithFunctionsFramework(functions, async () => ctx.p!.deps);
});

inProcess('register and login answer as they do through the gateway', async () => {
  const url = await serve('register');
  const email = randomEmail('ff');
  const res = await call(url, 'POST', '/auth/register', { body: { email, password: goodPassword } });
  assert.is(res.status, 201);
  assert.is(res.body.email, email);
  const login = await call(await serve('login'), 'POST', '/auth/login', { body: { email, password: goodPassword } });
  assert.is(login.status, 200);
  const me = await call(await serve('me'), 'GET', '/auth/me', { token: login.body.accessToken });
  assert.is(me.status, 200);
});

inProcess('bad JSON, a wrong type and an oversize body get problem+json, not framework HTML', async () => {
  const url = await serve('login');
  const bad = await call(url, 'POST', '/auth/login', { raw: '{nope', headers: { 'content-type': 'application/json' } });
  assert.is(bad.status, 400);
  assert.is(bad.headers.get('content-type'), 'application/problem+json');
  assert.is(bad.body.type, '/problems/invalid-json');
  const text = await call(url, 'POST', '/auth/login', { raw: 'hello', headers: { 'content-type': 'text/plain' } });
  assert.is(text.status, 415);
  const big = await call(url, 'POST', '/auth/login', { raw: JSON.stringify({ email: 'a', password: 'x'.repeat(5000) }), headers: { 'content-type': 'application/json' } });
  assert.is(big.status, 413);
  assert.is(big.body.type, '/problems/payload-too-large');
});

inProcess('another path answers 404 and another method 405, both problem+json', async () => {
  const url = await serve('me');
  const other = await call(url, 'GET', '/auth/other');
  assert.is(other.status, 404);
  assert.is(other.body.type, '/problems/not-found');
  const method = await call(url, 'POST', '/auth/me');
  assert.is(method.status, 405);
  assert.is(method.headers.get('allow'), 'GET');
});

inProcess('probes answer on the function process; its metrics on the internal port, not there', async () => {
  const url = await serve('jwks');
  assert.is((await call(url, 'GET', '/healthz')).status, 200);
  assert.equal((await call(url, 'GET', '/readyz')).body, { ready: true });
  assert.is((await call(url, 'GET', '/metrics')).status, 404);
  await call(url, 'GET', '/auth/jwks.json');
  const metrics = await (await fetch(ctx.p!.metricsUrl + '/metrics')).text();
  assert.match(metrics, /iotfn_http_requests_total\{function="jwks",method="GET",status="200"\}/);
});

inProcess('ingestTelemetry as a cloudEvent function stores a structured event; a poison event is dead-lettered, not retried', async () => {
  const url = await serve('ingestTelemetry');
  const deviceId = randomUUID();
  const event = cloudEvent({ type: eventTypes.telemetry, source: `/devices/${deviceId}`, subject: deviceId, data: { deviceId, ownerId: randomUUID(), via: 'http', receivedAt: 1, points: [{ ts: recentDay, values: { t: 1.5 } }] } });
  const res = await fetch(url + '/', { method: 'POST', headers: { 'content-type': 'application/cloudevents+json' }, body: JSON.stringify(event), signal: AbortSignal.timeout(10_000) });
  assert.ok(res.status >= 200 && res.status < 300, `status ${res.status}`);
  assert.equal(await ctx.p!.deps.telemetry.latest(deviceId), [{ key: 't', ts: recentDay, value: 1.5 }]);
  // Binary mode, as Knative's RabbitMQ broker delivers: ce-* headers and the data as the body.
  const binary = await fetch(url + '/', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': randomUUID(), 'ce-type': eventTypes.telemetry, 'ce-source': 'test' },
    body: JSON.stringify({ ...event.data, points: [{ ts: recentDay + 1_000, values: { t: 2.5 } }] }),
    signal: AbortSignal.timeout(10_000),
  });
  assert.ok(binary.status >= 200 && binary.status < 300, `binary status ${binary.status}`);
  assert.equal((await ctx.p!.deps.telemetry.latest(deviceId))[0]!.value, 2.5);
  const dead = await collect(ctx.p!.deps.bus, [{ exchange: exchanges.deadLetter, pattern: queues.ingest }]);
  const poison = cloudEvent({ type: eventTypes.telemetry, source: 'test', data: { deviceId: 'nope' } });
  const refused = await fetch(url + '/', { method: 'POST', headers: { 'content-type': 'application/cloudevents+json' }, body: JSON.stringify(poison), signal: AbortSignal.timeout(10_000) });
  assert.ok(refused.status >= 200 && refused.status < 300, 'answered as done, so Knative does not retry it');
  const [letter] = await dead.waitFor(1);
  assert.is(JSON.parse(letter!.body.toString()).id, poison.id);
  await dead.stop();
});

inProcess('path params are read from the public route', () => {
  const match = pathMatcher('/devices/{id}/telemetry');
  assert.equal(match('/devices/abc%20d/telemetry'), { id: 'abc d' });
  assert.equal(match('/devices/abc/telemetry/'), { id: 'abc' });
  assert.is(match('/devices/abc'), undefined);
  assert.is(match('/devices/a/b/telemetry'), undefined);
});

inProcess.after(async () => {
  for (const server of ctx.servers) {
    server.closeAllConnections?.();
    await new Promise((resolve) => server.close(resolve));
  }
  await ctx.p?.close();
});
inProcess.run();

const process_ = suite('functions-framework host, as its own process');
const proc: { started: Started[] } = { started: [] };
const binary = 'node_modules/.bin/functions-framework';
const env = (extra: Record<string, string> = {}) => ({
  NODE_OPTIONS: '--import tsx',
  NODE_ENV: 'production',
  LOG_LEVEL: 'warn',
  DATABASE_URL: services.databaseUrl,
  REDIS_URL: services.redisUrl,
  ...extra,
});

process_('`functions-framework --target=<name>` serves that one function alone', async () => {
  const key = freshSigningKeyPem();
  const port = await freePort();
  const started = startProcess(binary, ['--source=functions/index.ts', '--target=register', `--port=${port}`], env({ JWT_PRIVATE_KEY: key }));
  proc.started.push(started);
  await waitForHttp(`http://127.0.0.1:${port}/healthz`, started);
  const url = `http://127.0.0.1:${port}`;
  const res = await call(url, 'POST', '/auth/register', { body: { email: randomEmail('proc'), password: goodPassword } });
  assert.is(res.status, 201);
  assert.is((await call(url, 'POST', '/auth/login', { body: { email: 'x@example.com', password: goodPassword } })).status, 404);
});

process_('FUNCTION_TARGET picks the function too', async () => {
  const port = await freePort();
  const started = startProcess(binary, ['--source=functions/index.ts', `--port=${port}`], env({ JWT_PRIVATE_KEY: freshSigningKeyPem(), FUNCTION_TARGET: 'jwks' }));
  proc.started.push(started);
  await waitForHttp(`http://127.0.0.1:${port}/healthz`, started);
  const res = await call(`http://127.0.0.1:${port}`, 'GET', '/auth/jwks.json');
  assert.is(res.status, 200);
  assert.is(res.body.keys.length, 1);
});

process_('a bad setting stops the process with one line naming the variable', async () => {
  const port = await freePort();
  const started = startProcess(binary, ['--source=functions/index.ts', '--target=jwks', `--port=${port}`], env({ JWT_PRIVATE_KEY: freshSigningKeyPem(), BODY_LIMIT_BYTES: 'lots' }));
  proc.started.push(started);
  assert.is(await exitCode(started), 1);
  assert.match(started.output(), /ConfigError: BODY_LIMIT_BYTES: .*got "lots"/);
});

process_('production without JWT_PRIVATE_KEY refuses to start', async () => {
  const port = await freePort();
  const started = startProcess(binary, ['--source=functions/index.ts', '--target=login', `--port=${port}`], env());
  proc.started.push(started);
  assert.is(await exitCode(started), 1);
  assert.match(started.output(), /JWT_PRIVATE_KEY: required in production/);
});

process_.after(async () => {
  await Promise.all(proc.started.map((s) => s.stop()));
});
process_.run();
