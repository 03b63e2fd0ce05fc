/**
 * The one list of exchanges, routing keys and event types that cross domains over the bus.
 * Producers, consumers, deploy artefacts and tests all take names from here; what each event carries is
 * its schema in shared/messages.ts.
 */
import type { Bus } from '../ports/bus.ts';

export const exchanges = {
  /** Device telemetry, routing key `telemetry.{deviceId}`, or `telemetry.batch` for many devices' messages at once. */
  telemetry: 'iotfn.telemetry',
  /** Device lifecycle and status events, routing key = event name (`device.created`, …). */
  events: 'iotfn.events',
  /** Where triggers send events that cannot be processed, keeping their routing key. */
  deadLetter: 'iotfn.dead-letter',
} as const;

/** The durable queue of each event-triggered function, and where its dead letters collect. */
export const queues = {
  ingest: 'iotfn.ingest',
  purgeDeviceTelemetry: 'iotfn.monitoring.device-deleted',
  /** What the MQTT edge acts on (broker accounts, configuration, commands), one queue per bridge group. */
  deviceEdge: (group: string) => `iotfn.devices.edge.${group}`,
  deadLetters: 'iotfn.dead-letters',
} as const;

export const deviceEvents = [
  'device.created',
  'device.updated',
  'device.deleted',
  'device.token_rotated',
  'device.status',
  /** The owner set a new desired configuration (data: deviceId, ownerId, version, config, updatedAt). */
  'device.config.updated',
  /** The device reported its state (data: deviceId, ownerId, version, state, reportedAt). */
  'device.state.reported',
] as const;
export type DeviceEventName = (typeof deviceEvents)[number];

/** A command to a device changed state (queued, sent, succeeded, failed, expired); data: deviceId, ownerId, command. */
export const commandEvents = ['command.updated'] as const;
export type CommandEventName = (typeof commandEvents)[number];

/** A login session ended (logout, or revoked when a used refresh token came back); the relay closes its sockets. */
export const sessionEvents = ['session.ended'] as const;
export type SessionEventName = (typeof sessionEvents)[number];

/** Alerts opening and clearing (monitoring domain), routing key = event name; the relay binds `alert.*`. */
export const alertEvents = ['alert.opened', 'alert.cleared'] as const;
export type AlertEventName = (typeof alertEvents)[number];

export const eventTypes = {
  telemetry: 'iotfn.telemetry',
  device: (name: DeviceEventName) => `iotfn.${name}`,
  alert: (name: AlertEventName) => `iotfn.${name}`,
  command: (name: CommandEventName) => `iotfn.${name}`,
  session: (name: SessionEventName) => `iotfn.${name}`,
} as const;

export const telemetryRoutingKey = (deviceId: string) => `telemetry.${deviceId}`;
/** Batches of many devices' telemetry (shared/messages.ts TelemetryBatchData); `telemetry.*` and `telemetry.#` take them too. */
export const telemetryBatchRoutingKey = 'telemetry.batch';

export async function declareTopology(bus: Bus): Promise<void> {
  await bus.declareExchange(exchanges.telemetry, 'topic');
  await bus.declareExchange(exchanges.events, 'topic');
  await bus.declareExchange(exchanges.deadLetter, 'topic');
  await bus.declareQueue({ name: queues.deadLetters, durable: true, bindings: [{ exchange: exchanges.deadLetter, pattern: '#' }] });
}
