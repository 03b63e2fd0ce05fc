/**
 * What `iotfn dead-letters list|replay|purge` does with `iotfn.dead-letters`, where every event that could not
 * be processed ends (the local trigger's rejections and Knative's exhausted retries through the queues'
 * dead-letter exchange, the functions' own poison events published there).
 *
 * Replay puts each message back into the one queue it died in, not through its exchange again, so only the
 * function that failed sees it once more (and, every consumer being idempotent, a replayed event that did get
 * through after all changes nothing). That queue is RabbitMQ's `x-first-death-queue` header, or, for what a
 * function dead-lettered itself, the routing key it published with (the function's queue).
 */
import type { Bus, DeliveredMessage } from '../ports/bus.ts';
import { queues } from './topology.ts';

export interface DeadLetter {
  id: string;
  type: string;
  /** The queue it died in, where a replay puts it; undefined when it cannot be told. */
  queue: string | undefined;
  reason: string;
  routingKey: string;
  /** Epoch ms the event was first published. */
  timestamp: number;
  bytes: number;
}

/** The queue a dead letter came from: RabbitMQ's header, or a function queue named by its routing key. */
function originOf(message: DeliveredMessage, functionQueues: ReadonlySet<string>): string | undefined {
  const header = message.headers['x-first-death-queue'];
  if (typeof header === 'string' && header) return header;
  return functionQueues.has(message.routingKey) ? message.routingKey : undefined;
}

function describe(message: DeliveredMessage, functionQueues: ReadonlySet<string>): DeadLetter {
  const reason = message.headers['x-first-death-reason'] ?? message.headers['x-iotfn-reason'] ?? 'dead-lettered by its function';
  return {
    id: message.id,
    type: message.type,
    queue: originOf(message, functionQueues),
    reason: String(reason),
    routingKey: message.routingKey,
    timestamp: message.timestamp,
    bytes: message.body.length,
  };
}

/** The oldest `limit` dead letters, left in place. */
export async function listDeadLetters(bus: Bus, functionQueues: ReadonlySet<string>, limit: number): Promise<DeadLetter[]> {
  return (await bus.browse(queues.deadLetters, limit)).map((message) => describe(message, functionQueues));
}

/**
 * Moves the oldest `limit` dead letters (of those waiting when it starts) back into the queues they died in.
 * Stops at the first one whose queue cannot be told or no longer exists, leaving it (and the rest) where they
 * are; resolves with what moved.
 */
export async function replayDeadLetters(bus: Bus, functionQueues: ReadonlySet<string>, limit: number): Promise<{ replayed: DeadLetter[]; stoppedAt?: { letter: DeadLetter; why: string } }> {
  const replayed: DeadLetter[] = [];
  let stoppedAt: { letter: DeadLetter; why: string } | undefined;
  // Only what is there now: a replayed event that fails again comes back behind them, and must not be taken
  // again in this same pass.
  const waiting = Math.min(limit, await bus.queueDepth(queues.deadLetters));
  await bus
    .take(queues.deadLetters, waiting, async (message) => {
      const letter = describe(message, functionQueues);
      if (!letter.queue) {
        stoppedAt = { letter, why: 'the queue it came from is not known' };
        throw new Error(stoppedAt.why);
      }
      // The death records would make a second failure look like the first; the event itself is unchanged.
      const headers = Object.fromEntries(Object.entries(message.headers).filter(([key]) => !key.startsWith('x-'))) as Record<string, string | number | boolean>;
      try {
        await bus.sendToQueue(letter.queue, { id: message.id, type: message.type, body: message.body, contentType: message.contentType, headers, timestamp: message.timestamp });
      } catch (error) {
        stoppedAt = { letter, why: `queue ${letter.queue}: ${(error as Error).message}` };
        throw error;
      }
      replayed.push(letter);
    })
    .catch((error: unknown) => {
      if (!stoppedAt) throw error;
    });
  return { replayed, ...(stoppedAt ? { stoppedAt } : {}) };
}

/** Drops the oldest `limit` dead letters for good; resolves with how many. */
export async function purgeDeadLetters(bus: Bus, limit: number): Promise<number> {
  return bus.take(queues.deadLetters, limit, async () => undefined);
}
