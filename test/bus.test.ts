/**
 * Runs the bus contract on RabbitMQ and on the memory bus, then checks what only the RabbitMQ adapter has to
 * show: that it fails fast when the broker cannot be reached, and that it comes back by itself (declarations
 * and consumers included) after losing its connection, whether the broker vanished or closed it.
 *
 * A broker outage is played by a TCP proxy in front of RabbitMQ that the test stops and starts; a connection
 * closed by the broker by `rabbitmqctl close_connection`, aimed at this test's connection by its name.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, connect as connectTcp, type AddressInfo, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { connect as connectAmqp } from 'amqplib';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMemoryBus } from '../shared/adapters/bus/memory.ts';
import { coalesceFrameWrites } from '../shared/adapters/bus/amqp-write-coalescing.ts';
import { createRabbitBus } from '../shared/adapters/bus/rabbitmq.ts';
import type { Bus, DeliveredMessage } from '../shared/ports/bus.ts';
import { busContract, message, waitFor } from './bus.contract.ts';
import { services } from './support/services.ts';
import { settleWithin } from './support/wait.ts';

const quiet = () => {};

busContract('rabbitmq', () => createRabbitBus(services.amqpUrl, { name: 'bus-contract', log: quiet }), {
  deleteExchanges: deleteRabbitExchanges,
});
busContract('memory', async () => createMemoryBus());

/** Nothing listens here, so every connection attempt is refused. */
const CLOSED_PORT_URL = 'amqp://guest:guest@127.0.0.1:5699';
/** How long a call may take to fail while the broker is away. */
const FAIL_FAST_MS = 3_000;
/** Reconnecting takes at most one backoff step (≤ 5 s) once the broker is back. */
const RECONNECT_MS = 10_000;

const rabbit = suite('rabbitmq adapter');

rabbit('createRabbitBus rejects quickly, with the address, when RabbitMQ cannot be reached', async () => {
  const started = Date.now();
  const outcome = await createRabbitBus(CLOSED_PORT_URL, { log: quiet }).then(
    async (bus) => {
      await bus.close();
      return 'connected?';
    },
    (err: Error) => err.message,
  );
  assert.match(outcome, /cannot connect to RabbitMQ at amqp:\/\/guest:\*\*\*@127\.0\.0\.1:5699/);
  assert.ok(Date.now() - started < FAIL_FAST_MS, `took ${Date.now() - started} ms`);
});

rabbit('while the broker is unreachable, publish and ping reject within seconds; afterwards everything works again', async () => {
  const proxy = await startProxy();
  const logs: string[] = [];
  const bus = await createRabbitBus(proxy.url, { name: `bus-outage-${randomUUID()}`, log: (msg) => logs.push(msg) });
  const { exchange, queue } = await declarePipe(bus, 'outage', false);
  try {
    const received: DeliveredMessage[] = [];
    await bus.consume(queue, async (m) => void received.push(m));
    await bus.publish(exchange, 'k', message({ id: 'before' }));
    await waitFor(() => received.length === 1, 'the message sent before the outage');

    await proxy.stop();
    await waitFor(() => logs.some((l) => l.startsWith('connection lost')), 'the adapter to notice');
    for (const [what, call] of [
      ['publish', () => bus.publish(exchange, 'k', message({ id: 'during' }))],
      ['ping', () => bus.ping()],
    ] as const) {
      const started = Date.now();
      const outcome = await settleWithin(call(), FAIL_FAST_MS + 1_000);
      assert.is(outcome, 'rejected', `${what} during the outage ${outcome}`);
      assert.ok(Date.now() - started < FAIL_FAST_MS, `${what} took ${Date.now() - started} ms to reject`);
    }

    await proxy.start();
    await waitFor(() => bus.ping().then(() => true, () => false), 'the reconnection', RECONNECT_MS);
    await bus.publish(exchange, 'k', message({ id: 'after' }));
    await waitFor(() => received.some((m) => m.id === 'after'), 'the message sent after the outage, through the old subscription');
    assertDeliveredOnce(received, ['before', 'after']);
  } finally {
    await bus.deleteQueue(queue).catch(() => {});
    await bus.close();
    await proxy.stop();
    await deleteRabbitExchanges([exchange]);
  }
});

rabbit('close stops reconnecting', async () => {
  const proxy = await startProxy();
  const bus = await createRabbitBus(proxy.url, { log: quiet });
  await proxy.stop();
  assert.is(await settleWithin(bus.close(), FAIL_FAST_MS), 'resolved', 'close should not hang while the broker is away');
  const before = proxy.connections();
  await proxy.start();
  // The first retry is 100 ms after the loss; a bus still trying would be back well within this.
  await sleep(1_000);
  assert.is(proxy.connections(), before, 'no connection attempt after close');
  await proxy.stop();
});

rabbit('after the broker closes its connection, it reconnects, declares its queues again and consumes again', async () => {
  const name = `bus-forced-${randomUUID()}`;
  const logs: string[] = [];
  const bus = await createRabbitBus(services.amqpUrl, { name, log: (msg) => logs.push(msg) });
  // Exclusive: the broker deletes it with the connection, so only a re-declaration brings it back.
  const { exchange, queue } = await declarePipe(bus, 'forced', true);
  try {
    const received: DeliveredMessage[] = [];
    await bus.consume(queue, async (m) => void received.push(m));
    await bus.publish(exchange, 'k', message({ id: 'before' }));
    await waitFor(() => received.length === 1, 'the message sent before');

    await closeConnectionNamed(name);
    await waitFor(() => logs.some((l) => l.startsWith('connection lost')), 'the adapter to notice');
    await waitFor(() => bus.ping().then(() => true, () => false), 'the reconnection', RECONNECT_MS);
    await bus.publish(exchange, 'k', message({ id: 'after' }));
    await waitFor(() => received.some((m) => m.id === 'after'), 'the message sent after the reconnection');
    assertDeliveredOnce(received, ['before', 'after']);
  } finally {
    await bus.close();
    await deleteRabbitExchanges([exchange]);
  }
});

rabbit('more concurrent publishes than the channel buffers wait for it to drain, and all are confirmed', async () => {
  // amqplib buffers 1,024 frames per channel before publish() asks the caller to wait for 'drain'.
  const bus = await createRabbitBus(services.amqpUrl, { log: quiet });
  const { exchange, queue } = await declarePipe(bus, 'drain', false);
  try {
    const count = 5_000;
    const publishes = Array.from({ length: count }, () => bus.publish(exchange, 'k', message({ body: Buffer.alloc(512) })));
    assert.is(await settleWithin(Promise.all(publishes), 20_000), 'resolved');
    assert.is(await bus.queueDepth(queue), count);
  } finally {
    await bus.deleteQueue(queue).catch(() => {});
    await bus.close();
    await deleteRabbitExchanges([exchange]);
  }
});

rabbit("a round of amqplib's frames goes to the socket in one write, not one write per frame", async () => {
  // Counted on a raw amqplib connection, once as amqplib writes (the control: the count must be able to fail)
  // and once with the hook the adapter applies to each of its connections.
  const writesFor = async (coalesce: boolean) => {
    const model = await connectAmqp(services.amqpUrl);
    try {
      if (coalesce) assert.ok(coalesceFrameWrites(model), "amqplib's frame multiplexer is not where the hook expects it");
      const socket = (model as unknown as { connection: { stream: Socket } }).connection.stream;
      const channel = await model.createConfirmChannel();
      const { queue } = await channel.assertQueue('', { exclusive: true });
      let writes = 0;
      const count = <F extends (...args: never[]) => unknown>(f: F) => ((...args: Parameters<F>) => (writes++, f.apply(socket, args))) as F;
      socket._write = count(socket._write);
      socket._writev = count(socket._writev!);
      // 200 publishes in one turn: 600 frames (method, header, body) queued before the Mux's next round.
      for (let i = 0; i < 200; i++) channel.sendToQueue(queue, Buffer.from(`m${i}`));
      await channel.waitForConfirms();
      const published = writes;
      assert.is((await channel.checkQueue(queue)).messageCount, 200);
      return published;
    } finally {
      await model.close();
    }
  };
  const frameByFrame = await writesFor(false);
  const coalesced = await writesFor(true);
  assert.ok(frameByFrame >= 200, `without the hook: ${frameByFrame} writes for 200 publishes`);
  // One per Mux round; the channel's buffer of 1,024 frames may split 600 frames over a few rounds.
  assert.ok(coalesced <= 5, `with the hook: ${coalesced} writes for 200 publishes`);
});

rabbit.run();

/** The port cannot delete exchanges, so tests that declare them on RabbitMQ clean up through amqplib itself. */
async function deleteRabbitExchanges(names: string[]): Promise<void> {
  const connection = await connectAmqp(services.amqpUrl, { timeout: 2_000 });
  try {
    const channel = await connection.createChannel();
    for (const name of names) await channel.deleteExchange(name);
  } finally {
    await connection.close();
  }
}

/**
 * Each id arrived, in order, and any repeat is marked redelivered: an ack can be lost with the connection (the
 * handler ran, the ack never reached the broker), and then at-least-once delivery means a second delivery.
 */
function assertDeliveredOnce(received: DeliveredMessage[], ids: string[]): void {
  const firsts = received.filter((m, i) => received.findIndex((other) => other.id === m.id) === i);
  assert.equal(firsts.map((m) => m.id), ids);
  const repeats = received.filter((m) => !firsts.includes(m));
  assert.ok(repeats.every((m) => m.redelivered), 'a repeat must be marked redelivered');
}

async function declarePipe(bus: Bus, label: string, exclusive: boolean) {
  const exchange = `bus-test.${label}.${randomUUID()}`;
  const queue = `bus-test.${label}.${randomUUID()}`;
  await bus.declareExchange(exchange);
  await bus.declareQueue({ name: queue, durable: false, exclusive, bindings: [{ exchange, pattern: '#' }] });
  return { exchange, queue };
}

/** A TCP proxy to RabbitMQ; stopping it drops every connection and refuses new ones, as a broker that went away. */
async function startProxy() {
  const target = new URL(services.amqpUrl);
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((client) => {
    accepted++;
    const upstream = connectTcp(Number(target.port || 5672), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  const listen = (port: number) => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  await listen(0);
  const port = (server.address() as AddressInfo).port;
  const url = new URL(services.amqpUrl);
  url.port = String(port);
  return {
    url: url.toString(),
    connections: () => accepted,
    start: () => listen(port),
    async stop() {
      if (!server.listening) return;
      const closed = new Promise((resolve) => server.close(resolve));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

/** Closes, from the broker's side, the connection that announced itself as `name`. */
async function closeConnectionNamed(name: string): Promise<void> {
  const run = promisify(execFile);
  const { stdout } = await run('rabbitmqctl', ['-q', 'list_connections', '--no-table-headers', 'pid', 'client_properties'], {
    timeout: 15_000,
  });
  const line = stdout.split('\n').find((l) => l.includes(name));
  const pid = line?.split('\t')[0];
  if (!pid) throw new Error(`no connection named ${name} in:\n${stdout}`);
  await run('rabbitmqctl', ['-q', 'close_connection', pid, 'bus test: forced close'], { timeout: 15_000 });
}

