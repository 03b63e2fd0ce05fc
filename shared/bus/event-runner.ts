/**
 * Runs an event function for one delivered CloudEvent, whichever host delivered it (the local trigger, or
 * functions-framework behind a Knative Trigger): checks the envelope and the data, calls the handler, and
 * records metrics. An event that can never be processed throws `PoisonEvent`: hosts dead-letter it at once
 * instead of retrying; any other error is worth retrying.
 */
import { z } from 'zod';
import type { EventFunction, EventInput } from '../function.ts';
import type { Deps } from '../platform.ts';
import type { CloudEvent } from '../events.ts';
import { eventDuration, eventsHandled } from '../metrics.ts';

export class PoisonEvent extends Error {
  override name = 'PoisonEvent';
}

const Envelope = z.object({
  specversion: z.literal('1.0'),
  id: z.string().min(1),
  source: z.string().min(1),
  type: z.string().min(1),
  time: z.string().optional(),
  subject: z.string().optional(),
  data: z.unknown(),
});

/** The handler's input for a raw event, or PoisonEvent saying why it can never be processed. */
export function eventInput(fn: EventFunction, raw: unknown, deps: Deps): EventInput<unknown> {
  const envelope = Envelope.safeParse(raw);
  if (!envelope.success) throw new PoisonEvent(`not a CloudEvent: ${envelope.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  if (envelope.data.type !== fn.trigger.eventType) throw new PoisonEvent(`${fn.name} takes ${fn.trigger.eventType}, not ${envelope.data.type}`);
  const data = fn.data.safeParse(envelope.data.data);
  if (!data.success) throw new PoisonEvent(`event ${envelope.data.id} has invalid data: ${data.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const event = { ...envelope.data, data: data.data } as CloudEvent<unknown>;
  return { event, data: data.data, deps, log: deps.log.child({ fn: fn.name, eventId: envelope.data.id }) };
}

/** Times and counts one call of a handler (single event or batch). */
export async function measured<T>(fn: EventFunction, events: number, work: () => Promise<T>): Promise<T> {
  const started = process.hrtime.bigint();
  let result = 'ok';
  try {
    return await work();
  } catch (error) {
    result = error instanceof PoisonEvent ? 'poison' : 'error';
    throw error;
  } finally {
    eventsHandled.inc({ function: fn.name, result }, events);
    eventDuration.observe({ function: fn.name, result }, Number(process.hrtime.bigint() - started) / 1e9);
  }
}

export async function runEventFunction(fn: EventFunction, raw: unknown, deps: Deps): Promise<void> {
  await measured(fn, 1, async () => fn.handler(eventInput(fn, raw, deps)));
}
