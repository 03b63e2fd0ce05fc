/**
 * `iotfn dead-letters`: what landed in `iotfn.dead-letters` is listed with where it died and why, replayed
 * into the queue it died in (and then processed), or purged. Against the real RabbitMQ and PostgreSQL with the
 * platform's ingest trigger, and against the embedded bus. The queue is emptied first: no test reads it.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { services } from './support/services.ts';
import { startPlatform, type TestPlatform } from './support/platform.ts';
import { sleep } from './support/bus.ts';
import { until } from './support/wait.ts';
import { cloudEvent, eventMessage } from '../shared/events.ts';
import { eventTypes, exchanges, queues, telemetryRoutingKey } from '../shared/bus/topology.ts';
import { listDeadLetters, purgeDeadLetters, replayDeadLetters } from '../shared/bus/dead-letters.ts';
import { eventFunctions } from '../functions/registry.ts';
import { recentDay } from './support/time.ts';

const functionQueues = new Set(eventFunctions.map((fn) => fn.trigger.queue));
const execFileAsync = promisify(execFile);

function deadLetterSuite(kind: 'rabbitmq' | 'embedded') {
  const ctx: { p?: TestPlatform } = {};
  const test = suite(`dead letters (${kind})`);
  test.before(async () => {
    ctx.p = await startPlatform(kind === 'embedded' ? { embedded: true } : {});
    await purgeDeadLetters(ctx.p.deps.bus, 1_000_000);
  });
  test.after(async () => ctx.p?.close());

  test('a poison event is listed with the queue it died in; a good one replayed is stored; the rest purged', async () => {
    const { bus, db } = ctx.p!.deps;
    const device = randomUUID();
    const ts = recentDay;
    // Dead-lettered by the trigger: not JSON, rejected on the ingest queue.
    await bus.publish(exchanges.telemetry, telemetryRoutingKey(device), { id: `poison-${device}`, type: eventTypes.telemetry, body: Buffer.from('{"not json') });
    await until('the poison event dead-lettered', async () => (await listDeadLetters(bus, functionQueues, 10)).length === 1);
    // Dead-lettered by a function itself (as the functions-framework host does): routing key = its queue.
    const good = cloudEvent({ type: eventTypes.telemetry, source: '/test', subject: device, data: { deviceId: device, ownerId: randomUUID(), via: 'http', receivedAt: ts, points: [{ ts, values: { replayed: 1 } }] } });
    await bus.publish(exchanges.deadLetter, queues.ingest, eventMessage(good));
    await until('two dead letters', async () => (await listDeadLetters(bus, functionQueues, 10)).length === 2);

    const listed = await listDeadLetters(bus, functionQueues, 10);
    assert.equal(listed.map((l) => [l.id, l.queue]), [[`poison-${device}`, queues.ingest], [good.id, queues.ingest]]);
    assert.is(listed[0]!.reason, 'rejected');
    assert.equal((await listDeadLetters(bus, functionQueues, 10)).length, 2, 'listing moved nothing');

    // Replay the poison one first: it dies again (it can never work), the good one is stored.
    const { replayed, stoppedAt } = await replayDeadLetters(bus, functionQueues, 10);
    assert.equal(replayed.map((l) => l.id), [`poison-${device}`, good.id]);
    assert.is(stoppedAt, undefined);
    const count = async () => Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM telemetry WHERE device_id = $1', [device])).rows[0]!.n);
    await until('the replayed event stored', async () => (await count()) === 1);
    await until('the poison event dead again', async () => (await listDeadLetters(bus, functionQueues, 10)).length === 1);
    assert.is((await listDeadLetters(bus, functionQueues, 10))[0]!.id, `poison-${device}`);

    assert.is(await purgeDeadLetters(bus, 10), 1);
    await sleep(100);
    assert.equal(await listDeadLetters(bus, functionQueues, 10), []);
  });

  test('replay stops at a dead letter whose queue cannot be told and leaves it and the rest in place', async () => {
    const { bus } = ctx.p!.deps;
    await bus.publish(exchanges.deadLetter, 'somewhere.unknown', { id: 'orphan', type: 'x', body: Buffer.from('{}') });
    await bus.publish(exchanges.deadLetter, queues.ingest, { id: 'after-orphan', type: eventTypes.telemetry, body: Buffer.from('{}') });
    await until('two dead letters', async () => (await listDeadLetters(bus, functionQueues, 10)).length === 2);
    const { replayed, stoppedAt } = await replayDeadLetters(bus, functionQueues, 10);
    assert.equal(replayed, []);
    assert.is(stoppedAt?.letter.id, 'orphan');
    assert.equal((await listDeadLetters(bus, functionQueues, 10)).map((l) => l.id), ['orphan', 'after-orphan']);
    assert.is(await purgeDeadLetters(bus, 10), 2);
  });

  test.run();
}

deadLetterSuite('rabbitmq');
deadLetterSuite('embedded');

/** Runs `iotfn dead-letters` as an operator would, against the test services. */
async function iotfnDeadLetters(...args: string[]) {
  const dataDir = mkdtempSync(join(tmpdir(), 'iotfn-dead-'));
  try {
    return await execFileAsync(process.execPath, ['--import', 'tsx', 'bin/iotfn.ts', 'dead-letters', ...args], {
      env: { ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'silent', DATA_DIR: dataDir, DATABASE_URL: services.databaseUrl, REDIS_URL: services.redisUrl, AMQP_URL: services.amqpUrl, MQTT_URL: '', MONGO_URL: '' },
      timeout: 60_000,
    }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code?: number; stdout?: string; stderr?: string }) => ({ code: error.code ?? -1, stdout: error.stdout ?? '', stderr: error.stderr ?? '' }),
    );
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const cli = suite('iotfn dead-letters');
const cliCtx: { p?: TestPlatform } = {};
cli.before(async () => {
  cliCtx.p = await startPlatform({ local: false });
  await purgeDeadLetters(cliCtx.p.deps.bus, 1_000_000);
});
cli.after(async () => cliCtx.p?.close());

cli('list prints one JSON line per dead letter, purge drops them, bad usage exits 2', async () => {
  const { bus } = cliCtx.p!.deps;
  await bus.publish(exchanges.deadLetter, queues.ingest, { id: 'cli-1', type: eventTypes.telemetry, body: Buffer.from('{}') });
  await until('the dead letter', async () => (await listDeadLetters(bus, functionQueues, 10)).length === 1);
  const listed = await iotfnDeadLetters('list');
  assert.is(listed.code, 0, listed.stderr);
  const lines = listed.stdout.trim().split('\n').map((line) => JSON.parse(line));
  assert.equal(lines.map((l) => [l.id, l.queue]), [['cli-1', queues.ingest]]);
  const purged = await iotfnDeadLetters('purge', '--limit', '5');
  assert.is(purged.code, 0, purged.stderr);
  assert.match(purged.stdout, /1 dropped/);
  assert.is((await iotfnDeadLetters('resurrect')).code, 2);
  assert.is((await iotfnDeadLetters('list', '--limit', '0')).code, 2);
});

cli.run();
