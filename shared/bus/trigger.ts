/**
 * The local trigger: what Knative's RabbitMQ trigger does in a cluster, done in-process for `npm start`.
 *
 * It consumes an event function's durable queue and invokes the function as Knative would: each event is
 * acknowledged only after the function succeeded; a failing event is retried with exponential backoff a
 * bounded number of times and then dead-lettered; an event that can never be processed (PoisonEvent) is
 * dead-lettered at once. Many events are in flight at once (prefetch), so one bad event never blocks the
 * rest. Events that arrive together are handed to the function's `handleBatch` in one call when it has
 * one (one store write for hundreds of messages); if a batch fails, its events are retried one by one so a
 * poison event cannot sink its neighbours. A failure that is an outage (shared/bus/outage.ts: the database,
 * the store or the bus is down) is no reason to dead-letter anything: the trigger holds its events, probes
 * its dependencies with a backoff for as long as it takes, and goes on when they answer.
 */
import type { EventFunction, EventInput } from '../function.ts';
import type { Deps } from '../platform.ts';
import { RejectMessage, type DeliveredMessage, type Subscription } from '../ports/bus.ts';
import { eventsDeadLettered, eventsHeld } from '../metrics.ts';
import { isOutage, untilReady } from './outage.ts';
import { createWorkSlots } from '../work-slots.ts';
import { exchanges } from './topology.ts';
import { eventInput, measured, PoisonEvent } from './event-runner.ts';

export interface TriggerOptions {
  /** Unacknowledged events in flight (default 1000). */
  prefetch?: number;
  /** Most events in one batch (default 500). */
  batchSize?: number;
  /**
   * How long a partial batch waits at most for the batch in flight before it goes beside it (default 50 ms).
   * A partial batch starts at once when no batch is in flight.
   */
  batchWaitMs?: number;
  /** Retries of a failing event before it is dead-lettered (default 5, as Knative's delivery.retry). */
  retries?: number;
  /** First backoff; doubles on each retry (default 200 ms, as Knative's backoffDelay PT0.2S). */
  backoffMs?: number;
  /**
   * Calls of the function running at once (default 4). A failed batch falls back to its events one by one;
   * unbounded, that is hundreds of transactions racing for a pool of ten connections.
   */
  concurrency?: number;
}

interface Pending {
  input: EventInput<unknown>;
  done: (error?: unknown) => void;
}

export async function startTrigger(fn: EventFunction, deps: Deps, options: TriggerOptions = {}): Promise<Subscription> {
  const { prefetch = 1000, batchSize = 500, batchWaitMs = 50, retries = 5, backoffMs = 200, concurrency = 4 } = options;
  // Calls wait their turn without bound: the consumer's prefetch already bounds how many events are here.
  const slots = createWorkSlots({ concurrency, queue: Infinity });
  const limited = <T>(task: () => Promise<T>) => slots.run(task);
  await deps.bus.declareQueue({
    name: fn.trigger.queue,
    durable: true,
    bindings: [{ exchange: fn.trigger.exchange, pattern: fn.trigger.pattern }],
    deadLetterExchange: exchanges.deadLetter,
  });

  const deadLetter = (reason: 'poison' | 'retries-exhausted', error: unknown): RejectMessage => {
    eventsDeadLettered.inc({ function: fn.name, reason });
    deps.log.error({ err: error, fn: fn.name, reason }, 'event dead-lettered');
    return new RejectMessage(String((error as Error)?.message ?? error));
  };

  let cancelled = false;
  let outage: Promise<void> | undefined;
  /**
   * Holds `events` until every dependency answers again: one probe loop for the whole trigger, however many
   * events wait on it, and no event spends a retry on it. Rejects only when the trigger is cancelled (the
   * events then go back to the queue unacknowledged).
   */
  async function outageOver(error: unknown, events: number): Promise<void> {
    if (!outage) {
      deps.log.error({ err: error, fn: fn.name }, 'a dependency is down; holding events until it answers');
      outage = untilReady(deps, { firstMs: backoffMs, stopped: () => cancelled }).finally(() => {
        outage = undefined;
        if (!cancelled) deps.log.info({ fn: fn.name }, 'the dependencies answer again; going on');
      });
    }
    eventsHeld.inc({ function: fn.name }, events);
    try {
      await outage;
    } finally {
      eventsHeld.dec({ function: fn.name }, events);
    }
  }

  /**
   * One event: an outage holds it for as long as it lasts; any other failure gets Knative's bounded retries
   * and backoff, then the dead-letter queue.
   */
  async function runOne(input: EventInput<unknown>): Promise<void> {
    for (let attempt = 0; ; ) {
      if (outage) await outageOver(undefined, 1);
      try {
        await limited(() => measured(fn, 1, () => fn.handler(input)));
        return;
      } catch (error) {
        if (error instanceof PoisonEvent) throw deadLetter('poison', error);
        if (isOutage(error)) {
          await outageOver(error, 1);
          continue;
        }
        if (attempt >= retries) throw deadLetter('retries-exhausted', error);
        deps.log.warn({ err: error, fn: fn.name, attempt: attempt + 1 }, 'event failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, backoffMs * 2 ** attempt));
        attempt++;
      }
    }
  }

  /**
   * Group commit. The events that arrive while a batch is being written wait for it and go together in the
   * next: under load batches grow to what the write's duration lets in (one transaction and one alert-rule
   * look-up for hundreds of messages), and an event arriving to an idle trigger goes at once. Full batches do
   * not wait (up to `concurrency` calls at once); a partial one goes beside the one in flight after
   * `batchWaitMs` at most. Running more partial batches in parallel paid nothing on two cores: the store's
   * work per point is the same, and every extra transaction adds its round trips and its commit.
   */
  let batch: Pending[] = [];
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  let batchesInFlight = 0;

  function schedule(): void {
    if (batch.length === 0) return;
    if (batch.length >= batchSize) return flush();
    // After this round of I/O: deliveries that came in one read of the socket go together.
    if (batchesInFlight === 0) immediate ??= setImmediate(flush);
    else timer ??= setTimeout(flush, batchWaitMs);
  }

  function flush(): void {
    clearTimeout(timer);
    timer = undefined;
    if (immediate) clearImmediate(immediate);
    immediate = undefined;
    const taken = batch.length > batchSize ? batch.splice(0, batchSize) : batch;
    if (taken === batch) batch = [];
    if (taken.length === 0) return;
    batchesInFlight++;
    const handleBatch = fn.handleBatch;
    // A batch that fails for an outage waits it out whole and goes again: splitting it would only multiply
    // the calls against a dependency that is down.
    const runBatch = async (batchFn: NonNullable<typeof handleBatch>): Promise<void> => {
      if (outage) await outageOver(undefined, taken.length);
      try {
        await limited(() => measured(fn, taken.length, () => batchFn(taken.map((p) => p.input))));
      } catch (error) {
        if (!isOutage(error)) throw error;
        await outageOver(error, taken.length);
        return runBatch(batchFn);
      }
    };
    const all = handleBatch && taken.length > 1 ? runBatch(handleBatch) : Promise.reject(new Error('single'));
    all
      .then(
        () => taken.forEach((p) => p.done()),
        () => Promise.all(taken.map((p) => runOne(p.input).then(() => p.done(), (error: unknown) => p.done(error)))),
      )
      .finally(() => {
        batchesInFlight--;
        schedule();
      });
  }

  const subscription = await deps.bus.consume(
    fn.trigger.queue,
    (message: DeliveredMessage) => {
      let input: EventInput<unknown>;
      try {
        input = eventInput(fn, JSON.parse(message.body.toString('utf8')), deps);
      } catch (error) {
        return Promise.reject(deadLetter('poison', error instanceof PoisonEvent ? error : new PoisonEvent(`not JSON: ${(error as Error).message}`)));
      }
      return new Promise<void>((resolve, reject) => {
        batch.push({ input, done: (error) => (error === undefined ? resolve() : reject(error)) });
        schedule();
      });
    },
    { prefetch },
  );
  return {
    async cancel() {
      cancelled = true;
      await subscription.cancel();
    },
  };
}
