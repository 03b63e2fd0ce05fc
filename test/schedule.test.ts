/**
 * Scheduled functions: the cron subset, each registered function's pass doing its work (on the embedded
 * platform and on the real services), the runner (one run at a time under the lock, several passes per
 * invocation with everySeconds), the in-process scheduler, the functions-framework host a cluster fires, and
 * the `iotfn scheduler` process.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { defineScheduleFunction, type ScheduleFunction, type ScheduleInput } from '../shared/function.ts';
import { functions, scheduleFunctions } from '../functions/registry.ts';
import { nextCronTick, parseCron } from '../shared/schedule/cron.ts';
import { runScheduled, scheduleLockName, type ScheduleClock, type ScheduledRun } from '../shared/schedule/run-scheduled.ts';
import { startScheduler } from '../shared/schedule/scheduler.ts';
import { registerWithFunctionsFramework, takeOverFrameworkServer } from '../shared/http/framework-host.ts';
import { metricsRegistry } from '../shared/metrics.ts';
import { eventTypes, exchanges } from '../shared/bus/topology.ts';
import { telemetryRetention } from '../shared/config.ts';
import { call, signedInUser, startPlatform, type TestPlatform } from './support/platform.ts';
import { exitCode, freePort, freshSigningKeyPem, repoRoot, startProcess, waitForHttp, type Started } from './support/processes.ts';
import { collect, sleep } from './support/bus.ts';
import { services } from './support/services.ts';
import { until } from './support/wait.ts';

const scheduled = (name: string): ScheduleFunction => {
  const fn = scheduleFunctions.find((f) => f.name === name);
  if (!fn) throw new Error(`no scheduled function ${name} in the registry`);
  return fn;
};
const ran = (run: ScheduledRun) => {
  if ('skipped' in run) throw new Error(`${run.function} skipped`);
  return run;
};
const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const minute = 60_000;

/** A function for the runner's tests: each pass is recorded, and may wait on a gate or throw. */
function probeFunction(name: string, options: { everySeconds?: number; cron?: string; pass?: (input: ScheduleInput, n: number) => Promise<void> } = {}) {
  const passes: number[] = [];
  let active = 0;
  let overlapped = false;
  const fn = defineScheduleFunction({
    name: `${name}${randomUUID().slice(0, 8)}`,
    domain: 'monitoring',
    summary: 'test',
    schedule: { cron: options.cron ?? '* * * * *', ...(options.everySeconds ? { everySeconds: options.everySeconds } : {}) },
    async handler(input) {
      passes.push(input.now);
      if (++active > 1) overlapped = true;
      try {
        await options.pass?.(input, passes.length);
      } finally {
        active--;
      }
      return { n: 1 };
    },
  });
  return { fn, passes, overlapped: () => overlapped };
}

/** A clock that sleeps at once, moving its time on instead. */
function fakeClock(start: number): ScheduleClock & { slept: number[] } {
  let now = start;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    async sleep(ms) {
      slept.push(ms);
      now += ms;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------

const cron = suite('cron: the five-field subset schedules are written in');

cron('finds the next tick, strictly after the time given', () => {
  const at = (iso: string) => Date.parse(iso);
  const iso = (ms: number) => new Date(ms).toISOString();
  assert.is(iso(nextCronTick('* * * * *', at('2026-01-01T10:20:00Z'))), '2026-01-01T10:21:00.000Z');
  assert.is(iso(nextCronTick('* * * * *', at('2026-01-01T10:20:59.999Z'))), '2026-01-01T10:21:00.000Z');
  assert.is(iso(nextCronTick('0 * * * *', at('2026-01-01T10:20:00Z'))), '2026-01-01T11:00:00.000Z');
  assert.is(iso(nextCronTick('*/15 3 * * 1', at('2026-01-01T10:20:00Z'))), '2026-01-05T03:00:00.000Z');
  assert.is(iso(nextCronTick('5-10/5 0 1,15 * *', at('2026-01-01T00:05:00Z'))), '2026-01-01T00:10:00.000Z');
  assert.is(iso(nextCronTick('0 0 29 2 *', at('2026-01-01T00:00:00Z'))), '2028-02-29T00:00:00.000Z');
  // Both day fields restricted: either one matching is enough (1 March 2026 is a Sunday, 2 March a Monday).
  assert.is(iso(nextCronTick('0 0 2 * 0', at('2026-02-28T12:00:00Z'))), '2026-03-01T00:00:00.000Z');
  assert.ok(parseCron('0 0 * * 7').matches(new Date('2026-03-01T00:00:00Z')), '7 is Sunday too');
});

cron('refuses what it does not read, naming the field', () => {
  assert.throws(() => parseCron('* * * *'), /five fields/);
  assert.throws(() => parseCron('60 * * * *'), /minute field "60"/);
  assert.throws(() => parseCron('* * * JAN *'), /month field "JAN"/);
  assert.throws(() => parseCron('@hourly'), /five fields/);
  assert.throws(() => parseCron('*/0 * * * *'), /minute field/);
  assert.throws(() => nextCronTick('0 0 31 2 *', 0), /never fires/);
});

cron('every registered schedule: a cron that fires, a sub-minute everySeconds, a file named after the function', async () => {
  assert.equal(scheduleFunctions.map((fn) => fn.name).sort(), ['expireCommands', 'expireTelemetry', 'sweepNoData', 'sweepPresence']);
  for (const fn of scheduleFunctions) {
    assert.ok(nextCronTick(fn.schedule.cron, Date.now()) > Date.now(), fn.name);
    const every = fn.schedule.everySeconds;
    if (every !== undefined) assert.ok(Number.isInteger(every) && every >= 1 && every < 60, `${fn.name}: everySeconds ${every}`);
    const file = join(repoRoot, 'functions', fn.domain, `${kebab(fn.name)}.ts`);
    assert.ok(existsSync(file), `${fn.name} lives in ${file}`);
    assert.is((await import(file)).default, fn);
  }
});

cron.run();

// ---------------------------------------------------------------------------------------------------------------

/** Each registered function's pass does its work; the same suite on the embedded adapters and the real services. */
function workSuite(label: string, embedded: boolean): void {
  const work = suite(`scheduled functions do their work (${label})`);
  const w: { p?: TestPlatform; owner?: Awaited<ReturnType<typeof signedInUser>> } = {};
  const as = (method: string, path: string, body?: unknown) => call(w.p!.url, method, path, { token: w.owner!.accessToken, body });
  const newDevice = async (name: string) => {
    const res = await as('POST', '/devices', { name, type: 'sensor' });
    assert.is(res.status, 201);
    return { id: res.body.device.id as string, token: res.body.deviceToken as string };
  };

  /**
   * One pass of a registered function, as its scheduler would run it. On the real services other processes (other
   * test runs' platforms) may run the same function on the same database: a run they hold the lock for is waited
   * out, and work on the shared database they did first is theirs: `atLeastOne` is checked where no other
   * process can have done the work (the embedded platform; this platform's own Redis keys).
   */
  const runPass = async (name: string, counted: string, atLeastOne: boolean): Promise<number> => {
    const run = await until(`${name} runs (not skipped)`, async () => {
      const result = await runScheduled(scheduled(name), w.p!.deps, { once: true });
      return 'skipped' in result ? (await sleep(100), undefined) : result;
    }, 15_000);
    assert.is(run.passes, 1);
    const count = run.totals[counted];
    assert.type(count, 'number');
    if (atLeastOne) assert.ok(count! >= 1, `${name}: ${counted} ${count}`);
    return count!;
  };

  work.before(async () => {
    // No local platform: its scheduler would run these passes itself, and race the ones under test.
    w.p = await startPlatform({ embedded, local: false, env: { DEVICE_ONLINE_SECONDS: '1' } });
    w.owner = await signedInUser(w.p.url, 'schedule');
  });
  work.after(async () => {
    await w.p?.close();
  });

  work('expireTelemetry deletes telemetry older than the retention and keeps the rest', async () => {
    const deps = w.p!.deps;
    const deviceId = randomUUID();
    const now = Date.now();
    const old = now - (deps.config.TELEMETRY_RETENTION_DAYS + 10) * 86_400_000;
    const recent = now - 86_400_000;
    // A point past retention is never stored as a point, so the old one is written while the retention was
    // longer, as if it had been written forty days ago.
    const retention = telemetryRetention(deps.config);
    await deps.telemetry.prepare({ ...retention, retentionDays: retention.retentionDays + 20 });
    await deps.telemetry.write([{ messageId: randomUUID(), deviceId, points: [{ ts: old, values: { t: 1 } }] }]);
    await deps.telemetry.prepare(retention);
    await deps.telemetry.write([{ messageId: randomUUID(), deviceId, points: [{ ts: recent, values: { t: 2 } }] }]);
    assert.is((await deps.telemetry.raw({ deviceId, from: 0, to: now + 1, order: 'asc', limit: 10 })).length, 2);
    await runPass('expireTelemetry', 'expired', embedded);
    const left = await deps.telemetry.raw({ deviceId, from: 0, to: now + 1, order: 'asc', limit: 10 });
    assert.equal(left, [{ key: 't', ts: recent, value: 2 }]);
  });

  work('sweepNoData opens an alert for a nodata rule whose key stayed silent for its window', async () => {
    const device = await newDevice('Silent');
    const rule = await as('POST', `/devices/${device.id}/rules`, { key: 'heartbeat', op: 'nodata', forSeconds: 1 });
    assert.is(rule.status, 201, JSON.stringify(rule.body));
    const early = await runPass('sweepNoData', 'opened', false);
    if (embedded) assert.is(early, 0, 'the only rule on the store is inside its window');
    assert.equal((await as('GET', `/alerts?deviceId=${device.id}`)).body.items, [], 'inside the window');
    await sleep(1_200);
    await runPass('sweepNoData', 'opened', embedded);
    const open = (await as('GET', `/alerts?deviceId=${device.id}&state=open`)).body.items;
    assert.is(open.length, 1);
    assert.is(open[0].ruleId, rule.body.id);
  });

  work('sweepPresence announces offline a device silent for longer than DEVICE_ONLINE_SECONDS', async () => {
    const deps = w.p!.deps;
    const status = await collect(deps.bus, [{ exchange: exchanges.events, pattern: 'device.status' }]);
    try {
      const device = await newDevice('Talkative');
      const sent = await call(w.p!.url, 'POST', '/telemetry', { body: { values: { a: 1 } }, headers: { authorization: `Device ${device.token}` } });
      assert.is(sent.status, 202);
      assert.is((await as('GET', `/devices/${device.id}`)).body.online, true);
      await sleep(1_200);
      // Presence lives under this platform's own Redis key prefix: no other process sweeps it.
      await runPass('sweepPresence', 'offline', true);
      assert.is((await as('GET', `/devices/${device.id}`)).body.online, false);
      const mine = await until('offline announced', () => {
        const events = status.events().filter((e) => e.data.deviceId === device.id && e.data.online === false);
        return events.length > 0 ? events : undefined;
      }, 5_000);
      assert.is(mine[0]!.type, eventTypes.device('device.status'));
    } finally {
      await status.stop();
    }
  });

  work('expireCommands expires a command nobody answered by its expiry', async () => {
    const device = await newDevice('Deaf');
    const sent = await as('POST', `/devices/${device.id}/commands`, { name: 'noop', timeoutSeconds: 1 });
    assert.is(sent.status, 202, JSON.stringify(sent.body));
    const id = sent.body.command.id;
    const count = async () => (await w.p!.deps.db.query<{ status: string }>('SELECT status FROM device_commands WHERE id = $1', [id])).rows[0]?.status;
    assert.is(await count(), 'queued');
    await sleep(1_100);
    await runPass('expireCommands', 'expired', embedded);
    assert.is(await count(), 'expired', 'stored as expired, not only read so');
  });

  work('two invocations at once: one runs, the other reports skipped; the lock is free afterwards', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    // Only the first pass waits: a second run let in by mistake must return and fail the test, not hang it.
    const probe = probeFunction('twice', { pass: async (_input, n) => (n === 1 ? gate : undefined) });
    const first = runScheduled(probe.fn, w.p!.deps);
    await until('the first run is in its pass', () => probe.passes.length === 1, 5_000);
    assert.equal(await runScheduled(probe.fn, w.p!.deps), { function: probe.fn.name, skipped: 'locked' });
    open();
    assert.is(ran(await first).passes, 1);
    assert.is(ran(await runScheduled(probe.fn, w.p!.deps)).passes, 1);
    assert.is(probe.passes.length, 2);
  });

  work.run();
}

workSuite('embedded: PGlite, memory cache, in-process bus', true);
workSuite('real services: PostgreSQL, Redis, RabbitMQ', false);

// ---------------------------------------------------------------------------------------------------------------

const runner = suite('runScheduled and startScheduler');
const r: { p?: TestPlatform; other?: TestPlatform } = {};

runner.before(async () => {
  // Two platforms on one database, each with its own pool: two processes, as far as the database can tell.
  r.p = await startPlatform({ local: false });
  r.other = await startPlatform({ local: false });
});
runner.after(async () => {
  await r.p?.close();
  await r.other?.close();
});

runner('with everySeconds, passes that far apart until the next tick, returning before it is due', async () => {
  const probe = probeFunction('every5', { everySeconds: 5 });
  const start = Date.parse('2026-01-01T12:00:30Z');
  const clock = fakeClock(start);
  const run = ran(await runScheduled(probe.fn, r.p!.deps, { clock }));
  assert.equal(probe.passes.map((t) => (t - start) / 1000), [0, 5, 10, 15, 20, 25]);
  assert.is(run.passes, 6);
  assert.equal(run.totals, { n: 6 });
  assert.ok(clock.now() < Date.parse('2026-01-01T12:01:00Z'), 'done before the next tick');
  // A function without everySeconds makes one pass per tick.
  const once = probeFunction('hourly', { cron: '0 * * * *' });
  assert.is(ran(await runScheduled(once.fn, r.p!.deps, { clock: fakeClock(start) })).passes, 1);
});

runner('on the real clock too: passes a second apart, done before the minute turns', async () => {
  const probe = probeFunction('every1', { everySeconds: 1 });
  // 57.5 s into a minute, whatever the time now: passes at 57.5 and 58.5; one at 59.5 could end after the tick.
  const offset = 57_500 - (Date.now() % minute);
  const clock: ScheduleClock = {
    now: () => Date.now() + offset,
    async sleep(ms) {
      await sleep(ms);
    },
  };
  const began = Date.now();
  const run = ran(await runScheduled(probe.fn, r.p!.deps, { clock }));
  assert.is(run.passes, 2);
  const gap = probe.passes[1]! - probe.passes[0]!;
  assert.ok(gap >= 990 && gap < 1_300, `passes ${gap} ms apart`);
  assert.ok(Date.now() - began < 2_500, 'returned before the tick');
});

runner('a failing pass is counted and the next goes on; a run with no good pass throws; either frees the lock', async () => {
  const flaky = probeFunction('flaky', {
    everySeconds: 20,
    pass: async (_input, n) => {
      if (n === 1) throw new Error('first pass fails');
    },
  });
  const run = ran(await runScheduled(flaky.fn, r.p!.deps, { clock: fakeClock(Date.parse('2026-01-01T12:00:00Z')) }));
  assert.is(run.passes, 3);
  assert.is(run.failed, 1);
  assert.equal(run.totals, { n: 2 });

  const broken = probeFunction('broken', { pass: async () => { throw new Error('always'); } });
  for (let i = 0; i < 2; i++) {
    try {
      await runScheduled(broken.fn, r.p!.deps);
      assert.unreachable('a run with no good pass throws');
    } catch (error) {
      assert.is((error as Error).message, 'always');
    }
  }
  assert.is(broken.passes.length, 2, 'the lock was free for the second run');
  const metrics = await metricsRegistry.getSingleMetricAsString('iotfn_schedule_runs_total');
  assert.match(metrics, new RegExp(`iotfn_schedule_runs_total\\{function="${broken.fn.name}",outcome="error"\\} 2`));
  assert.match(metrics, new RegExp(`iotfn_schedule_runs_total\\{function="${flaky.fn.name}",outcome="ok"\\} 2`));
});

runner('two processes on one database: the run on one holds the lock, the other skips (and counts it)', async () => {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const probe = probeFunction('shared', { pass: async (_input, n) => (n === 1 ? gate : undefined) });
  const first = runScheduled(probe.fn, r.p!.deps);
  await until('the first run is in its pass', () => probe.passes.length === 1, 5_000);
  assert.equal(await runScheduled(probe.fn, r.other!.deps), { function: probe.fn.name, skipped: 'locked' });
  open();
  await first;
  assert.ok(ran(await runScheduled(probe.fn, r.other!.deps)).passes === 1, 'the other process runs once the lock is free');
  assert.match(await metricsRegistry.getSingleMetricAsString('iotfn_schedule_runs_total'), new RegExp(`function="${probe.fn.name}",outcome="skipped"\\} 1`));
  // What the advisory lock is keyed on: the function's name, the same in every process.
  assert.is(scheduleLockName(probe.fn), `schedule:${probe.fn.name}`);
});

runner('startScheduler: a pass every everySeconds, never overlapping itself; stop() waits for the pass running', async () => {
  let slowDone = false;
  const slow = probeFunction('slow', {
    everySeconds: 1,
    // Longer than its interval: the tick that comes during a pass must not start another.
    pass: async () => {
      slowDone = false;
      await sleep(1_300);
      slowDone = true;
    },
  });
  const quick = probeFunction('quick', { everySeconds: 1 });
  const scheduler = startScheduler(r.p!.deps, [slow.fn, quick.fn]);
  assert.match(scheduler.describe, new RegExp(`${slow.fn.name} every 1 s`));
  await until('the quick one ran three times', () => quick.passes.length >= 3, 10_000);
  await until('the slow one is in a pass', () => !slowDone && slow.passes.length >= 1, 5_000);
  await scheduler.stop();
  assert.ok(slowDone, 'stop() resolved after the running pass had finished');
  assert.not.ok(slow.overlapped(), 'passes never overlapped');
  assert.ok(slow.passes.length < quick.passes.length, `slow ${slow.passes.length}, quick ${quick.passes.length}`);
  const after = quick.passes.length;
  await sleep(1_200);
  assert.is(quick.passes.length, after, 'no pass after stop()');
});

runner.run();

// ---------------------------------------------------------------------------------------------------------------

const host = suite('scheduled functions on the functions-framework host (PingSource, cron-connector)');
const h: { p?: TestPlatform; servers: Server[] } = { servers: [] };

async function serve(name: string): Promise<string> {
  const server = getTestServer(name);
  h.servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const pingHeaders = () => ({
  'content-type': 'application/json',
  'ce-specversion': '1.0',
  'ce-id': randomUUID(),
  'ce-type': 'dev.knative.sources.ping',
  'ce-source': '/apis/v1/namespaces/iotfn/pingsources/expire-telemetry',
});

host.before(async () => {
  // Embedded: no other process's scheduler can hold these functions' locks here (the runner's suite above is where
  // two processes meet on PostgreSQL).
  h.p = await startPlatform({ embedded: true, local: false });
  await takeOverFrameworkServer(h.p.deps.config.BODY_LIMIT_BYTES);
  registerWithFunctionsFramework(functions, async () => h.p!.deps);
});
host.after(async () => {
  for (const server of h.servers) {
    server.closeAllConnections?.();
    await new Promise((resolve) => server.close(resolve));
  }
  await h.p?.close();
});

host('a PingSource CloudEvent, binary or structured, and a bare POST each run one invocation: 200 with the summary', async () => {
  const url = await serve('expireTelemetry');
  const binary = await call(url, 'POST', '/', { raw: '{"note":"tick"}', headers: pingHeaders() });
  assert.is(binary.status, 200, JSON.stringify(binary.body));
  assert.match(binary.headers.get('content-type') ?? '', /^application\/json/);
  assert.is(binary.body.function, 'expireTelemetry');
  assert.is(binary.body.passes, 1);
  assert.is(typeof binary.body.totals.expired, 'number');
  const structured = await call(url, 'POST', '/', {
    raw: JSON.stringify({ specversion: '1.0', id: randomUUID(), type: 'dev.knative.sources.ping', source: '/test', data: {} }),
    headers: { 'content-type': 'application/cloudevents+json' },
  });
  assert.is(structured.status, 200, JSON.stringify(structured.body));
  assert.is(structured.body.passes, 1);
  // OpenFaaS's cron-connector: a POST with no body to the function's path.
  const cronConnector = await call(url, 'POST', '/function/expire-telemetry');
  assert.is(cronConnector.status, 200);
  assert.is(cronConnector.body.function, 'expireTelemetry');
});

host('while another run holds the lock: 200 with skipped "locked"', async () => {
  const url = await serve('expireTelemetry');
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let holding = false;
  const held = h.p!.deps.db.withTryLock(scheduleLockName(scheduled('expireTelemetry')), async () => {
    holding = true;
    await gate;
  });
  await until('the lock is held', () => holding, 5_000);
  const res = await call(url, 'POST', '/', { raw: '{}', headers: pingHeaders() });
  open();
  await held;
  assert.is(res.status, 200);
  assert.equal(res.body, { function: 'expireTelemetry', skipped: 'locked' });
});

host('GET answers 405 problem+json with Allow: POST; the probes answer as on every function', async () => {
  const url = await serve('sweepPresence');
  const get = await call(url, 'GET', '/');
  assert.is(get.status, 405);
  assert.is(get.headers.get('content-type'), 'application/problem+json');
  assert.is(get.headers.get('allow'), 'POST');
  assert.is(get.body.type, '/problems/method-not-allowed');
  assert.is((await call(url, 'GET', '/healthz')).status, 200);
  assert.equal((await call(url, 'GET', '/readyz')).body, { ready: true });
  assert.is((await call(url, 'PUT', '/')).status, 405);
});

host.run();

// ---------------------------------------------------------------------------------------------------------------

const cli = suite('iotfn scheduler');
const c: { started?: Started } = {};

cli('starts, names what it runs, answers its probes, runs the functions, and stops on SIGTERM', async () => {
  const [port, metricsPort] = [await freePort(), await freePort()];
  c.started = startProcess(process.execPath, ['--import', 'tsx', 'bin/iotfn.ts', 'scheduler'], {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    PORT: String(port),
    METRICS_PORT: String(metricsPort),
    DATABASE_URL: services.databaseUrl,
    REDIS_URL: services.redisUrl,
    AMQP_URL: services.amqpUrl,
    REDIS_KEY_PREFIX: `test-${Math.random().toString(36).slice(2, 10)}:`,
    JWT_PRIVATE_KEY: freshSigningKeyPem(),
  });
  await waitForHttp(`http://127.0.0.1:${port}/healthz`, c.started);
  assert.equal((await call(`http://127.0.0.1:${port}`, 'GET', '/readyz')).body, { ready: true });
  await until('the banner', () => /scheduler: .*expireCommands every 1 s/.test(c.started!.output()), 10_000);
  for (const fn of scheduleFunctions) assert.ok(c.started.output().includes(fn.name), `${fn.name} in the banner`);
  // expireCommands runs every second: its passes show on the process's metrics (skipped if another held its lock).
  await until('expireCommands passes counted', async () => /iotfn_schedule_runs_total\{function="expireCommands",outcome="(ok|skipped)"\} [1-9]/.test(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()), 15_000);
  c.started.child.kill('SIGTERM');
  assert.is(await exitCode(c.started, 15_000), 0);
});

cli.after(async () => {
  await c.started?.stop();
});

cli.run();
