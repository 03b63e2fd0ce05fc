/**
 * The message bus port in process memory, for the embedded mode and for tests: the part Knative's
 * InMemoryChannel plays in a cluster.
 *
 * It behaves as RabbitMQ does for everything the port promises, so code tested here runs the same there:
 * topic and fanout routing, messages published with no matching binding dropped, prefetch, acknowledgement
 * when the handler resolves, redelivery (`redelivered: true`, at the head of the queue) when it throws,
 * dead-lettering on `RejectMessage` and on `maxLength` overflow, and timestamps cut to whole seconds as AMQP
 * carries them. Nothing survives the process, so `durable` has no effect.
 *
 *   const bus = createMemoryBus();
 *   await bus.declareExchange('iotfn.events');
 *   const bindings = [{ exchange: 'iotfn.events', pattern: 'telemetry.#' }];
 *   await bus.declareQueue({ name: 'alerts', durable: true, bindings });
 *   await bus.consume('alerts', async (message) => { ... });
 */
import { RejectMessage, type Bus, type DeliveredMessage, type OutgoingMessage, type QueueSpec } from '../../ports/bus.ts';

/** Redelivery waits this long, so a handler that always fails does not spin the event loop. */
const REDELIVERY_DELAY_MS = 20;
/** Same as the RabbitMQ adapter. */
const DEFAULT_PREFETCH = 10;
const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

type Stored = Omit<DeliveredMessage, 'redelivered'>;
type Handler = (message: DeliveredMessage) => Promise<void>;

interface Entry {
  message: Stored;
  redelivered: boolean;
}

interface MemoryQueue {
  spec: QueueSpec;
  ready: Entry[];
  consumers: MemoryConsumer[];
  /** Round-robin position among the consumers, as RabbitMQ spreads deliveries. */
  next: number;
  pumpScheduled: boolean;
}

interface MemoryConsumer {
  queue: MemoryQueue;
  handler: Handler;
  prefetch: number;
  /** Delivered and not yet acknowledged, in delivery order. */
  unacked: Set<Entry>;
  cancelled: boolean;
}

export function createMemoryBus(): Bus {
  const exchanges = new Map<string, 'topic' | 'fanout'>();
  const queues = new Map<string, MemoryQueue>();
  const redeliveries = new Set<NodeJS.Timeout>();
  let closed = false;

  function assertOpen(): void {
    if (closed) throw new Error('bus memory is closed');
  }

  function existingQueue(name: string): MemoryQueue {
    const queue = queues.get(name);
    if (!queue) throw new Error(`no queue '${name}'`);
    return queue;
  }

  /** Puts the message in every queue bound to `exchange` by a matching pattern, once per queue. */
  function route(exchange: string, message: Stored): void {
    const type = exchanges.get(exchange);
    if (!type) return;
    for (const queue of queues.values()) {
      const bound = queue.spec.bindings.some(
        (b) => b.exchange === exchange && (type === 'fanout' || topicMatches(b.pattern, message.routingKey)),
      );
      if (bound) enqueue(queue, { message, redelivered: false });
    }
  }

  function enqueue(queue: MemoryQueue, entry: Entry): void {
    queue.ready.push(entry);
    const { maxLength } = queue.spec;
    if (maxLength !== undefined) {
      while (queue.ready.length > maxLength) deadLetter(queue, queue.ready.shift()!, 'maxlen');
    }
    schedulePump(queue);
  }

  function stored(exchange: string, routingKey: string, message: OutgoingMessage): Stored {
    return {
      id: message.id,
      type: message.type,
      // A copy, so a publisher reusing its buffer cannot change a queued message.
      body: Buffer.from(message.body),
      contentType: message.contentType ?? DEFAULT_CONTENT_TYPE,
      headers: { ...message.headers },
      timestamp: Math.floor((message.timestamp ?? Date.now()) / 1000) * 1000,
      exchange,
      routingKey,
    };
  }

  /** Routes to the queue's dead-letter exchange with the original routing key, or drops, as RabbitMQ does. */
  function deadLetter(queue: MemoryQueue, entry: Entry, reason: 'rejected' | 'maxlen'): void {
    const exchange = queue.spec.deadLetterExchange;
    if (exchange === undefined) return;
    const headers = { ...entry.message.headers };
    headers['x-first-death-queue'] ??= queue.spec.name;
    headers['x-first-death-exchange'] ??= entry.message.exchange;
    headers['x-first-death-reason'] ??= reason;
    route(exchange, { ...entry.message, exchange, headers });
  }

  // Handlers run on a later turn, never inside publish, as they would when the broker is another process.
  function schedulePump(queue: MemoryQueue): void {
    if (queue.pumpScheduled) return;
    queue.pumpScheduled = true;
    setImmediate(() => {
      queue.pumpScheduled = false;
      pump(queue);
    });
  }

  function pump(queue: MemoryQueue): void {
    while (queue.ready.length > 0 && queues.get(queue.spec.name) === queue) {
      const consumer = nextWithRoom(queue);
      if (!consumer) return;
      deliver(consumer, queue.ready.shift()!);
    }
  }

  function nextWithRoom(queue: MemoryQueue): MemoryConsumer | undefined {
    const { consumers } = queue;
    for (let i = 0; i < consumers.length; i++) {
      const consumer = consumers[(queue.next + i) % consumers.length]!;
      if (consumer.unacked.size < consumer.prefetch) {
        queue.next = (queue.next + i + 1) % consumers.length;
        return consumer;
      }
    }
    return undefined;
  }

  function deliver(consumer: MemoryConsumer, entry: Entry): void {
    consumer.unacked.add(entry);
    // Copies, so a handler that mutates what it was given cannot change a redelivery.
    const message: DeliveredMessage = {
      ...entry.message,
      body: Buffer.from(entry.message.body),
      headers: { ...entry.message.headers },
      redelivered: entry.redelivered,
    };
    Promise.resolve()
      .then(() => consumer.handler(message))
      .then(
        () => settle(consumer, entry, 'ack'),
        (err: unknown) => settle(consumer, entry, err instanceof RejectMessage ? 'dead-letter' : 'requeue'),
      );
  }

  function settle(consumer: MemoryConsumer, entry: Entry, outcome: 'ack' | 'dead-letter' | 'requeue'): void {
    // Gone when cancel put it back already: the late answer of a handler whose channel closed, ignored on RabbitMQ too.
    if (!consumer.unacked.has(entry)) return;
    const { queue } = consumer;
    if (outcome === 'requeue') {
      // Keeps its prefetch slot while it waits, as an unacknowledged message does on RabbitMQ.
      const timer = setTimeout(() => {
        redeliveries.delete(timer);
        if (!consumer.unacked.delete(entry)) return;
        putBack(queue, [entry]);
      }, REDELIVERY_DELAY_MS);
      redeliveries.add(timer);
      return;
    }
    consumer.unacked.delete(entry);
    if (outcome === 'dead-letter') deadLetter(queue, entry, 'rejected');
    schedulePump(queue);
  }

  /** Returns unacknowledged messages to the head of the queue, in their order, marked redelivered. */
  function putBack(queue: MemoryQueue, entries: Entry[]): void {
    if (queues.get(queue.spec.name) !== queue) return;
    for (const entry of entries) entry.redelivered = true;
    queue.ready.unshift(...entries);
    schedulePump(queue);
  }

  function cancel(consumer: MemoryConsumer): void {
    if (consumer.cancelled) return;
    consumer.cancelled = true;
    const { queue } = consumer;
    queue.consumers = queue.consumers.filter((c) => c !== consumer);
    const unacked = [...consumer.unacked];
    consumer.unacked.clear();
    // An exclusive queue is auto-deleted with its last consumer, as on RabbitMQ.
    if (queue.spec.exclusive && queue.consumers.length === 0) deleteQueue(queue.spec.name);
    else putBack(queue, unacked);
  }

  function deleteQueue(name: string): void {
    const queue = queues.get(name);
    if (!queue) return;
    queues.delete(name);
    for (const consumer of queue.consumers) {
      consumer.cancelled = true;
      consumer.unacked.clear();
    }
  }

  return {
    kind: 'memory',

    async declareExchange(name, type = 'topic') {
      assertOpen();
      const existing = exchanges.get(name);
      if (existing && existing !== type) throw new Error(`exchange '${name}' exists with type ${existing}, not ${type}`);
      exchanges.set(name, type);
    },

    async declareQueue(spec) {
      assertOpen();
      for (const { exchange } of spec.bindings) if (!exchanges.has(exchange)) throw new Error(`no exchange '${exchange}'`);
      const existing = queues.get(spec.name);
      if (!existing) {
        const bindings = [...spec.bindings];
        queues.set(spec.name, { spec: { ...spec, bindings }, ready: [], consumers: [], next: 0, pumpScheduled: false });
        return;
      }
      const before = existing.spec;
      const same =
        before.durable === spec.durable &&
        (before.exclusive ?? false) === (spec.exclusive ?? false) &&
        before.deadLetterExchange === spec.deadLetterExchange &&
        before.maxLength === spec.maxLength;
      if (!same) throw new Error(`queue '${spec.name}' exists with different arguments`);
      // Declaring again adds bindings and never removes one, as on RabbitMQ.
      for (const binding of spec.bindings) {
        const known = before.bindings.some((b) => b.exchange === binding.exchange && b.pattern === binding.pattern);
        if (!known) before.bindings.push(binding);
      }
    },

    async publish(exchange, routingKey, message) {
      assertOpen();
      if (!exchanges.has(exchange)) throw new Error(`no exchange '${exchange}'`);
      route(exchange, stored(exchange, routingKey, message));
    },

    async sendToQueue(queue, message) {
      assertOpen();
      // As AMQP's default exchange: the exchange is '' and the routing key the queue's name.
      enqueue(existingQueue(queue), { message: stored('', queue, message), redelivered: false });
    },

    async browse(queue, limit) {
      assertOpen();
      return existingQueue(queue).ready.slice(0, Math.max(0, limit)).map((entry) => ({ ...entry.message, redelivered: entry.redelivered }));
    },

    async take(queue, limit, use) {
      assertOpen();
      const source = existingQueue(queue);
      let taken = 0;
      while (taken < limit) {
        const entry = source.ready.shift();
        if (!entry) break;
        try {
          await use({ ...entry.message, redelivered: entry.redelivered });
        } catch (error) {
          source.ready.unshift(entry);
          throw error;
        }
        taken++;
      }
      return taken;
    },

    async consume(queueName, handler, options = {}) {
      assertOpen();
      const prefetch = options.prefetch ?? DEFAULT_PREFETCH;
      checkPrefetch(prefetch);
      const queue = existingQueue(queueName);
      const consumer: MemoryConsumer = { queue, handler, prefetch, unacked: new Set(), cancelled: false };
      queue.consumers.push(consumer);
      schedulePump(queue);
      return {
        async cancel() {
          cancel(consumer);
        },
      };
    },

    async queueDepth(queue) {
      assertOpen();
      return existingQueue(queue).ready.length;
    },

    async deleteQueue(queue) {
      assertOpen();
      deleteQueue(queue);
    },

    async ping() {
      assertOpen();
    },

    async close() {
      closed = true;
      for (const name of [...queues.keys()]) deleteQueue(name);
      for (const timer of redeliveries) clearTimeout(timer);
      redeliveries.clear();
    },
  };
}

/** AMQP topic matching: words split on `.`, `*` is exactly one word, `#` zero or more; '' has no words. */
function topicMatches(pattern: string, routingKey: string): boolean {
  const words = (s: string) => (s === '' ? [] : s.split('.'));
  const p = words(pattern);
  const k = words(routingKey);
  const match = (i: number, j: number): boolean => {
    if (i === p.length) return j === k.length;
    if (p[i] === '#') return match(i + 1, j) || (j < k.length && match(i, j + 1));
    return j < k.length && (p[i] === '*' || p[i] === k[j]) && match(i + 1, j + 1);
  };
  return match(0, 0);
}

/** The same check as the RabbitMQ adapter, so both reject a bad prefetch alike. */
function checkPrefetch(prefetch: number): void {
  if (!Number.isSafeInteger(prefetch) || prefetch < 1 || prefetch > 65_535) {
    throw new RangeError(`prefetch must be an integer from 1 to 65535, got ${prefetch}`);
  }
}
