/**
 * Device lifecycle events as they go into the outbox: CloudEvents with the device as subject, routed by
 * event name on the events exchange, their data typed by shared/messages.ts.
 */
import { cloudEvent, type CloudEvent } from '../../../shared/events.ts';
import { eventTypes, type DeviceEventName } from '../../../shared/bus/topology.ts';
import type { EventData } from '../../../shared/messages.ts';

export function deviceEvent<N extends DeviceEventName>(
  name: N,
  deviceId: string,
  data: Omit<EventData<N>, 'deviceId'>,
): { routingKey: string; event: CloudEvent<EventData<N>> } {
  const event = cloudEvent({ type: eventTypes.device(name), source: '/devices', subject: deviceId, data: { deviceId, ...data } as EventData<N> });
  return { routingKey: name, event };
}
