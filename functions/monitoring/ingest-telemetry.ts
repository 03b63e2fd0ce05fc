/**
 * ingestTelemetry: the RabbitMQ-triggered function that stores device telemetry.
 *
 * In a cluster a Knative Trigger on the RabbitMQ broker POSTs each `iotfn.telemetry` CloudEvent to this
 * function (functions-framework's cloudEvent signature); locally the trigger in the gateway process consumes
 * the same durable queue. The store skips a message id it already has, so a redelivery stores nothing twice,
 * and the message is acknowledged only after this resolves, i.e. after the write is durable.
 * After the write the device's alert rules are evaluated on the stored points (model/alerts.ts); a failure
 * there fails the message, so its redelivery evaluates again (points already evaluated are skipped).
 */
import { defineEventFunction } from '../../shared/function.ts';
import { eventTypes, exchanges, queues } from '../../shared/bus/topology.ts';
import { telemetryStored } from '../../shared/metrics.ts';
import type { TelemetryMessage } from '../../shared/ports/telemetry-store.ts';
import { TelemetryData, type StoredPoint } from '../../shared/messages.ts';
import { devicesWithRules, evaluateTelemetry } from './model/alerts.ts';

const asMessage = (id: string, data: TelemetryData): TelemetryMessage => ({ messageId: id, deviceId: data.deviceId, points: data.points });

export default defineEventFunction({
  name: 'ingestTelemetry',
  domain: 'monitoring',
  summary: 'Store telemetry events from the bus',
  trigger: { exchange: exchanges.telemetry, pattern: 'telemetry.#', queue: queues.ingest, eventType: eventTypes.telemetry },
  data: TelemetryData,
  async handler({ event, data, deps }) {
    const { written } = await deps.telemetry.write([asMessage(event.id, data)]);
    if (written) telemetryStored.inc(data.points.reduce((n, p) => n + Object.keys(p.values).length, 0));
    await evaluateTelemetry(deps, data.deviceId, data.points);
  },
  async handleBatch(inputs) {
    const deps = inputs[0]!.deps;
    await deps.telemetry.write(inputs.map(({ event, data }) => asMessage(event.id, data)));
    telemetryStored.inc(inputs.reduce((n, { data }) => n + data.points.reduce((m, p) => m + Object.keys(p.values).length, 0), 0));
    // One evaluation per device with all its points of the batch, in point-time order.
    const byDevice = new Map<string, StoredPoint[]>();
    for (const { data } of inputs) byDevice.set(data.deviceId, [...(byDevice.get(data.deviceId) ?? []), ...data.points]);
    const withRules = await devicesWithRules(deps, [...byDevice.keys()]);
    for (const [deviceId, points] of byDevice) if (withRules.has(deviceId)) await evaluateTelemetry(deps, deviceId, points);
  },
});
