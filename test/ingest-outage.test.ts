/**
 * An outage is not poison: PostgreSQL (the relational database and the telemetry store here) becomes
 * unreachable for 10 s while telemetry keeps arriving on the bus. The ingest trigger holds its events,
 * `/readyz` says what is down, and once the database answers every event is stored exactly once and none
 * was dead-lettered. PostgreSQL itself stays up for the rest of the suite: the platform reaches it through a
 * forwarder the test cuts (test/support/tcp-proxy.ts).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomUUID } from 'node:crypto';
import { call, startPlatform, type TestPlatform } from './support/platform.ts';
import { collect, sleep, type Collector } from './support/bus.ts';
import { services } from './support/services.ts';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.ts';
import { until } from './support/wait.ts';
import { cloudEvent, eventMessage } from '../shared/events.ts';
import { eventTypes, exchanges, queues, telemetryRoutingKey } from '../shared/bus/topology.ts';
import { frameworkEventHandler } from '../shared/http/framework-host.ts';
import { eventFunctions } from '../functions/registry.ts';
import { isOutage } from '../shared/bus/outage.ts';
import { Problem } from '../shared/problem.ts';
import { recentDay } from './support/time.ts';

const ctx: { proxy?: TcpProxy; p?: TestPlatform; dead?: Collector } = {};
const device = randomUUID();
const t0 = recentDay;

async function publish(from: number, count: number): Promise<void> {
  for (let i = from; i < from + count; i++) {
    const event = cloudEvent({ type: eventTypes.telemetry, source: '/test', subject: device, data: { deviceId: device, ownerId: randomUUID(), via: 'http', receivedAt: t0 + i, points: [{ ts: t0 + i, values: { x: i } }] } });
    await ctx.p!.deps.bus.publish(exchanges.telemetry, telemetryRoutingKey(device), eventMessage(event));
  }
}

async function stored(): Promise<number> {
  const { rows } = await ctx.p!.deps.db.query<{ n: string }>('SELECT count(*) AS n FROM telemetry WHERE device_id = $1', [device]);
  return Number(rows[0]!.n);
}

const test = suite('ingest through a database outage');
test.before(async () => {
  const target = new URL(services.databaseUrl);
  ctx.proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
  target.host = `127.0.0.1:${ctx.proxy.port}`;
  ctx.p = await startPlatform({ env: { DATABASE_URL: target.toString() } });
  ctx.dead = await collect(ctx.p.deps.bus, [{ exchange: exchanges.deadLetter, pattern: telemetryRoutingKey(device) }]);
});
test.after(async () => {
  await ctx.proxy?.restore();
  await ctx.dead?.stop();
  await ctx.p?.close();
  await ctx.proxy?.close();
});

test('what an outage looks like: refused and dropped connections and 503s are outages; bad data is not', () => {
  assert.ok(isOutage(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })));
  assert.ok(isOutage(new Error('Connection terminated unexpectedly')));
  assert.ok(isOutage(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' })));
  assert.ok(isOutage(new Problem('unavailable', 'down', { cause: new Error('x') })));
  assert.ok(isOutage(new Error('wrapped', { cause: Object.assign(new Error('reset'), { code: 'ECONNRESET' }) })));
  assert.not.ok(isOutage(Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { code: '22021' })));
  assert.not.ok(isOutage(Object.assign(new Error('duplicate key'), { code: '23505' })));
  assert.not.ok(isOutage(new Problem('validation', 'bad')));
  assert.not.ok(isOutage(new TypeError('x is undefined')));
});

for (const seconds of [10, 60]) {
  test(`PostgreSQL unreachable for ${seconds} s mid-stream: /readyz says so, and after it every event is stored exactly once, none dead-lettered`, async () => {
    const before = await stored();
    const at = (i: number) => before + i;
    await publish(at(0), 100);
    await until('the first events stored', async () => (await stored()) === at(100), 20_000);

    await ctx.proxy!.cut();
    const ready = await call(ctx.p!.url, 'GET', '/readyz');
    assert.is(ready.status, 503);
    // Telemetry keeps arriving while the database is gone, spread over the outage.
    const perTick = Math.floor(200 / seconds);
    const during = perTick * seconds;
    for (let second = 0; second < seconds; second++) {
      await publish(at(100 + second * perTick), perTick);
      await sleep(1000);
    }
    await ctx.proxy!.restore();
    await publish(at(100 + during), 100);

    const total = at(200 + during);
    await until('every event stored', async () => (await stored()) === total, 90_000);
    await sleep(500);
    assert.is(await stored(), total, 'stored exactly once');
    assert.is(ctx.dead!.messages.length, 0, 'nothing was dead-lettered');
    assert.is((await call(ctx.p!.url, 'GET', '/readyz')).status, 200);
  });
}

test('behind functions-framework (Knative) an outage fails the call so the source retries it; nothing is dead-lettered', async () => {
  const handle = frameworkEventHandler(eventFunctions.find((fn) => fn.name === 'ingestTelemetry')!, async () => ctx.p!.deps);
  const byFunction = await collect(ctx.p!.deps.bus, [{ exchange: exchanges.deadLetter, pattern: queues.ingest }]);
  const event = cloudEvent({ type: eventTypes.telemetry, source: '/test', subject: device, data: { deviceId: device, ownerId: randomUUID(), via: 'http', receivedAt: t0, points: [{ ts: t0 + 10_000, values: { x: -1 } }] } });
  await ctx.proxy!.cut();
  try {
    const failed = await handle(event as never).then(() => 'done', (error: Error) => error.message);
    assert.is.not(failed, 'done', 'the call fails, so Knative retries it');
  } finally {
    await ctx.proxy!.restore();
  }
  const before = await stored();
  await handle(event as never);
  await until('stored after the outage', async () => (await stored()) === before + 1);
  await sleep(200);
  assert.is(byFunction.messages.length, 0, 'nothing dead-lettered by the function');
  await byFunction.stop();
});

test.run();
