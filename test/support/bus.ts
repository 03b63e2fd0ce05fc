/**
 * Listening to the bus in a test: a queue of its own bound where the test says, collecting what arrives.
 */
import { randomUUID } from 'node:crypto';
import type { Binding, Bus, DeliveredMessage, Subscription } from '../../shared/ports/bus.ts';

export interface Collector {
  messages: DeliveredMessage[];
  /** The parsed CloudEvent bodies, in arrival order. */
  events(): Array<{ id: string; type: string; subject?: string; data: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any -- tests read any event
  waitFor(count: number, timeoutMs?: number): Promise<DeliveredMessage[]>;
  stop(): Promise<void>;
}

export async function collect(bus: Bus, bindings: Binding[]): Promise<Collector> {
  const queue = `test.collect.${randomUUID()}`;
  await bus.declareQueue({ name: queue, durable: false, exclusive: true, bindings });
  const messages: DeliveredMessage[] = [];
  const subscription: Subscription = await bus.consume(queue, async (message) => {
    messages.push(message);
  });
  return {
    messages,
    events: () => messages.map((m) => JSON.parse(m.body.toString('utf8'))),
    async waitFor(count, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (messages.length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} messages on ${JSON.stringify(bindings)}, got ${messages.length} in ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return messages;
    },
    async stop() {
      await subscription.cancel();
      await bus.deleteQueue(queue).catch(() => undefined);
    },
  };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
