/**
 * ingestTelemetry: the RabbitMQ-triggered function that stores device telemetry.
 *
 * In a cluster a Knative Trigger on the RabbitMQ broker POSTs each `iotfn.telemetry` CloudEvent to this
 * function (functions-framework's cloudEvent signature); locally the trigger in the gateway process consumes
 * the same durable queue. An event holds one device's points (HTTP) or a batch of many devices' messages (the
 * MQTT bridge); either way each device message has its own id, the store skips an id it already has, so a
 * redelivery stores nothing twice, and the event is acknowledged only after this resolves, i.e. after the
 * write is durable.
 * After the write the device's alert rules are evaluated on the stored points (model/alerts.ts); a failure
 * there fails the message, so its redelivery evaluates again (points already evaluated are skipped).
 */
import { defineEventFunction, type EventInput } from '../../shared/function.ts';
import { warmForDevices } from '../../shared/deploy-policy.ts';
import { eventTypes, exchanges, queues } from '../../shared/bus/topology.ts';
import { telemetryStored } from '../../shared/metrics.ts';
import type { TelemetryMessage } from '../../shared/ports/telemetry-store.ts';
import { TelemetryEventData, telemetryMessagesOf, type StoredPoint } from '../../shared/messages.ts';
import { devicesWithRules, evaluateTelemetry } from './model/alerts.ts';

/** Every device message of the events (a batch from the MQTT bridge holds many), as the store takes them. */
function messagesOf(inputs: ReadonlyArray<EventInput<TelemetryEventData>>): Array<TelemetryMessage & { points: StoredPoint[] }> {
  return inputs.flatMap(({ event, data }) => telemetryMessagesOf(event.id, data).map((m) => ({ messageId: m.id, deviceId: m.deviceId, points: m.points })));
}

async function ingest(inputs: ReadonlyArray<EventInput<TelemetryEventData>>): Promise<void> {
  const deps = inputs[0]!.deps;
  const messages = messagesOf(inputs);
  const devices = [...new Set(messages.map((m) => m.deviceId))];
  // Which devices have rules is asked beside the write, on another connection: one look-up per batch, off the
  // write's path. Rules are read at once, never cached: a rule added a moment ago applies to the next batch.
  const [{ written }, withRules] = await Promise.all([deps.telemetry.write(messages), devicesWithRules(deps, devices)]);
  // Counted when anything was new: a redelivery of what was all stored already stores (and counts) nothing.
  if (written > 0) telemetryStored.inc(messages.reduce((n, m) => n + m.points.reduce((k, p) => k + Object.keys(p.values).length, 0), 0));
  if (withRules.size === 0) return;
  // One evaluation per device with all its points of the batch, in arrival order (evaluation orders by time).
  const byDevice = new Map<string, StoredPoint[]>();
  for (const { deviceId, points } of messages) {
    if (!withRules.has(deviceId)) continue;
    const gathered = byDevice.get(deviceId);
    if (gathered) for (const point of points) gathered.push(point);
    else byDevice.set(deviceId, [...points]);
  }
  for (const [deviceId, points] of byDevice) await evaluateTelemetry(deps, deviceId, points);
}

export default defineEventFunction({
  name: 'ingestTelemetry',
  domain: 'monitoring',
  deploy: warmForDevices,
  summary: 'Store telemetry events from the bus',
  trigger: { exchange: exchanges.telemetry, pattern: 'telemetry.#', queue: queues.ingest, eventType: eventTypes.telemetry },
  data: TelemetryEventData,
  handler: (input) => ingest([input]),
  handleBatch: ingest,
});
