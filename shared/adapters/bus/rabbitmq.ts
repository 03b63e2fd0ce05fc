/**
 * The message bus port on RabbitMQ, through amqplib.
 *
 * One connection, kept up by amqplib's own recovery (backoff from 100 ms doubling to 5 s); after every
 * reconnect the exchanges, queues and consumers this bus declared are set up again, since a restarted broker
 * forgets the transient ones and always drops exclusive queues. Publishes share one confirm channel, so
 * concurrent publishes pipeline and each resolves on its own broker ack. Every consumer has a channel of its
 * own, so its prefetch and its channel errors stay its own.
 *
 * Every wait is bounded: connecting, a silent peer (heartbeats), a reconnect in progress, a confirm and every
 * other round trip. While the broker is away, calls reject after about a second; callers such as the outbox
 * relay retry. `createRabbitBus` itself rejects when the first connection fails, so a misconfigured URL shows
 * at start-up rather than as a process that retries in silence.
 *
 * AMQP timestamps are whole seconds: a delivered `timestamp` is the published one rounded down to the second.
 * A publish to a missing exchange makes the broker close the publish channel, which also fails the publishes
 * in flight beside it (with the same reason); the next publish opens a fresh channel.
 *
 *   const bus = await createRabbitBus('amqp://guest:guest@127.0.0.1:5672', { name: 'devices' });
 *   await bus.declareExchange('iotfn.events');
 *   await bus.publish('iotfn.events', 'telemetry.d1', { id, type: 'iotfn.telemetry', body });
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage, type GetMessage } from 'amqplib';
import {
  RejectMessage,
  type Bus,
  type DeliveredMessage,
  type OutgoingMessage,
  type QueueSpec,
} from '../../ports/bus.ts';
import { coalesceFrameWrites } from './amqp-write-coalescing.ts';

/** Covers the TCP connect and the AMQP handshake; amqplib lifts it once the connection is open. */
const CONNECT_TIMEOUT_MS = 3_000;
/** A peer that stops answering is declared dead after two missed heartbeats. */
const HEARTBEAT_S = 10;
const RECONNECT_INITIAL_DELAY_MS = 100;
const RECONNECT_MAX_DELAY_MS = 5_000;
/** How long a call waits for a reconnect under way before it fails: long enough to ride out a blip. */
const CONNECTION_WAIT_MS = 1_000;
/**
 * Bounds a confirm that never comes (a blocked connection, a half-open socket before heartbeats notice). The
 * message may still have reached the broker; a retry then sends it twice, which consumers absorb by its id.
 */
const PUBLISH_TIMEOUT_MS = 10_000;
const RPC_TIMEOUT_MS = 5_000;
/** A handler that keeps failing holds its prefetch slot this long before the broker redelivers, instead of spinning. */
const REQUEUE_DELAY_MS = 50;
/** Same as the memory adapter. */
const DEFAULT_PREFETCH = 10;
const DEFAULT_CONTENT_TYPE = 'application/octet-stream';
const CONSUMER_RESTART_DELAY_MS = 1_000;

type Log = (msg: string, err?: unknown) => void;
type Handler = (message: DeliveredMessage) => Promise<void>;

interface Consumer {
  queue: string;
  handler: Handler;
  prefetch: number;
  /** The channel it consumes on now; null while it is being (re)started. */
  channel: Channel | null;
  cancelled: boolean;
}

interface Publisher {
  channel: ConfirmChannel;
  closed: boolean;
  /** Why the broker closed the channel (e.g. a publish to a missing exchange), reported to the publishes it failed. */
  closeError?: Error;
  /** Set while the channel's write buffer is full: publishes wait on it before sending more. */
  drained?: Promise<void>;
}

export async function createRabbitBus(
  url: string,
  options: { name?: string; log?: (msg: string, err?: unknown) => void } = {},
): Promise<Bus> {
  const name = options.name ?? 'iotfn';
  const log: Log = options.log ?? ((msg, err) => console.warn(`bus ${name}: ${msg}`, err ?? ''));

  // What this bus declared, replayed after every reconnect.
  const exchanges = new Map<string, 'topic' | 'fanout'>();
  const queues = new Map<string, QueueSpec>();
  const consumers = new Set<Consumer>();

  let connection: ChannelModel | null = null;
  let publisher: Publisher | null = null;
  let openingPublisher: Promise<Publisher> | null = null;
  let closed = false;
  const waitingForConnection = new Set<(model: ChannelModel | null) => void>();

  /** Runs on every new connection, before amqplib reports it connected. */
  async function setUp(model: ChannelModel): Promise<void> {
    let lost = false;
    // Until set-up returns amqplib listens to nothing on this connection, and an unheard 'error' would crash
    // the process; a loss is reported by the recovering connection once it listens.
    model.on('error', () => {});
    if (!coalesceFrameWrites(model)) log('amqplib has no frame multiplexer this bus knows: frames are written one by one');
    model.once('close', () => {
      lost = true;
      if (connection === model) connection = null;
    });

    for (const [exchange, type] of exchanges) {
      await onChannel(model, (channel) => channel.assertExchange(exchange, type, { durable: true })).catch((err) =>
        log(`cannot declare exchange ${exchange} again`, err),
      );
    }
    for (const spec of queues.values()) {
      await onChannel(model, (channel) => assertQueue(channel, spec)).catch((err) =>
        log(`cannot declare queue ${spec.name} again`, err),
      );
    }
    for (const consumer of consumers) {
      await startConsumer(consumer, model).catch((err) => log(`cannot consume from ${consumer.queue} again`, err));
    }
    // amqplib only watches the connection once set-up returns, so a loss during set-up must fail it to be retried.
    if (lost) throw new Error('the connection closed while it was being set up');

    connection = model;
    for (const wake of waitingForConnection) wake(model);
  }

  const recovering = await connect(withHeartbeat(url), {
    timeout: CONNECT_TIMEOUT_MS,
    // amqplib leaves Nagle's algorithm on: a publish (method, header and body frames) then waits for the
    // broker's delayed ACK, ~40 ms per confirm round on loopback, which capped every confirmed publisher here.
    noDelay: true,
    // Names the connection in the management UI and in `rabbitmqctl list_connections client_properties`.
    clientProperties: { connection_name: name },
    recovery: {
      initialDelay: RECONNECT_INITIAL_DELAY_MS,
      maxDelay: RECONNECT_MAX_DELAY_MS,
      initialMaxRetries: 0,
      setup: setUp,
    },
  }).catch((err: unknown) => {
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`cannot connect to RabbitMQ at ${redact(url)}: ${reason}`, { cause: err });
  });
  recovering.on('error', (err) => log('connection error', err));
  recovering.on('disconnect', (err) => log('connection lost; reconnecting', err));
  recovering.on('connect-failed', (err) => log('reconnect attempt failed', err));

  /** The open connection, or the next one if a reconnect comes within CONNECTION_WAIT_MS. */
  function connected(): Promise<ChannelModel> {
    if (closed) return Promise.reject(new Error(`bus ${name} is closed`));
    if (connection) return Promise.resolve(connection);
    return new Promise((resolve, reject) => {
      const wake = (model: ChannelModel | null) => {
        clearTimeout(timer);
        waitingForConnection.delete(wake);
        if (model) resolve(model);
        else reject(new Error(`bus ${name} is closed`));
      };
      const timer = setTimeout(() => {
        waitingForConnection.delete(wake);
        reject(new Error(`bus ${name} is not connected to RabbitMQ (reconnecting)`));
      }, CONNECTION_WAIT_MS);
      waitingForConnection.add(wake);
    });
  }

  /** Runs one or more round trips on a short-lived channel: a failed one closes its channel, so none is shared. */
  async function withChannel<T>(what: string, use: (channel: Channel) => Promise<T>): Promise<T> {
    const model = await connected();
    return bounded(onChannel(model, use), RPC_TIMEOUT_MS, what);
  }

  function publishChannel(): Promise<Publisher> {
    if (closed) return Promise.reject(new Error(`bus ${name} is closed`));
    if (publisher && !publisher.closed) return Promise.resolve(publisher);
    openingPublisher ??= openPublisher().finally(() => {
      openingPublisher = null;
    });
    return openingPublisher;
  }

  async function openPublisher(): Promise<Publisher> {
    const model = await connected();
    const channel = await bounded(model.createConfirmChannel(), RPC_TIMEOUT_MS, 'opening the publish channel');
    const state: Publisher = { channel, closed: false };
    channel.on('error', (err) => {
      state.closeError = err;
    });
    // The next publish opens a new channel, so one bad publish (a missing exchange) does not stop the rest.
    channel.on('close', () => {
      state.closed = true;
    });
    publisher = state;
    return state;
  }

  async function send(exchange: string, routingKey: string, message: OutgoingMessage): Promise<void> {
    const state = await publishChannel();
    while (state.drained) await state.drained;
    if (state.closed) throw state.closeError ?? new Error('the publish channel closed');
    await new Promise<void>((resolve, reject) => {
      const sent = state.channel.publish(
        exchange,
        routingKey,
        message.body,
        {
          persistent: true,
          messageId: message.id,
          type: message.type,
          timestamp: Math.floor((message.timestamp ?? Date.now()) / 1000),
          contentType: message.contentType ?? DEFAULT_CONTENT_TYPE,
          headers: message.headers,
        },
        // amqplib reports a closed channel as a bare 'channel closed'; the broker's reason says which publish broke it.
        (err: unknown) => (err ? reject(state.closeError ?? err) : resolve()),
      );
      if (!sent) state.drained ??= drainedOrClosed(state.channel).then(() => (state.drained = undefined));
    });
  }

  async function startConsumer(consumer: Consumer, model: ChannelModel): Promise<void> {
    const channel = await model.createChannel();
    channel.on('error', (err) => log(`the broker closed the channel consuming ${consumer.queue}`, err));
    channel.on('close', () => {
      if (consumer.channel !== channel) return;
      consumer.channel = null;
      // The broker also closes a consumer's channel on its own, e.g. when a delivery stays unacknowledged past
      // its consumer_timeout; a lost connection is set up again as a whole instead.
      setTimeout(() => {
        if (consumer.cancelled || consumer.channel || connection !== model) return;
        startConsumer(consumer, model).catch((err) => log(`cannot consume from ${consumer.queue} again`, err));
      }, CONSUMER_RESTART_DELAY_MS).unref();
    });
    try {
      await bounded(
        (async () => {
          await channel.prefetch(consumer.prefetch);
          await channel.consume(consumer.queue, (msg) =>
            msg ? void deliver(consumer, channel, msg) : cancelledByBroker(consumer, channel),
          );
        })(),
        RPC_TIMEOUT_MS,
        `consuming from ${consumer.queue}`,
      );
    } catch (err) {
      channel.close().catch(() => {});
      throw err;
    }
    // cancel() may have come while this was starting.
    if (consumer.cancelled) channel.close().catch(() => {});
    else consumer.channel = channel;
  }

  async function deliver(consumer: Consumer, channel: Channel, msg: ConsumeMessage): Promise<void> {
    let outcome: 'ack' | 'dead-letter' | 'requeue' = 'ack';
    try {
      await consumer.handler(toDelivered(msg));
    } catch (err) {
      if (err instanceof RejectMessage) {
        outcome = 'dead-letter';
        log(`message ${msg.properties.messageId} rejected on ${consumer.queue}`, err);
      } else {
        outcome = 'requeue';
        log(`handler failed on ${consumer.queue} for message ${msg.properties.messageId}; it will come again`, err);
        await sleep(REQUEUE_DELAY_MS);
      }
    }
    try {
      if (outcome === 'ack') channel.ack(msg);
      else channel.nack(msg, false, outcome === 'requeue');
    } catch {
      // The channel closed while the handler ran; the broker has put the message back already.
    }
  }

  /** The broker cancels a consumer whose queue was deleted. */
  function cancelledByBroker(consumer: Consumer, channel: Channel): void {
    log(`the broker cancelled the consumer of ${consumer.queue} (was the queue deleted?)`);
    consumer.cancelled = true;
    consumers.delete(consumer);
    consumer.channel = null;
    channel.close().catch(() => {});
  }

  async function cancel(consumer: Consumer): Promise<void> {
    if (consumer.cancelled) return;
    consumer.cancelled = true;
    consumers.delete(consumer);
    // The broker auto-deletes an exclusive queue with its last consumer: do not bring it back on reconnect.
    const lastConsumer = ![...consumers].some((c) => c.queue === consumer.queue);
    if (lastConsumer && queues.get(consumer.queue)?.exclusive) queues.delete(consumer.queue);
    const channel = consumer.channel;
    consumer.channel = null;
    // Closing the channel, not just basic.cancel, hands its unacknowledged messages back to the queue at once.
    if (!channel) return;
    const closing = untilClosed(channel, () => channel.close());
    await bounded(closing, RPC_TIMEOUT_MS, `cancelling the consumer of ${consumer.queue}`).catch(() => {});
  }

  return {
    kind: 'rabbitmq',

    async declareExchange(exchange, type = 'topic') {
      await withChannel(`declaring exchange ${exchange}`, (channel) =>
        channel.assertExchange(exchange, type, { durable: true }),
      );
      exchanges.set(exchange, type);
    },

    async declareQueue(spec) {
      await withChannel(`declaring queue ${spec.name}`, (channel) => assertQueue(channel, spec));
      // The broker keeps earlier bindings when a queue is declared again, so the replay must too.
      const earlier = queues.get(spec.name)?.bindings ?? [];
      const added = spec.bindings.filter((b) => !earlier.some((e) => e.exchange === b.exchange && e.pattern === b.pattern));
      queues.set(spec.name, { ...spec, bindings: [...earlier, ...added] });
    },

    publish(exchange, routingKey, message) {
      const what = `publishing message ${message.id} to ${exchange}`;
      return bounded(send(exchange, routingKey, message), PUBLISH_TIMEOUT_MS, what);
    },

    async consume(queue, handler, consumeOptions = {}) {
      const prefetch = consumeOptions.prefetch ?? DEFAULT_PREFETCH;
      checkPrefetch(prefetch);
      const consumer: Consumer = { queue, handler, prefetch, channel: null, cancelled: false };
      await startConsumer(consumer, await connected());
      consumers.add(consumer);
      return { cancel: () => cancel(consumer) };
    },

    async sendToQueue(queue, message) {
      // The default exchange drops a message for a queue that does not exist without a word: check first.
      await withChannel(`checking queue ${queue}`, (channel) => channel.checkQueue(queue));
      await bounded(send('', queue, message), PUBLISH_TIMEOUT_MS, `sending message ${message.id} to queue ${queue}`);
    },

    async browse(queue, limit) {
      return withChannel(`browsing queue ${queue}`, async (channel) => {
        const seen: DeliveredMessage[] = [];
        while (seen.length < limit) {
          const got = await channel.get(queue, { noAck: false });
          if (!got) break;
          seen.push(toDelivered(got));
        }
        // Back where they were: RabbitMQ requeues a rejected message in its original place where it can.
        channel.nackAll(true);
        return seen;
      });
    },

    async take(queue, limit, use) {
      return onChannel(await connected(), async (channel) => {
        let taken = 0;
        while (taken < limit) {
          const got = await channel.get(queue, { noAck: false });
          if (!got) break;
          try {
            await use(toDelivered(got));
          } catch (error) {
            channel.nack(got, false, true);
            throw error;
          }
          channel.ack(got);
          taken++;
        }
        return taken;
      });
    },

    async queueDepth(queue) {
      const { messageCount } = await withChannel(`checking queue ${queue}`, (channel) => channel.checkQueue(queue));
      return messageCount;
    },

    async deleteQueue(queue) {
      await withChannel(`deleting queue ${queue}`, (channel) => channel.deleteQueue(queue));
      queues.delete(queue);
    },

    async ping() {
      // Opening a channel is a round trip to the broker.
      await withChannel('ping', async () => {});
    },

    async close() {
      if (closed) return;
      closed = true;
      for (const consumer of consumers) consumer.cancelled = true;
      consumers.clear();
      for (const wake of waitingForConnection) wake(null);
      // Closing the connection closes every channel; the broker requeues what was unacknowledged on them.
      const model = connection;
      const closing = model ? untilClosed(model, () => recovering.close()) : recovering.close();
      await bounded(closing, RPC_TIMEOUT_MS, 'closing the connection').catch((err) => log('close', err));
      connection = null;
    },
  };
}

/** Runs `use` on a short-lived channel, so a failed operation (a missing queue) closes that channel only. */
export async function onChannel<T>(model: ChannelModel, use: (channel: Channel) => Promise<T>): Promise<T> {
  const channel = await model.createChannel();
  // A failed operation closes the channel and rejects with the same error; the event adds nothing.
  channel.on('error', () => {});
  try {
    return await use(channel);
  } finally {
    channel.close().catch(() => {});
  }
}

async function assertQueue(channel: Channel, spec: QueueSpec): Promise<void> {
  const exclusive = spec.exclusive ?? false;
  await channel.assertQueue(spec.name, {
    durable: spec.durable,
    exclusive,
    autoDelete: exclusive,
    deadLetterExchange: spec.deadLetterExchange,
    maxLength: spec.maxLength,
  });
  for (const binding of spec.bindings) await channel.bindQueue(spec.name, binding.exchange, binding.pattern);
}

function toDelivered(msg: ConsumeMessage | GetMessage): DeliveredMessage {
  const { properties, fields } = msg;
  return {
    id: String(properties.messageId ?? ''),
    type: String(properties.type ?? ''),
    body: msg.content,
    contentType: String(properties.contentType ?? DEFAULT_CONTENT_TYPE),
    headers: properties.headers ?? {},
    timestamp: typeof properties.timestamp === 'number' ? properties.timestamp * 1000 : 0,
    exchange: fields.exchange,
    routingKey: fields.routingKey,
    redelivered: fields.redelivered,
  };
}

/**
 * amqplib's close() never settles when the connection drops while it waits for the broker's CloseOk, though the
 * 'close' event still comes.
 */
function untilClosed(emitter: ChannelModel | Channel, close: () => Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    emitter.once('close', () => resolve());
    close().then(resolve, reject);
  });
}

function drainedOrClosed(channel: Channel): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      channel.off('drain', done);
      channel.off('close', done);
      resolve();
    };
    channel.on('drain', done);
    channel.on('close', done);
  });
}

async function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function withHeartbeat(url: string): string {
  const parsed = new URL(url);
  if (!parsed.searchParams.has('heartbeat')) parsed.searchParams.set('heartbeat', String(HEARTBEAT_S));
  return parsed.toString();
}

function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

/** RabbitMQ reads 0 as "no limit", which is never what a caller of this port means. */
function checkPrefetch(prefetch: number): void {
  if (!Number.isSafeInteger(prefetch) || prefetch < 1 || prefetch > 65_535) {
    throw new RangeError(`prefetch must be an integer from 1 to 65535, got ${prefetch}`);
  }
}
