/**
 * Telemetry of many devices in one bus message, for the MQTT bridge.
 *
 * A device sending one point per message costs RabbitMQ a persistent message and a publisher confirm, and
 * the store a transaction share, per point; at a few thousand messages a second that work, not the devices'
 * data, fills the machine. The bridge hands each telemetry message here instead: messages that arrive
 * together go out as one `iotfn.telemetry` event (shared/messages.ts TelemetryBatchData, routing key
 * `telemetry.batch`), each keeping an id of its own so the store still skips a redelivered one. `add`
 * resolves only once the bus has confirmed the batch holding the message, so the bridge's PUBACK to the
 * broker still means "on the bus".
 *
 * A batch goes out when it holds `maxMessages` (the bridge sets this to its number of uplink connections:
 * each hands over one message at a time, so once every connection waits nothing more can arrive), when it
 * reaches `maxBytes`, or `maxWaitMs` after its first message, whichever comes first. Batches in flight do not
 * hold the next one back.
 *
 *   const batcher = telemetryBatcher(deps, { maxMessages: 32, maxWaitMs: 2 });
 *   await batcher.add(device, points, payload.length);   // confirmed by the bus
 */
import { randomUUID } from 'node:crypto';
import type { Deps } from '../../../shared/platform.ts';
import { Problem } from '../../../shared/problem.ts';
import { cloudEvent, eventMessage } from '../../../shared/events.ts';
import { eventTypes, exchanges, telemetryBatchRoutingKey } from '../../../shared/bus/topology.ts';
import { telemetryPublished } from '../../../shared/metrics.ts';
import type { StoredPoint, TelemetryBatchData } from '../../../shared/messages.ts';
import type { DeviceIdentity } from './device-auth.ts';
import { touchDevices } from './presence.ts';

export interface TelemetryBatcherOptions {
  /** Messages in one batch at most (and at once: a full batch goes out without waiting). */
  maxMessages: number;
  /** Payload bytes in one batch at most, roughly (what the devices sent, not the event's JSON). */
  maxBytes?: number;
  /** How long the first message of a batch waits for others. */
  maxWaitMs: number;
}

export interface TelemetryBatcher {
  /** Resolves once the bus has confirmed the message; rejects with an `unavailable` problem when it did not. */
  add(device: DeviceIdentity, points: StoredPoint[], bytes: number): Promise<void>;
  /** Sends what waits and resolves when every batch has been answered. */
  drain(): Promise<void>;
}

interface Waiting {
  entries: TelemetryBatchData['messages'];
  devices: Map<string, DeviceIdentity>;
  points: number;
  bytes: number;
  settle: Array<{ resolve: () => void; reject: (error: unknown) => void }>;
  timer?: NodeJS.Timeout;
}

export function telemetryBatcher(deps: Pick<Deps, 'bus' | 'cache' | 'log'>, options: TelemetryBatcherOptions): TelemetryBatcher {
  const { maxMessages, maxBytes = 512 * 1024, maxWaitMs } = options;
  let waiting: Waiting | undefined;
  const inFlight = new Set<Promise<void>>();

  async function send(batch: Waiting): Promise<void> {
    const event = cloudEvent<TelemetryBatchData>({ type: eventTypes.telemetry, source: '/devices/mqtt', data: { messages: batch.entries } });
    try {
      await deps.bus.publish(exchanges.telemetry, telemetryBatchRoutingKey, eventMessage(event));
    } catch (error) {
      const problem = new Problem('unavailable', 'The message bus did not confirm the telemetry; send it again', { cause: error });
      for (const { reject } of batch.settle) reject(problem);
      return;
    }
    telemetryPublished.inc({ via: 'mqtt' }, batch.points);
    for (const { resolve } of batch.settle) resolve();
    // Presence is a side note (at most one cache write a second per device): it neither delays nor fails
    // messages the bus already has.
    touchDevices(deps, [...batch.devices.values()]).catch((error: unknown) => deps.log.warn({ err: error, devices: batch.devices.size }, 'presence update failed'));
  }

  function flush(): void {
    const batch = waiting;
    waiting = undefined;
    if (!batch) return;
    clearTimeout(batch.timer);
    const sent = send(batch).finally(() => inFlight.delete(sent));
    inFlight.add(sent);
  }

  return {
    add(device, points, bytes) {
      return new Promise<void>((resolve, reject) => {
        if (waiting && waiting.bytes + bytes > maxBytes) flush();
        const batch: Waiting = (waiting ??= { entries: [], devices: new Map(), points: 0, bytes: 0, settle: [] } satisfies Waiting);
        batch.entries.push({ id: randomUUID(), deviceId: device.id, ownerId: device.ownerId, via: 'mqtt', receivedAt: Date.now(), points });
        batch.devices.set(device.id, device);
        batch.points += points.length;
        batch.bytes += bytes;
        batch.settle.push({ resolve, reject });
        if (batch.entries.length >= maxMessages || batch.bytes >= maxBytes) flush();
        else batch.timer ??= setTimeout(flush, maxWaitMs);
      });
    },
    async drain() {
      flush();
      await Promise.allSettled([...inFlight]);
    },
  };
}
