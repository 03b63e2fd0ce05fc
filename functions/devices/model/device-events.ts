/**
 * Device lifecycle events as they go into the outbox: CloudEvents with the device as subject, routed by
 * event name on the events exchange.
 */
import { cloudEvent, type CloudEvent } from '../../../shared/events.ts';
import { eventTypes, type DeviceEventName } from '../../../shared/bus/topology.ts';

export function deviceEvent(name: DeviceEventName, deviceId: string, data: Record<string, unknown>): { routingKey: string; event: CloudEvent } {
  return { routingKey: name, event: cloudEvent({ type: eventTypes.device(name), source: '/devices', subject: deviceId, data: { deviceId, ...data } }) };
}
