/**
 * The outbox keeps device events while RabbitMQ is down and delivers them once it is back: the broker is
 * stopped for real (`rabbitmqctl stop_app`) in the middle of the test and started again.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomUUID } from 'node:crypto';
import { call, signedInUser, startPlatform, type TestPlatform } from './support/platform.ts';
import { sleep } from './support/bus.ts';
import { until } from './support/wait.ts';
import { exchanges } from '../shared/bus/topology.ts';
import type { DeliveredMessage, Subscription } from '../shared/ports/bus.ts';

const run = promisify(execFile);
const rabbitmqctl = (...args: string[]) => run('rabbitmqctl', args, { timeout: 60_000 });


const outbox = suite('outbox across a RabbitMQ outage');
const ctx: { p?: TestPlatform; queue: string; received: DeliveredMessage[]; sub?: Subscription; stopped: boolean } = {
  queue: `test.outbox.${randomUUID()}`,
  received: [],
  stopped: false,
};

outbox.before(async () => {
  ctx.p = await startPlatform();
  // Durable, so it outlives the outage together with what the relay sends into it afterwards.
  await ctx.p.deps.bus.declareQueue({ name: ctx.queue, durable: true, bindings: [{ exchange: exchanges.events, pattern: 'device.created' }] });
  ctx.sub = await ctx.p.deps.bus.consume(ctx.queue, async (m) => {
    ctx.received.push(m);
  });
});

outbox('a device made while the broker is down has its event delivered after it comes back', async () => {
  const user = await signedInUser(ctx.p!.url, 'outage');
  await rabbitmqctl('stop_app');
  ctx.stopped = true;
  const created = await call(ctx.p!.url, 'POST', '/devices', { token: user.accessToken, body: { name: 'Made in the dark', type: 't' } });
  assert.is(created.status, 201, 'device functions do not need the broker');
  const id = created.body.device.id as string;
  const pending = async () =>
    (await ctx.p!.deps.db.query<{ n: string }>("SELECT count(*) AS n FROM outbox WHERE payload->>'subject' = $1 AND published_at IS NULL", [id])).rows[0]!.n;
  await sleep(1500);
  assert.is(await pending(), '1', 'the event waits in the outbox');
  assert.is((await call(ctx.p!.url, 'GET', '/readyz')).status, 503);

  await rabbitmqctl('start_app');
  ctx.stopped = false;
  const mine = () => ctx.received.filter((m) => JSON.parse(m.body.toString()).subject === id);
  await until('event delivered after the broker returned', () => mine().length > 0, 90_000);
  assert.is(mine().length, 1);
  // The consumer can see the event a moment before the relay commits it as published.
  await until('the outbox row marked published', async () => (await pending()) === '0', 10_000);
  await until('ready again', async () => (await call(ctx.p!.url, 'GET', '/readyz')).status === 200, 30_000);
});

outbox.after(async () => {
  if (ctx.stopped) await rabbitmqctl('start_app').catch(() => undefined);
  await ctx.sub?.cancel().catch(() => undefined);
  await ctx.p?.deps.bus.deleteQueue(ctx.queue).catch(() => undefined);
  await ctx.p?.close();
});
outbox.run();
