/**
 * RabbitMQ as the monitoring bench sees it, with amqplib directly (no platform code in between):
 *
 *   const broker = await openBroker();
 *   const raw = await broker.publishConsume({ messages: 50_000, bodyBytes: 400, window: 1_000, prefetch: 1_000 });
 *   const { messageCount, consumerCount } = await broker.inspect('iotfn.ingest');
 *   await broker.close();
 *
 * `publishConsume` is the ceiling the end-to-end figures are compared with: the same kind of traffic the
 * platform makes (persistent messages, publisher confirms, a consumer acking each message, prefetch like the
 * ingest trigger's), but with nothing else to do per message. `inspect` reads a queue's depth and its
 * consumers, e.g. whether something besides the bench's gateway consumes `iotfn.ingest` and so helps store.
 */
import { performance } from 'node:perf_hooks';
import { connect, type Channel, type ChannelModel } from 'amqplib';
import { AMQP_URL, runId } from './platform-env.ts';
import { onChannel } from '../../shared/adapters/bus/rabbitmq.ts';

export interface PublishConsumeOptions {
  messages: number;
  bodyBytes: number;
  /** Published but not yet confirmed, at most: the pipelining depth. */
  window: number;
  /** Unacknowledged deliveries to the consumer, at most (the ingest trigger uses 1,000). */
  prefetch: number;
  timeoutMs: number;
}

export interface PublishConsumeResult {
  queue: string;
  consumed: number;
  confirmed: number;
  /** First publish to last delivery acked, in seconds. */
  seconds: number;
  /** First publish to last confirm, in seconds. */
  publishSeconds: number;
  timedOut: boolean;
}

export interface Broker {
  publishConsume(options: PublishConsumeOptions): Promise<PublishConsumeResult>;
  /** Ready messages and consumers of a queue; undefined when it does not exist. */
  inspect(queue: string): Promise<{ messageCount: number; consumerCount: number } | undefined>;
  /** Deletes the queues `publishConsume` made and closes the connection; safe to call twice. */
  close(): Promise<void>;
}

export async function openBroker(): Promise<Broker> {
  const model: ChannelModel = await connect(AMQP_URL, { timeout: 3_000, clientProperties: { connection_name: `bench-monitoring-${runId}` } });
  // A connection dropping is reported by the call it breaks; an unheard 'error' event would crash the bench.
  model.on('error', () => {});
  const made = new Set<string>();
  let closed = false;

  return {
    async publishConsume(options) {
      const queue = `bench.${runId}.broker-raw.${made.size + 1}`;
      const admin = await model.createChannel();
      admin.on('error', () => {});
      await admin.assertQueue(queue, { durable: true });
      made.add(queue);
      await admin.close();

      const consumer = await model.createChannel();
      consumer.on('error', () => {});
      await consumer.prefetch(options.prefetch);
      const publisher = await model.createConfirmChannel();
      publisher.on('error', () => {});

      const body = Buffer.alloc(options.bodyBytes, 'x');
      let consumed = 0;
      let confirmed = 0;
      let lastConsumed = 0;
      let lastConfirmed = 0;
      let failed: Error | undefined;
      let started = 0;
      let wakeConsumed: () => void = () => {};
      const allConsumed = new Promise<void>((resolve) => (wakeConsumed = resolve));
      // A delivery can come before its own confirm: the channel is closed only once both are in, or a confirm
      // still on its way would fail as 'channel closed'.
      let wakeConfirmed: () => void = () => {};
      const allConfirmed = new Promise<void>((resolve) => (wakeConfirmed = resolve));
      await consumer.consume(queue, (message) => {
        if (!message) return;
        consumer.ack(message);
        consumed += 1;
        if (consumed === options.messages) {
          lastConsumed = performance.now();
          wakeConsumed();
        }
      });

      // Pipelined: up to `window` publishes wait for their confirm at once; each confirm lets the next one go.
      let sent = 0;
      let wakeSlot: (() => void) | undefined;
      started = performance.now();
      const publishing = (async () => {
        while (sent < options.messages && !failed) {
          if (sent - confirmed >= options.window) {
            await new Promise<void>((resolve) => (wakeSlot = resolve));
            continue;
          }
          sent += 1;
          const ok = publisher.publish('', queue, body, { persistent: true, messageId: `m${sent}` }, (error: unknown) => {
            if (error) failed ??= error instanceof Error ? error : new Error(String(error));
            confirmed += 1;
            if (confirmed === options.messages) {
              lastConfirmed = performance.now();
              wakeConfirmed();
            }
            const wake = wakeSlot;
            wakeSlot = undefined;
            wake?.();
          });
          // The socket's buffer is full: wait for it to drain rather than queue without bound in memory.
          if (!ok) await new Promise<void>((resolve) => publisher.once('drain', () => resolve()));
        }
      })();

      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        Promise.all([allConsumed, allConfirmed, publishing]).then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), options.timeoutMs))),
      ]);
      clearTimeout(timer);
      await Promise.allSettled([consumer.close(), publisher.close()]);
      if (failed) throw new Error(`a publish was not confirmed: ${failed.message}`);
      return {
        queue,
        consumed,
        confirmed,
        seconds: ((timedOut ? performance.now() : lastConsumed) - started) / 1000,
        publishSeconds: ((lastConfirmed || performance.now()) - started) / 1000,
        timedOut,
      };
    },

    async inspect(queue) {
      try {
        const { messageCount, consumerCount } = await onChannel(model, (channel) => channel.checkQueue(queue));
        return { messageCount, consumerCount };
      } catch {
        return undefined;
      }
    },

    async close() {
      if (closed) return;
      closed = true;
      for (const queue of made) await onChannel(model, (channel) => channel.deleteQueue(queue)).catch(() => {});
      await model.close().catch(() => {});
    },
  };
}
