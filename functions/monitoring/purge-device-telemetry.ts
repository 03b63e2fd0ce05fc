/** purgeDeviceTelemetry: when a device is deleted, its telemetry goes with it (triggered by `device.deleted`). */
import { defineEventFunction } from '../../shared/function.ts';
import { eventTypes, exchanges, queues } from '../../shared/bus/topology.ts';
import { DeviceDeletedData } from '../../shared/messages.ts';

export default defineEventFunction({
  name: 'purgeDeviceTelemetry',
  domain: 'monitoring',
  summary: 'Delete the telemetry of a deleted device',
  trigger: { exchange: exchanges.events, pattern: 'device.deleted', queue: queues.purgeDeviceTelemetry, eventType: eventTypes.device('device.deleted') },
  data: DeviceDeletedData,
  async handler({ data, deps, log }) {
    await deps.telemetry.deleteDevice(data.deviceId);
    log.info({ deviceId: data.deviceId }, 'telemetry of deleted device purged');
  },
});
