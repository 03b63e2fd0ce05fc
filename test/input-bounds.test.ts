/**
 * One bound for every input at the edge, against the real services: what a store would refuse (NUL), times
 * beyond a JS Date or too far ahead of the platform's clock, intervals beyond a safe integer, metadata nested
 * thousands deep, forged page cursors and aggregates over more buckets than the cap are each a 400
 * problem+json, and nothing of them is stored. A sweep sends bad input to every route of the OpenAPI
 * document and expects no 5xx.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { call, signedInUser, startPlatform, type TestPlatform } from './support/platform.ts';
import { until } from './support/wait.ts';
import { maxBuckets } from '../functions/monitoring/model/telemetry-query.ts';

type User = Awaited<ReturnType<typeof signedInUser>>;
type Answer = Awaited<ReturnType<typeof call>>;
const ctx: { p?: TestPlatform; owner?: User; device?: string; token?: string } = {};
const base = () => ctx.p!.url;
const hour = 3_600_000;
const huge = '100000000000000000000'; // 1e20 ms: far beyond the last instant a JS Date holds

const as = (method: string, path: string, options: { body?: unknown; raw?: string } = {}) =>
  call(base(), method, path, { token: ctx.owner!.accessToken, ...options, ...(options.raw ? { headers: { 'content-type': 'application/json' } } : {}) });
const send = (body: unknown) => call(base(), 'POST', '/telemetry', { body, headers: { authorization: `Device ${ctx.token}` } });
const b64 = (text: string) => Buffer.from(text).toString('base64url');

function assertProblem(res: Answer, status: number, what: string): void {
  assert.is(res.status, status, `${what}: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
  assert.ok(res.headers.get('content-type')?.startsWith('application/problem+json'), `${what}: problem+json`);
  assert.is(res.body.status, status, what);
  if (status === 400) assert.is(res.body.type, '/problems/validation', what);
}

/** A device's stored values of `key` in the last day (and a little ahead). */
async function stored(key: string): Promise<unknown[]> {
  const res = await as('GET', `/devices/${ctx.device}/telemetry?keys=${key}&from=${Date.now() - 24 * hour}&to=${Date.now() + 25 * hour}`);
  assert.is(res.status, 200, JSON.stringify(res.body));
  return res.body.items;
}

const bounds = suite('input bounds at the edge');
bounds.before(async () => {
  ctx.p = await startPlatform();
  ctx.owner = await signedInUser(base(), 'bounds');
  const res = await as('POST', '/devices', { body: { name: 'Bounded', type: 'sensor' } });
  ctx.device = res.body.device.id;
  ctx.token = res.body.deviceToken;
});
bounds.after(async () => {
  await ctx.p?.close();
});

bounds('ThingsBoard\'s flat form is stored as values dated on arrival; its errors name the key as sent', async () => {
  const before = Date.now();
  assert.is((await send({ flatTemperature: 21.5 })).status, 202);
  assert.is((await send([{ flatHumidity: 40 }, { ts: before - 1000, values: { flatHumidity: 41 } }])).status, 202);
  await until('the flat points stored', async () => ((await stored('flatTemperature')).length > 0 && (await stored('flatHumidity')).length === 2 ? true : undefined));
  const [point] = (await stored('flatTemperature')) as Array<{ ts: number | string }>;
  assert.ok(new Date(point!.ts).getTime() >= before - 1000, `dated on arrival: ${point!.ts}`);
  const bad = await send([{ ok: 1 }, { 'bad key!': 2 }]);
  assertProblem(bad, 400, 'a bad key in a flat point');
  assert.equal(bad.body.errors.map((e: { path: string }) => e.path), ['body.1.bad key!']);
  const scalar = await send(5);
  assertProblem(scalar, 400, 'a number for a body');
  assert.match(scalar.body.detail, /expected the values .* a point .* or an array of them/);
});

bounds('a NUL in a telemetry value or key is a 400 and nothing of the message is stored', async () => {
  const ts = Date.now() - 60_000;
  assertProblem(await send({ ts, values: { label: 'a\u0000b', ok: 1 } }), 400, 'NUL in a value');
  assertProblem(await send([{ ts, values: { ok: 2 } }, { ts: ts + 1, values: { label: '\u0000' } }]), 400, 'NUL in a value of a batch');
  assertProblem(await send({ ts, values: { 'la\u0000bel': 'x' } }), 400, 'NUL in a key');
  assertProblem(await send({ ts, values: { label: 'half \ud800 a pair' } }), 400, 'an unpaired surrogate');
  // A good message after them: once it is stored, the refused ones would have been too.
  assert.is((await send({ ts: ts + 2, values: { ok: 3 } })).status, 202);
  await until('the good point stored', async () => (await stored('ok')).length > 0);
  assert.equal((await stored('ok')).map((v) => (v as { value: unknown }).value), [3]);
  assert.equal(await stored('label'), []);
});

bounds('a point is refused beyond a JS Date and beyond the allowed clock skew; a few minutes ahead is fine', async () => {
  assertProblem(await send({ ts: 1e20, values: { skew: 1 } }), 400, 'ts 1e20');
  assertProblem(await send({ ts: 8.64e15 + 1, values: { skew: 1 } }), 400, 'ts past the last Date');
  const ahead = await send({ ts: Date.now() + 23 * hour, values: { skew: 2 } });
  assertProblem(ahead, 400, 'ts 23 h ahead');
  assert.ok(ahead.body.errors.some((e: { path: string }) => e.path === 'body.ts'), JSON.stringify(ahead.body));
  const inBatch = await send([{ values: { skew: 3 } }, { ts: Date.now() + 10 * 60_000, values: { skew: 3 } }]);
  assertProblem(inBatch, 400, '10 min ahead in a batch');
  assert.ok(inBatch.body.errors.some((e: { path: string }) => e.path === 'body.1.ts'), JSON.stringify(inBatch.body));
  const soon = Date.now() + 4 * 60_000;
  assert.is((await send({ ts: soon, values: { skew: 4 } })).status, 202, '4 min ahead is within the skew');
  await until('the point 4 min ahead stored', async () => (await stored('skew')).length > 0);
  assert.equal(await stored('skew'), [{ key: 'skew', ts: soon, value: 4 }]);
});

bounds('NUL in a device name, type, tag or metadata, and metadata nested 5,000 deep, are 400s that store nothing', async () => {
  const before = (await as('GET', '/devices?limit=1')).body.total;
  const bad = [
    { name: 'bad\u0000name', type: 'sensor' },
    { name: 'ok', type: 'sen\u0000sor' },
    { name: 'ok', type: 'sensor', tags: ['fine', 'ta\u0000g'] },
    { name: 'ok', type: 'sensor', metadata: { note: 'in\u0000side' } },
    { name: 'ok', type: 'sensor', metadata: { deep: { 'k\u0000': 1 } } },
    { name: 'ok', type: 'sensor', metadata: { list: [['\u0000']] } },
  ];
  for (const body of bad) {
    assertProblem(await as('POST', '/devices', { body }), 400, `POST /devices ${JSON.stringify(body)}`);
    assertProblem(await as('POST', '/devices/bulk', { body: { devices: [{ name: 'fine', type: 'sensor' }, body] } }), 400, `bulk ${JSON.stringify(body)}`);
    const { name, ...rest } = body;
    assertProblem(await as('PATCH', `/devices/${ctx.device}`, { body: name === 'ok' ? rest : { name } }), 400, `PATCH ${JSON.stringify(body)}`);
  }
  const deep = `{"name":"deep","type":"sensor","metadata":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`;
  assertProblem(await as('POST', '/devices', { raw: deep }), 400, 'metadata 5,000 deep');
  assertProblem(await as('PATCH', `/devices/${ctx.device}`, { raw: `{"metadata":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}` }), 400, 'PATCH metadata 5,000 deep');
  assertProblem(await as('POST', '/devices', { body: { name: 'big', type: 'sensor', metadata: { blob: 'x'.repeat(64 * 1024) } } }), 400, 'metadata of 64 KiB');
  assert.is((await as('GET', '/devices?limit=1')).body.total, before, 'no device was added');
  const device = await as('GET', `/devices/${ctx.device}`);
  assert.is(device.body.name, 'Bounded');
  assert.equal(device.body.metadata, {});
  // Bounds leave room for what metadata is for.
  const fine = await as('POST', '/devices', { body: { name: 'Nested', type: 'sensor', tags: ['ü', '😀'], metadata: { a: { b: { c: [1, 'two', null] } } } } });
  assert.is(fine.status, 201, JSON.stringify(fine.body));
  assertProblem(await as('GET', `/devices?q=${encodeURIComponent('x\u0000')}`), 400, 'NUL in a search');
  assertProblem(await as('GET', `/devices?tag=${encodeURIComponent('x\u0000')}`), 400, 'NUL in a tag filter');
});

bounds('a NUL in an alert rule key is a 400', async () => {
  assertProblem(await as('POST', `/devices/${ctx.device}/rules`, { body: { key: 'te\u0000mp', op: 'gt', value: 1 } }), 400, 'POST rule');
  const rule = await as('POST', `/devices/${ctx.device}/rules`, { body: { key: 'temp', op: 'gt', value: 1 } });
  assert.is(rule.status, 201, JSON.stringify(rule.body));
  assertProblem(await as('PATCH', `/devices/${ctx.device}/rules/${rule.body.id}`, { body: { key: '\u0000' } }), 400, 'PATCH rule');
});

bounds('times beyond a JS Date and intervals beyond a safe integer are 400s on every query route', async () => {
  const one = `/devices/${ctx.device}/telemetry`;
  const longInterval = `1${'0'.repeat(300)}ms`;
  for (const q of [`from=${huge}`, `to=${huge}`, `from=0&to=${huge}`, 'to=1e20', `to=${8.64e15 + 1}`, `interval=${longInterval}`, `interval=${'9'.repeat(17)}d`]) {
    assertProblem(await as('GET', `${one}?${q}`), 400, `GET ${q}`);
  }
  assertProblem(await as('DELETE', `${one}?to=${huge}`), 400, 'DELETE to=1e20');
  for (const body of [{ from: 1e20 }, { to: 1e20 }, { to: huge }, { interval: longInterval }, { interval: `${'9'.repeat(17)}d` }]) {
    assertProblem(await as('POST', '/telemetry/query', { body: { deviceIds: [ctx.device], ...body } }), 400, `POST /telemetry/query ${JSON.stringify(body)}`);
  }
  assertProblem(await as('GET', `/devices/${ctx.device}/forecast?key=temp&interval=${longInterval}`), 400, 'forecast interval');
  // The edges themselves are times.
  assert.is((await as('GET', `${one}?from=0&to=${8.64e15}&interval=${8.64e15}ms`)).status, 200);
});

bounds('forged and garbled page cursors are 400 validation problems', async () => {
  const forged = [
    'not base64 at all!!',
    '%%%',
    b64('not json'),
    b64('[]'),
    b64('null'),
    b64('{"s":"-createdAt","k":"yesterday","id":"00000000-0000-4000-8000-000000000000"}'),
    b64('{"s":"-createdAt","k":"2024-02-31T00:00:00.000Z","id":"00000000-0000-4000-8000-000000000000"}'),
    b64('{"s":"-createdAt","k":"2024-01-01T00:00:00.000Z","id":"not-a-uuid"}'),
    b64('{"s":"name","k":"a\\u0000b","id":"00000000-0000-4000-8000-000000000000"}'),
    b64('{"at":"not a time","id":"00000000-0000-4000-8000-000000000000"}'),
    b64('{"at":"99999-01-01T00:00:00Z","id":"00000000-0000-4000-8000-000000000000"}'),
    b64(`{"ts":${huge},"key":"temp","order":"asc"}`),
    b64('{"ts":1e400,"key":"temp","order":"asc"}'),
    b64('{"ts":-1,"key":"temp","order":"asc"}'),
    b64('{"ts":1.5,"key":"temp","order":"asc"}'),
    b64('{"ts":1000,"key":"te\\u0000mp","order":"asc"}'),
    b64('{"ts":1000,"key":"temp","order":"sideways"}'),
  ];
  for (const cursor of forged) {
    const c = encodeURIComponent(cursor);
    assertProblem(await as('GET', `/devices?cursor=${c}`), 400, `GET /devices cursor ${cursor}`);
    assertProblem(await as('GET', `/devices?sort=name&cursor=${c}`), 400, `GET /devices?sort=name cursor ${cursor}`);
    assertProblem(await as('GET', `/alerts?cursor=${c}`), 400, `GET /alerts cursor ${cursor}`);
    assertProblem(await as('GET', `/devices/${ctx.device}/telemetry?cursor=${c}`), 400, `GET telemetry cursor ${cursor}`);
  }
  // A cursor the list gave still pages on.
  await as('POST', '/devices', { body: { name: 'Second', type: 'sensor' } });
  const first = await as('GET', '/devices?limit=1&sort=name');
  assert.type(first.body.nextCursor, 'string');
  assert.is((await as('GET', `/devices?limit=1&sort=name&cursor=${first.body.nextCursor}`)).status, 200);
  assertProblem(await as('GET', `/devices?limit=1&sort=createdAt&cursor=${first.body.nextCursor}`), 400, 'another sort\'s cursor');
});

bounds('an aggregate without keys counts the buckets of every key in range against the cap', async () => {
  const device = await as('POST', '/devices', { body: { name: 'Many keys', type: 'sensor' } });
  const token = device.body.deviceToken as string;
  const id = device.body.device.id as string;
  const ts = Date.now() - hour;
  const values = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${i}`, i]));
  assert.is((await call(base(), 'POST', '/telemetry', { body: { ts, values }, headers: { authorization: `Device ${token}` } })).status, 202);
  await until('200 keys stored', async () => ((await as('GET', `/devices/${id}/telemetry/latest`)).body.items?.length === 200 ? true : undefined));
  // 100 buckets a key: one key is within the cap, all 200 are not.
  const range = `from=${ts - 50 * hour}&to=${ts + 50 * hour}&interval=1h`;
  assert.ok(100 * 200 > maxBuckets && 100 <= maxBuckets);
  const all = await as('GET', `/devices/${id}/telemetry?${range}`);
  assertProblem(all, 400, 'aggregate of 200 keys');
  assert.match(all.body.detail, /20000 buckets/);
  assertProblem(await as('POST', '/telemetry/query', { body: { deviceIds: [id], from: ts - 50 * hour, to: ts + 50 * hour, interval: '1h' } }), 400, 'POST aggregate of 200 keys');
  const named = await as('GET', `/devices/${id}/telemetry?${range}&keys=k1,k2`);
  assert.is(named.status, 200, JSON.stringify(named.body));
  assert.is(named.body.items.length, 2);
  // Keys with nothing since `from` do not count: the same device, a range after its data.
  assert.is((await as('GET', `/devices/${id}/telemetry?from=${ts + 1}&to=${ts + 100 * hour}&interval=1h`)).status, 200);
});

/** Bad values of every kind: wrong types, huge numbers, NUL, unpaired surrogates, deep nesting, long text. */
const badValues: unknown[] = [null, true, 'a\u0000b', '\ud800', 1e300, -1, 1.5, 9007199254740993, [], [[['x']]], {}, 'x'.repeat(20_000), deepObject(200)];
const badQueryValues = ['', '\u0000', '%00', huge, '1e20', '-1', '1.5', 'NaN', 'x'.repeat(5000), '2024-02-31T00:00:00Z', `1${'0'.repeat(300)}d`];
const badPathValues = ['x', '%00', '..', 'a'.repeat(300), '00000000-0000-0000-0000-000000000000', huge];

function deepObject(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

interface Operation {
  parameters?: Array<{ name: string; in: string }>;
  requestBody?: { content: Record<string, { schema?: { properties?: Record<string, unknown> } }> };
  security?: Array<Record<string, unknown>>;
}

const sweep = suite('every route of the OpenAPI document under bad input');
const sweepCtx: { p?: TestPlatform; user?: User; device?: string; token?: string } = {};
sweep.before(async () => {
  sweepCtx.p = await startPlatform();
  sweepCtx.user = await signedInUser(sweepCtx.p.url, 'sweep');
  const res = await call(sweepCtx.p.url, 'POST', '/devices', { token: sweepCtx.user.accessToken, body: { name: 'Swept', type: 'sensor' } });
  sweepCtx.device = res.body.device.id;
  sweepCtx.token = res.body.deviceToken;
});
sweep.after(async () => {
  await sweepCtx.p?.close();
});

sweep('no 5xx, every 4xx problem+json, and the platform still ready after', async () => {
  const url = sweepCtx.p!.url;
  const document = (await call(url, 'GET', '/openapi.json')).body as { paths: Record<string, Record<string, Operation>> };
  const failures: string[] = [];
  let sent = 0;
  async function attempt(method: string, path: string, operation: Operation, options: { body?: unknown; raw?: string } = {}) {
    const device = operation.security?.some((s) => 'deviceToken' in s);
    const headers: Record<string, string> = device ? { authorization: `Device ${sweepCtx.token}` } : {};
    if (options.raw !== undefined) headers['content-type'] = 'application/json';
    const res = await call(url, method.toUpperCase(), path, { ...options, headers, ...(device ? {} : { token: sweepCtx.user!.accessToken }) });
    sent++;
    const what = `${method.toUpperCase()} ${path.slice(0, 120)} ${options.raw === undefined ? JSON.stringify(options.body)?.slice(0, 120) ?? '' : `${options.raw.slice(0, 40)}…`}`;
    if (res.status >= 500) failures.push(`${what}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
    else if (res.status >= 400 && !res.headers.get('content-type')?.startsWith('application/problem+json')) failures.push(`${what}: ${res.status} is not problem+json`);
  }
  for (const [template, operations] of Object.entries(document.paths)) {
    // Logging out would end the session the rest of the sweep runs as.
    if (template.includes('logout')) continue;
    for (const [method, operation] of Object.entries(operations)) {
      const pathParams = (operation.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
      const fill = (value: (name: string) => string) => template.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(value(name)));
      const real = fill((name) => (name === 'id' ? sweepCtx.device! : '00000000-0000-4000-8000-000000000000'));
      for (const bad of pathParams.length ? badPathValues : []) await attempt(method, fill(() => bad), operation);
      for (const parameter of (operation.parameters ?? []).filter((p) => p.in === 'query')) {
        for (const bad of badQueryValues) await attempt(method, `${real}?${parameter.name}=${encodeURIComponent(bad)}`, operation);
      }
      const content = operation.requestBody?.content['application/json'];
      if (!content) continue;
      for (const body of [null, 'text', 1e300, [], deepObject(50)]) await attempt(method, real, operation, { body });
      await attempt(method, real, operation, { raw: `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}` });
      await attempt(method, real, operation, { raw: `${'['.repeat(5000)}${']'.repeat(5000)}` });
      for (const property of Object.keys(content.schema?.properties ?? {})) {
        for (const bad of badValues) await attempt(method, real, operation, { body: { [property]: bad } });
      }
    }
  }
  assert.ok(sent > 500, `${sent} requests sent`);
  assert.equal(failures, []);
  const ready = await call(url, 'GET', '/readyz');
  assert.is(ready.status, 200, JSON.stringify(ready.body));
});

bounds.run();
sweep.run();
