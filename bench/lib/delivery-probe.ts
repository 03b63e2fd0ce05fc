/**
 * Proof that telemetry reached RabbitMQ: a durable queue of the bench's own, bound to the telemetry exchange
 * like a consumer's would be, with nobody consuming it, so its depth counts every message the platform
 * published while it existed.
 *
 *   const probe = await openDeliveryProbe(bus, 'points-10');
 *   ... load ...
 *   const { confirmedInQueue, lost } = await probe.settle(sent, 30_000);
 *   await probe.remove();
 *
 * The queue has no max-length (nothing is ever dropped from it) and is deleted after each figure, also when
 * the figure fails, and by `removeOpenProbes` when the bench is interrupted: a durable queue bound to all
 * telemetry that nobody deletes would collect every message on the broker for good.
 *
 * The binding is `telemetry.#`, every device's telemetry, so anything else publishing telemetry on the same
 * broker at the same time (a test run) is counted too. It shows as `extra`; since the queue cannot tell whose
 * message is whose, a figure with `extra` > 0 proves delivery only up to that many messages.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Bus, DeliveredMessage } from '../../shared/ports/bus.ts';
import { exchanges } from '../../shared/bus/topology.ts';
import { runId } from './platform-env.ts';

export interface Delivery {
  sent: number;
  confirmedInQueue: number;
  /** Sent but not in the queue; must be 0. */
  lost: number;
  /** In the queue beyond what was sent: another publisher on the broker, or a request the server finished after its client timed out. */
  extra: number;
  /** How long after `settle` was called the queue held every sent message. */
  settledMs: number;
}

export interface DeliveryProbe {
  queue: string;
  /** Messages that arrived since the probe opened (or was last rebased). */
  count(): Promise<number>;
  /** Counts from here on: what a warm-up put in the queue stays out of the figure's count. */
  rebase(): Promise<void>;
  /** Waits (bounded) until the queue holds `sent` messages, then reads the final count once more. */
  settle(sent: number, timeoutMs: number): Promise<Delivery>;
  remove(): Promise<void>;
}

const open = new Set<DeliveryProbe>();

/** Deletes the queues of probes still open; for a bench stopped by a signal or its watchdog. */
export async function removeOpenProbes(): Promise<void> {
  await Promise.allSettled([...open].map((probe) => probe.remove()));
}

/**
 * What a probe counts. `bus-messages`: the queue's depth, one per message on the bus (an HTTP request publishes
 * one). `device-messages`: the device messages inside them, read out of the queue as it goes: the MQTT bridge puts
 * up to one message of each of its connections into one bus message (telemetry-batcher.ts), so its depth counts
 * batches, not what the devices were acknowledged for.
 */
export type ProbeCounts = 'bus-messages' | 'device-messages';

/** Device messages in one telemetry event: a batch's entries, else the one. */
function deviceMessagesIn(message: DeliveredMessage): number {
  const { data } = JSON.parse(message.body.toString('utf8')) as { data?: { messages?: unknown[] } };
  return Array.isArray(data?.messages) ? data.messages.length : 1;
}

export async function openDeliveryProbe(bus: Bus, label: string, counts: ProbeCounts = 'bus-messages'): Promise<DeliveryProbe> {
  const queue = `bench.${runId}.${label}`;
  await bus.declareExchange(exchanges.telemetry, 'topic');
  await bus.declareQueue({ name: queue, durable: true, bindings: [{ exchange: exchanges.telemetry, pattern: 'telemetry.#' }] });
  let before = 0;
  let taken = 0;
  const total = async (): Promise<number> => {
    if (counts === 'bus-messages') return bus.queueDepth(queue);
    while ((await bus.take(queue, 10_000, async (message) => void (taken += deviceMessagesIn(message)))) > 0);
    return taken;
  };
  const count = async () => (await total()) - before;
  const probe: DeliveryProbe = {
    queue,
    count,
    async rebase() {
      before = await total();
    },
    async settle(sent, timeoutMs) {
      const started = performance.now();
      let now = await count();
      while (now < sent && performance.now() - started < timeoutMs) {
        await sleep(50);
        now = await count();
      }
      const settledMs = Math.round(performance.now() - started);
      // A publish confirmed a moment later than the last one counted would otherwise be missed as extra.
      await sleep(300);
      const confirmedInQueue = await count();
      return { sent, confirmedInQueue, lost: Math.max(0, sent - confirmedInQueue), extra: Math.max(0, confirmedInQueue - sent), settledMs };
    },
    async remove() {
      open.delete(probe);
      await bus.deleteQueue(queue);
    },
  };
  open.add(probe);
  try {
    // A fresh name per run and figure, so the queue starts empty; read anyway so a leftover can never count as delivered.
    await probe.rebase();
  } catch (error) {
    await probe.remove().catch(() => {});
    throw error;
  }
  return probe;
}
