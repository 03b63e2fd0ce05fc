/**
 * The transactional outbox: a change and its event are written in one transaction, and a relay publishes
 * pending events to the bus afterwards. A broker that is down delays events; it never loses one, and a
 * change never goes out without its event (or the reverse).
 *
 * Every process with a platform runs a relay; `FOR UPDATE SKIP LOCKED` lets several relays share the table
 * without publishing a row twice in the usual case (a crash between publish and commit can repeat one:
 * consumers deduplicate on the event id). Functions nudge the relay of their own process after a commit,
 * so events go out at once rather than at the next poll.
 */
import type { Queryable, Relational } from './ports/relational.ts';
import type { Bus } from './ports/bus.ts';
import type { Logger } from './log.ts';
import { eventMessage, type CloudEvent } from './events.ts';

export async function enqueueEvents(tx: Queryable, exchange: string, events: Array<{ routingKey: string; event: CloudEvent }>): Promise<void> {
  if (events.length === 0) return;
  await tx.query(
    `INSERT INTO outbox (id, exchange, routing_key, type, payload)
     SELECT e.id, $1, e.routing_key, e.type, e.payload
       FROM jsonb_to_recordset($2::jsonb) AS e(id uuid, routing_key text, type text, payload jsonb)`,
    [exchange, JSON.stringify(events.map(({ routingKey, event }) => ({ id: event.id, routing_key: routingKey, type: event.type, payload: event })))],
  );
}

interface OutboxRow {
  seq: string;
  exchange: string;
  routing_key: string;
  payload: CloudEvent;
}

/** Publishes up to `batch` pending events, oldest first; returns how many went out. */
export async function relayOnce(db: Relational, bus: Bus, batch = 500): Promise<number> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<OutboxRow>(
      `SELECT seq, exchange, routing_key, payload FROM outbox
        WHERE published_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED`,
      [batch],
    );
    if (rows.length === 0) return 0;
    // One channel keeps the order of sends, so publishing them together still delivers them in order.
    await Promise.all(rows.map((row) => bus.publish(row.exchange, row.routing_key, eventMessage(row.payload))));
    await tx.query('UPDATE outbox SET published_at = now() WHERE seq = ANY($1::bigint[])', [rows.map((r) => r.seq)]);
    return rows.length;
  });
}

export interface OutboxRelay {
  /** Ask for a pass now (after a commit), instead of at the next poll. */
  nudge(): void;
  /** Resolves when nothing is pending (or after `timeoutMs`); for tests and shutdown. */
  drain(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export function startOutboxRelay(db: Relational, bus: Bus, log: Logger, options: { intervalMs?: number; keepPublishedMs?: number } = {}): OutboxRelay {
  const intervalMs = options.intervalMs ?? 1000;
  const keepPublishedMs = options.keepPublishedMs ?? 24 * 3600 * 1000;
  let stopped = false;
  let wake: (() => void) | undefined;
  let failures = 0;
  let lastPrune = 0;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      }
      wake = done;
    });

  const loop = (async () => {
    // The first pass waits a poll (or a nudge): a cold start answers its first request before it relays
    // what another process may have left behind.
    await sleep(intervalMs);
    while (!stopped) {
      try {
        while (!stopped && (await relayOnce(db, bus)) > 0);
        failures = 0;
        if (Date.now() - lastPrune > 60_000) {
          lastPrune = Date.now();
          await db.query(`DELETE FROM outbox WHERE published_at < now() - ($1::bigint * interval '1 millisecond')`, [keepPublishedMs]);
        }
      } catch (error) {
        failures++;
        if (failures === 1 || failures % 30 === 0) log.warn({ err: error, failures }, 'outbox relay cannot publish yet; events wait in the outbox');
      }
      if (!stopped) await sleep(failures > 0 ? Math.min(intervalMs * 2 ** Math.min(failures, 4), 10_000) : intervalMs);
    }
  })();

  return {
    nudge() {
      wake?.();
    },
    async drain(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const { rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM outbox WHERE published_at IS NULL');
        if (Number(rows[0]?.n ?? 0) === 0) return;
        wake?.();
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(`outbox not drained within ${timeoutMs} ms`);
    },
    async stop() {
      stopped = true;
      wake?.();
      await loop;
    },
  };
}
