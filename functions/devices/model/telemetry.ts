/**
 * What a device may send as telemetry, and the one path every protocol takes to the bus.
 *
 * The payload is ThingsBoard's shape: `{ts?, values: {name: number | boolean | string}}`, or the values alone
 * (`{"temperature": 21.5}`, dated when they arrive), or an array of either; `ts` in epoch ms. HTTP (`POST /telemetry`) and MQTT
 * (`devices/{id}/telemetry`) both call `publishTelemetry` after authenticating the device, so the checks
 * and the message on the bus are the same whichever way the data came in. A point's schema, and the event's,
 * are shared/messages.ts's: monitoring parses the same shapes off the bus.
 */
import { z } from 'zod';
import type { Deps } from '../../../shared/platform.ts';
import { Problem, type FieldError } from '../../../shared/problem.ts';
import { cloudEvent, eventMessage } from '../../../shared/events.ts';
import { eventTypes, exchanges, telemetryRoutingKey } from '../../../shared/bus/topology.ts';
import type { DeviceIdentity } from './device-auth.ts';
import { touchDevice } from './presence.ts';
import { telemetryPublished } from '../../../shared/metrics.ts';
import { TelemetryPoint, type StoredPoint, type TelemetryData } from '../../../shared/messages.ts';
import { configSchema } from '../../../shared/config.ts';

/**
 * ThingsBoard's flat form, `{"temperature": 21.5, "humidity": 40}`: the values alone, dated when they arrive.
 * An object without a `values` key is read this way.
 */
const FlatPoint = TelemetryPoint.shape.values.describe('The values alone (ThingsBoard\'s flat form), dated when they arrive');

/** What a device sends, as documented: one point, flat or `{ts, values}`, or a non-empty array of them. */
export const TelemetryPayload = z.union([TelemetryPoint, FlatPoint, z.array(z.union([TelemetryPoint, FlatPoint])).min(1)]);
/** What parseTelemetry validates once flat points are read as `{values}`: no union, so errors name the field at fault. */
const PointList = z.array(TelemetryPoint).min(1);

const isFlat = (entry: unknown): entry is Record<string, unknown> =>
  typeof entry === 'object' && entry !== null && !Array.isArray(entry) && !('values' in entry);
const asPoint = (entry: unknown): unknown => (isFlat(entry) ? { values: entry } : entry);

/** TELEMETRY_MAX_FUTURE_SKEW_SECONDS's default, for callers that do not pass the configured value. */
const defaultFutureSkewMs = configSchema.shape.TELEMETRY_MAX_FUTURE_SKEW_SECONDS.parse(undefined) * 1000;

/**
 * Parses a payload, counting entries before validating them all so a huge batch fails fast. A point dated
 * more than `maxFutureSkewMs` after `receivedAt` is refused: stored, it would be the key's latest value and
 * hide (and silence the alerts of) everything the device sends until that time comes.
 */
export function parseTelemetry(
  payload: unknown,
  maxPoints: number,
  options: { receivedAt?: number; maxFutureSkewMs?: number } = {},
): StoredPoint[] {
  const { receivedAt = Date.now(), maxFutureSkewMs = defaultFutureSkewMs } = options;
  if (Array.isArray(payload) && payload.length > maxPoints) {
    throw new Problem('too-many-points', `${payload.length} points in one message; at most ${maxPoints}`);
  }
  if (typeof payload !== 'object' || payload === null) {
    const message = 'expected the values ({"temperature": 21.5}), a point ({"ts": …, "values": {…}}) or an array of them';
    throw new Problem('validation', `body: ${message}`, { errors: [{ path: 'body', message }] });
  }
  const parsed = Array.isArray(payload) ? PointList.safeParse(payload.map(asPoint)) : TelemetryPoint.safeParse(asPoint(payload));
  // A flat point's errors name its keys as the device wrote them, not the `values` it never sent.
  const flatAt = (path: PropertyKey[]) => isFlat(Array.isArray(payload) ? payload[Number(path[0])] : payload);
  const sentPath = (path: PropertyKey[]) => {
    const at = Array.isArray(payload) ? 1 : 0;
    return flatAt(path) && path[at] === 'values' ? [...path.slice(0, at), ...path.slice(at + 1)] : path;
  };
  const errors: FieldError[] = parsed.success ? [] : parsed.error.issues.map((i) => ({ path: ['body', ...sentPath(i.path).map(String)].join('.'), message: i.message }));
  const points: Array<z.output<typeof TelemetryPoint>> = parsed.success ? (Array.isArray(parsed.data) ? parsed.data : [parsed.data]) : [];
  points.forEach((p, i) => {
    if (p.ts !== undefined && p.ts > receivedAt + maxFutureSkewMs) {
      const path = Array.isArray(payload) ? `body.${i}.ts` : 'body.ts';
      errors.push({ path, message: `is ${Math.round((p.ts - receivedAt) / 1000)} s ahead of the platform's clock; at most ${maxFutureSkewMs / 1000} s` });
    }
  });
  if (errors.length > 0) throw new Problem('validation', errors.map((e) => `${e.path}: ${e.message}`).join('; '), { errors });
  return points.map((p) => ({ ts: p.ts ?? receivedAt, values: p.values }));
}

/** Publishes a device's points to the telemetry exchange; resolves once RabbitMQ has confirmed them. */
export async function publishTelemetry(deps: Pick<Deps, 'bus' | 'cache' | 'log'>, device: DeviceIdentity, points: StoredPoint[], via: 'http' | 'mqtt') {
  const receivedAt = Date.now();
  const event = cloudEvent<TelemetryData>({
    type: eventTypes.telemetry,
    source: `/devices/${device.id}`,
    subject: device.id,
    data: { deviceId: device.id, ownerId: device.ownerId, via, receivedAt, points },
  });
  try {
    await deps.bus.publish(exchanges.telemetry, telemetryRoutingKey(device.id), eventMessage(event));
  } catch (error) {
    throw new Problem('unavailable', 'The message bus did not confirm the telemetry; send it again', { cause: error, headers: { 'retry-after': '1' } });
  }
  telemetryPublished.inc({ via }, points.length);
  // Presence is a side note: failing to record it must not fail a message the bus already has.
  await touchDevice(deps, device, receivedAt).catch((error: unknown) => deps.log.warn({ err: error, deviceId: device.id }, 'presence update failed'));
  return { messageId: event.id, points: points.length };
}
