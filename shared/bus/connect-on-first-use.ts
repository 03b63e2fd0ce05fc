/**
 * A bus that connects when something first uses it, not when the process starts.
 *
 * Most function processes never touch the broker on a request (`me`, `jwks`, every read): connecting to
 * RabbitMQ and declaring the topology at every cold start cost them ~30 ms and the amqplib module before
 * their first answer, for nothing. The first call (a publish, a consume, the outbox relay finding an event,
 * a readiness probe) connects and declares the topology; the calls after it share that connection. A failed
 * connection is not remembered: the next call tries again, and the caller sees the error (an outage,
 * shared/bus/outage.ts) as it would from a bus that dropped.
 *
 *   const bus = connectOnFirstUse('rabbitmq', async () => createRabbitBus(url, options));
 */
import type { Bus } from '../ports/bus.ts';
import { declareTopology } from './topology.ts';
import { onFirstUse, preparedOrClosed } from '../on-first-use.ts';

export function connectOnFirstUse(kind: Bus['kind'], connect: () => Promise<Bus>): Bus {
  const connection = onFirstUse(
    'bus',
    async () => preparedOrClosed(await connect(), declareTopology),
    (connected) => connected.close(),
  );
  const bus = connection.get;
  return {
    kind,
    declareExchange: async (...args) => (await bus()).declareExchange(...args),
    declareQueue: async (...args) => (await bus()).declareQueue(...args),
    publish: async (...args) => (await bus()).publish(...args),
    consume: async (...args) => (await bus()).consume(...args),
    queueDepth: async (...args) => (await bus()).queueDepth(...args),
    browse: async (...args) => (await bus()).browse(...args),
    take: async (...args) => (await bus()).take(...args),
    sendToQueue: async (...args) => (await bus()).sendToQueue(...args),
    deleteQueue: async (...args) => (await bus()).deleteQueue(...args),
    ping: async () => (await bus()).ping(),
    close: connection.close,
  };
}
