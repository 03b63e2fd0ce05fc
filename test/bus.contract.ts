/**
 * The behaviour every bus adapter must show, run once per adapter by test/bus.test.ts. On RabbitMQ the broker
 * is the reference, so every expectation here is what RabbitMQ does.
 *
 * Every exchange and queue name carries a random part, so runs never see each other's messages; queues are
 * deleted afterwards, exchanges too when the adapter has a way (the port has no deleteExchange). uvu has no
 * timeouts, so every wait goes through `waitFor`, which fails instead of hanging.
 *
 *   busContract('memory', async () => createMemoryBus());
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RejectMessage, type Bus, type DeliveredMessage, type OutgoingMessage, type Subscription } from '../shared/ports/bus.ts';

/** Long enough for any delivery on loopback; only reached when a test is about to fail. */
const WAIT_MS = 5_000;
/** How long to watch for a message that must not come. */
const QUIET_MS = 200;

export interface BusCleanup {
  deleteExchanges(names: string[]): Promise<void>;
}

export function busContract(name: string, make: () => Promise<Bus>, cleanup?: BusCleanup): void {
  const test = suite<{ bus: Bus }>(`bus contract: ${name}`);
  const run = randomUUID().slice(0, 8);
  const queuesUsed = new Set<string>();
  const exchangesUsed = new Set<string>();
  const subscriptions: Subscription[] = [];

  const queueName = (label: string) => {
    const queue = `bus-contract.${run}.${label}`;
    queuesUsed.add(queue);
    return queue;
  };
  const exchangeName = (label: string) => {
    const exchange = `bus-contract.${run}.${label}`;
    exchangesUsed.add(exchange);
    return exchange;
  };

  /** Consumes `queue` into an array; the subscription is cancelled in `after` if the test did not. */
  async function collect(bus: Bus, queue: string, handle?: (m: DeliveredMessage) => Promise<void>, prefetch?: number) {
    const received: DeliveredMessage[] = [];
    const subscription = await bus.consume(
      queue,
      async (m) => {
        received.push(m);
        await handle?.(m);
      },
      prefetch === undefined ? {} : { prefetch },
    );
    subscriptions.push(subscription);
    return { received, subscription };
  }

  test.before(async (context) => {
    context.bus = await make();
  });

  test.after(async ({ bus }) => {
    if (!bus) return;
    await Promise.allSettled(subscriptions.map((s) => s.cancel()));
    for (const queue of queuesUsed) await bus.deleteQueue(queue).catch(() => {});
    await bus.close();
    await cleanup?.deleteExchanges([...exchangesUsed]);
  });

  test('topic routing: * is one word, # zero or more, other words exact', async ({ bus }) => {
    const exchange = exchangeName('topic');
    await bus.declareExchange(exchange, 'topic');
    const expected: Record<string, string[]> = {
      'telemetry.*': ['telemetry.temp'],
      'device.#': ['device', 'device.created', 'device.a.b', 'device.x.deleted'],
      'alerts.fired': ['alerts.fired'],
      '#.deleted': ['deleted', 'device.x.deleted'],
      // Every key, in the order they are published; '' has no words at all.
      '#': [
        '',
        'telemetry.temp',
        'telemetry',
        'telemetry.temp.c',
        'device',
        'device.created',
        'device.a.b',
        'devices.x',
        'alerts.fired',
        'alerts.fired.x',
        'deleted',
        'device.x.deleted',
        'nothing.here',
      ],
      '*': ['telemetry', 'device', 'deleted'],
    };
    const keys = expected['#']!;
    const queues = Object.keys(expected).map((pattern, i) => ({ pattern, queue: queueName(`topic-${i}`) }));
    for (const { pattern, queue } of queues) {
      await bus.declareQueue({ name: queue, durable: false, bindings: [{ exchange, pattern }] });
    }
    for (const key of keys) await bus.publish(exchange, key, message({ body: Buffer.from(key) }));

    const collected = await Promise.all(queues.map(({ queue }) => collect(bus, queue)));
    const arrived = () => queues.every((q, i) => collected[i]!.received.length >= expected[q.pattern]!.length);
    await waitFor(arrived, 'every queue to get its messages');
    await sleep(QUIET_MS);
    queues.forEach(({ pattern }, i) => {
      assert.equal(collected[i]!.received.map((m) => m.routingKey), expected[pattern], `pattern '${pattern}'`);
    });
  });

  test('a fanout exchange delivers to every bound queue, whatever the routing key', async ({ bus }) => {
    const exchange = exchangeName('fanout');
    await bus.declareExchange(exchange, 'fanout');
    const queues = [queueName('fanout-a'), queueName('fanout-b')];
    for (const queue of queues) await bus.declareQueue({ name: queue, durable: false, bindings: [{ exchange, pattern: '' }] });
    await bus.publish(exchange, 'any.key', message({ id: 'fanned' }));
    for (const queue of queues) {
      const { received } = await collect(bus, queue);
      await waitFor(() => received.length === 1, `${queue} to get the message`);
      assert.is(received[0]!.id, 'fanned');
      assert.is(received[0]!.routingKey, 'any.key');
    }
  });

  test('a message with no matching binding is dropped', async ({ bus }) => {
    const exchange = exchangeName('unrouted');
    await bus.declareExchange(exchange);
    const queue = queueName('unrouted');
    await bus.declareQueue({ name: queue, durable: false, bindings: [{ exchange, pattern: 'kept' }] });
    await bus.publish(exchange, 'dropped', message());
    await bus.publish(exchange, 'kept', message());
    await waitFor(async () => (await bus.queueDepth(queue)) === 1, 'the kept message to be queued');
  });

  test('every field arrives intact', async ({ bus }) => {
    const exchange = exchangeName('fields');
    await bus.declareExchange(exchange);
    const queue = queueName('fields');
    await bus.declareQueue({ name: queue, durable: true, bindings: [{ exchange, pattern: '#' }] });

    const bytes = Buffer.from([0x00, 0xff, 0x10, 0x80, 0x7f, 0x0a]);
    const body = Buffer.from(bytes);
    const sent: OutgoingMessage = {
      id: randomUUID(),
      type: 'iotfn.telemetry',
      body,
      contentType: 'application/cloudevents+json',
      headers: { device: 'd-1', attempt: 3, urgent: true },
      timestamp: Date.UTC(2026, 0, 2, 3, 4, 5),
    };
    await bus.publish(exchange, 'telemetry.d-1', sent);
    body.fill(0); // the publisher reusing its buffer must not change the queued message
    const minimal = { id: randomUUID(), type: 'iotfn.minimal', body: Buffer.alloc(0) };
    const before = Date.now();
    await bus.publish(exchange, 'device.d-1', minimal);
    const after = Date.now();

    const { received } = await collect(bus, queue);
    await waitFor(() => received.length === 2, 'both messages');
    const [full, bare] = received as [DeliveredMessage, DeliveredMessage];
    assert.is(full.id, sent.id);
    assert.is(full.type, 'iotfn.telemetry');
    assert.ok(full.body.equals(bytes), `body ${full.body.toString('hex')}`);
    assert.is(full.contentType, 'application/cloudevents+json');
    assert.equal(full.headers, { device: 'd-1', attempt: 3, urgent: true });
    assert.is(full.timestamp, sent.timestamp);
    assert.is(full.exchange, exchange);
    assert.is(full.routingKey, 'telemetry.d-1');
    assert.is(full.redelivered, false);

    assert.is(bare.id, minimal.id);
    assert.is(bare.body.length, 0);
    assert.is(bare.contentType, 'application/octet-stream');
    assert.equal(bare.headers, {});
    // AMQP carries whole seconds.
    assert.ok(bare.timestamp >= Math.floor(before / 1000) * 1000 && bare.timestamp <= after, `timestamp ${bare.timestamp}`);
    assert.is(bare.timestamp % 1000, 0);
  });

  test('a handler that throws gets the message again, redelivered, and it is acknowledged after success', async ({ bus }) => {
    const { exchange, queue } = await pipe(bus, 'retry');
    let failures = 0;
    const { received } = await collect(bus, queue, async () => {
      if (failures++ === 0) throw new Error('transient');
    });
    await bus.publish(exchange, 'k', message({ id: 'retried' }));
    await waitFor(() => received.length === 2, 'the redelivery');
    assert.equal(
      received.map((m) => [m.id, m.redelivered]),
      [
        ['retried', false],
        ['retried', true],
      ],
    );
    await sleep(QUIET_MS);
    assert.is(received.length, 2, 'acknowledged after success: not delivered a third time');
    assert.is(await bus.queueDepth(queue), 0);
  });

  test('a handler that always throws is retried with a pause, not in a hot loop', async ({ bus }) => {
    const { exchange, queue } = await pipe(bus, 'hot');
    const { received, subscription } = await collect(bus, queue, async () => {
      throw new Error('always');
    });
    await bus.publish(exchange, 'k', message());
    await waitFor(() => received.length > 0, 'the first delivery');
    await sleep(300);
    await subscription.cancel();
    assert.ok(received.length >= 2 && received.length <= 30, `${received.length} deliveries in 300 ms`);
  });

  test('RejectMessage dead-letters to the queue bound to the dead-letter exchange, keeping the routing key', async ({ bus }) => {
    const exchange = exchangeName('work');
    const dlx = exchangeName('dlx');
    await bus.declareExchange(exchange);
    await bus.declareExchange(dlx, 'fanout');
    const dead = queueName('dead');
    const work = queueName('work');
    await bus.declareQueue({ name: dead, durable: true, bindings: [{ exchange: dlx, pattern: '' }] });
    await bus.declareQueue({ name: work, durable: true, deadLetterExchange: dlx, bindings: [{ exchange, pattern: 'device.#' }] });

    const worked = await collect(bus, work, async () => {
      throw new RejectMessage('cannot be processed');
    });
    const deadLettered = await collect(bus, dead);
    await bus.publish(exchange, 'device.d-9.created', message({ id: 'poison', headers: { source: 'test' } }));
    await waitFor(() => deadLettered.received.length === 1, 'the dead-lettered message');
    const m = deadLettered.received[0]!;
    assert.is(m.id, 'poison');
    assert.is(m.routingKey, 'device.d-9.created');
    assert.is(m.exchange, dlx);
    assert.is(m.headers.source, 'test');
    assert.is(m.headers['x-first-death-reason'], 'rejected');
    assert.is(m.headers['x-first-death-queue'], work);
    assert.is(m.headers['x-first-death-exchange'], exchange);
    await sleep(QUIET_MS);
    assert.is(worked.received.length, 1, 'not delivered again');
    assert.is(await bus.queueDepth(work), 0);
  });

  test('RejectMessage without a dead-letter exchange drops the message', async ({ bus }) => {
    const { exchange, queue } = await pipe(bus, 'reject-drop');
    const { received } = await collect(bus, queue, async () => {
      throw new RejectMessage('no');
    });
    await bus.publish(exchange, 'k', message());
    await waitFor(() => received.length === 1, 'the delivery');
    await sleep(QUIET_MS);
    assert.is(received.length, 1);
    assert.is(await bus.queueDepth(queue), 0);
  });

  test('prefetch bounds the messages in flight to one consumer', async ({ bus }) => {
    for (const prefetch of [1, 4]) {
      const { exchange, queue } = await pipe(bus, `prefetch-${prefetch}`);
      for (let i = 0; i < 8; i++) await bus.publish(exchange, 'k', message());
      let inFlight = 0;
      let most = 0;
      const { received } = await collect(
        bus,
        queue,
        async () => {
          most = Math.max(most, ++inFlight);
          await sleep(15);
          inFlight--;
        },
        prefetch,
      );
      await waitFor(() => received.length === 8 && inFlight === 0, 'all 8 handled');
      assert.is(most, prefetch, `prefetch ${prefetch}`);
    }
  });

  test('1,000 messages published concurrently all arrive, exactly once', async ({ bus }) => {
    const { exchange, queue } = await pipe(bus, 'many');
    const counts = new Map<string, number>();
    const { received } = await collect(bus, queue, async (m) => {
      counts.set(m.id, (counts.get(m.id) ?? 0) + 1);
    }, 100);
    const ids = Array.from({ length: 1_000 }, () => randomUUID());
    await Promise.all(ids.map((id) => bus.publish(exchange, 'telemetry.x', message({ id }))));
    await waitFor(() => received.length >= ids.length, 'all 1,000 messages', 15_000);
    await sleep(QUIET_MS);
    assert.is(received.length, ids.length);
    assert.ok(ids.every((id) => counts.get(id) === 1), 'each id once');
  });

  test("a cancelled consumer's unacknowledged message goes to the next consumer", async ({ bus }) => {
    const { exchange, queue } = await pipe(bus, 'cancel');
    let release!: () => void;
    const stuck = new Promise<void>((resolve) => (release = resolve));
    try {
      const first = await collect(bus, queue, () => stuck, 1);
      await bus.publish(exchange, 'k', message({ id: 'handed-over' }));
      await waitFor(() => first.received.length === 1, 'the first consumer to get it');
      await first.subscription.cancel();

      const second = await collect(bus, queue);
      await waitFor(() => second.received.length === 1, 'the second consumer to get it');
      assert.is(second.received[0]!.id, 'handed-over');
      assert.is(second.received[0]!.redelivered, true);
      release(); // the first handler finishing late must not acknowledge anything
      await sleep(QUIET_MS);
      assert.is(second.received.length, 1);
      assert.is(first.received.length, 1);
      assert.is(await bus.queueDepth(queue), 0);
    } finally {
      release();
    }
  });

  test('queueDepth counts ready messages, not those in flight', async ({ bus }) => {
    const { exchange, queue } = await pipe(bus, 'depth');
    assert.is(await bus.queueDepth(queue), 0);
    for (let i = 0; i < 3; i++) await bus.publish(exchange, 'k', message());
    await waitFor(async () => (await bus.queueDepth(queue)) === 3, 'depth 3');
    let release!: () => void;
    const stuck = new Promise<void>((resolve) => (release = resolve));
    try {
      const { received, subscription } = await collect(bus, queue, () => stuck, 1);
      await waitFor(() => received.length === 1, 'one delivery');
      await waitFor(async () => (await bus.queueDepth(queue)) === 2, 'depth 2 with one in flight');
      release();
      await waitFor(() => received.length === 3, 'the rest');
      await waitFor(async () => (await bus.queueDepth(queue)) === 0, 'depth 0');
      await subscription.cancel();
    } finally {
      release();
    }
    await assertRejects(bus.queueDepth(queueName('never-declared')), 'queueDepth of a missing queue');
  });

  test('maxLength drops the oldest ready messages', async ({ bus }) => {
    const exchange = exchangeName('bounded');
    await bus.declareExchange(exchange);
    const queue = queueName('bounded');
    await bus.declareQueue({ name: queue, durable: false, maxLength: 3, bindings: [{ exchange, pattern: '#' }] });
    for (const id of ['1', '2', '3', '4', '5']) await bus.publish(exchange, 'k', message({ id }));
    assert.is(await bus.queueDepth(queue), 3);
    const { received } = await collect(bus, queue);
    await waitFor(() => received.length === 3, 'the 3 kept');
    assert.equal(received.map((m) => m.id), ['3', '4', '5']);
  });

  test('maxLength dead-letters the dropped messages when the queue has a dead-letter exchange', async ({ bus }) => {
    const exchange = exchangeName('bounded-dlx');
    const dlx = exchangeName('overflow');
    await bus.declareExchange(exchange);
    await bus.declareExchange(dlx, 'fanout');
    const overflow = queueName('overflow');
    const queue = queueName('bounded-dlx');
    await bus.declareQueue({ name: overflow, durable: false, bindings: [{ exchange: dlx, pattern: '' }] });
    const bindings = [{ exchange, pattern: '#' }];
    await bus.declareQueue({ name: queue, durable: false, maxLength: 1, deadLetterExchange: dlx, bindings });
    for (const id of ['a', 'b', 'c']) await bus.publish(exchange, 'k', message({ id }));
    const { received } = await collect(bus, overflow);
    await waitFor(() => received.length === 2, 'the 2 dropped');
    assert.equal(received.map((m) => m.id), ['a', 'b']);
    assert.is(received[0]!.headers['x-first-death-reason'], 'maxlen');
    assert.is(await bus.queueDepth(queue), 1);
  });

  test('an exclusive queue is deleted when its consumer cancels', async ({ bus }) => {
    const exchange = exchangeName('exclusive');
    await bus.declareExchange(exchange);
    const queue = queueName('exclusive');
    await bus.declareQueue({ name: queue, durable: false, exclusive: true, bindings: [{ exchange, pattern: '#' }] });
    const { received, subscription } = await collect(bus, queue);
    await bus.publish(exchange, 'k', message());
    await waitFor(() => received.length === 1, 'the delivery');
    await subscription.cancel();
    await waitFor(async () => (await bus.queueDepth(queue).then(() => false, () => true)), 'the queue to be gone');
  });

  test('declaring the same exchange and queue again is harmless and keeps queued messages', async ({ bus }) => {
    const { exchange, queue } = await pipe(bus, 'again');
    await bus.publish(exchange, 'k', message());
    await bus.declareExchange(exchange);
    await bus.declareQueue({ name: queue, durable: false, bindings: [{ exchange, pattern: '#' }] });
    assert.is(await bus.queueDepth(queue), 1);
  });

  test('publish to a missing exchange rejects, and later publishes still work', async ({ bus }) => {
    const { exchange, queue } = await pipe(bus, 'after-missing');
    await assertRejects(bus.publish(exchangeName('never-declared'), 'k', message()), 'publish to a missing exchange');
    await bus.publish(exchange, 'k', message({ id: 'after' }));
    await Promise.all([bus.publish(exchange, 'k', message()), bus.publish(exchange, 'k', message())]);
    assert.is(await bus.queueDepth(queue), 3);
  });

  test('consume from a missing queue rejects', async ({ bus }) => {
    await assertRejects(
      bus.consume(queueName('no-such-queue'), async () => {}),
      'consume from a missing queue',
    );
    await bus.ping(); // and the bus is still fine
  });

  test('browse shows the head of a queue and leaves it; take removes what its callback accepted and stops at a throw', async ({ bus }) => {
    const { exchange, queue } = await pipe(bus, 'tools');
    for (const id of ['m1', 'm2', 'm3', 'm4']) await bus.publish(exchange, `k.${id}`, message({ id }));
    await waitFor(async () => (await bus.queueDepth(queue)) === 4, 'four ready');
    const seen = await bus.browse(queue, 3);
    assert.equal(seen.map((m) => m.id), ['m1', 'm2', 'm3']);
    assert.is(seen[1]!.routingKey, 'k.m2');
    assert.equal((await bus.browse(queue, 10)).map((m) => m.id), ['m1', 'm2', 'm3', 'm4'], 'browsing removed nothing, in order');
    const took: string[] = [];
    const failed = await bus
      .take(queue, 10, async (m) => {
        if (m.id === 'm3') throw new Error('not this one');
        took.push(m.id);
      })
      .then(() => 'resolved', (error: Error) => error.message);
    assert.is(failed, 'not this one');
    assert.equal(took, ['m1', 'm2']);
    assert.equal((await bus.browse(queue, 10)).map((m) => m.id), ['m3', 'm4'], 'the refused one and the rest stay');
    assert.is(await bus.take(queue, 1, async () => undefined), 1);
    assert.equal((await bus.browse(queue, 10)).map((m) => m.id), ['m4']);
  });

  test('sendToQueue puts a message into one queue past every exchange; a missing queue is an error', async ({ bus }) => {
    const { queue } = await pipe(bus, 'direct');
    await bus.sendToQueue(queue, message({ id: 'straight', headers: { why: 'replay' } }));
    await waitFor(async () => (await bus.queueDepth(queue)) === 1, 'one ready');
    const [m] = await bus.browse(queue, 1);
    assert.is(m!.id, 'straight');
    assert.is(m!.headers.why, 'replay');
    assert.is(m!.routingKey, queue);
    await assertRejects(bus.sendToQueue(queueName('absent'), message()), 'send to a missing queue');
    await bus.ping();
  });

  test('ping answers', async ({ bus }) => {
    await bus.ping();
  });

  /** A topic exchange and one queue bound to all its keys. */
  async function pipe(bus: Bus, label: string) {
    const exchange = exchangeName(label);
    const queue = queueName(label);
    await bus.declareExchange(exchange);
    await bus.declareQueue({ name: queue, durable: false, bindings: [{ exchange, pattern: '#' }] });
    return { exchange, queue };
  }

  test.run();
}

export function message(fields: Partial<OutgoingMessage> = {}): OutgoingMessage {
  return { id: randomUUID(), type: 'test.event', body: Buffer.from('{}'), contentType: 'application/json', ...fields };
}

/** Polls until `predicate` holds; throws after `timeoutMs`, since uvu would otherwise wait forever. */
export async function waitFor(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

async function assertRejects(promise: Promise<unknown>, what: string): Promise<void> {
  const outcome = await promise.then(
    () => 'resolved',
    () => 'rejected',
  );
  assert.is(outcome, 'rejected', `${what} should reject`);
}
