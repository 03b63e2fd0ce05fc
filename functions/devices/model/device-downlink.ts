/**
 * What reaches devices through the MQTT broker, driven by the devices domain's events: the broker's account of
 * each device (created, rotated, disabled, deleted), the desired configuration (retained on
 * `devices/{id}/config`, so a device gets it the moment it subscribes) and commands (QoS 1 on
 * `devices/{id}/commands`).
 *
 * A command goes out when it is queued if its device is connected (or, where the broker cannot tell, was heard
 * from recently), and again, with every other command still pending, whenever the device comes back online or
 * reports its state (what a device should do after it connects): a device that was away misses nothing, and a device must therefore take a command id it has seen already as
 * done (commands are delivered at least once). A command is `sent` once the broker has it.
 */
import type { Deps } from '../../../shared/platform.ts';
import type { DeliveredMessage, Subscription } from '../../../shared/ports/bus.ts';
import { commandEvents, exchanges, queues } from '../../../shared/bus/topology.ts';
import { CommandData, dataOf, DeviceConfigData, DeviceStateData, DeviceStatusData, eventData } from '../../../shared/messages.ts';
import { deviceTopics } from './device-topics.ts';
import { desiredConfigOf } from './device-config.ts';
import { markCommandsSent, pendingCommands, toDeviceMessage } from './device-commands.ts';
import { lastSeenOf } from './presence.ts';

export type AccountChange = 'created' | 'rotated' | 'updated' | 'deleted';

/** The broker side of the downlink: the embedded broker and the bridge to Mosquitto each provide one. */
export interface DeviceBrokerLink {
  /** Publishes to a device topic; resolves once the broker has the message (QoS 1). */
  publish(topic: string, payload: Buffer, options: { retain: boolean }): Promise<void>;
  /** Brings the broker's account of a device in line with the devices table (or removes it). */
  syncAccount(deviceId: string, change: AccountChange): Promise<void>;
  /** Whether the device is connected now, where the broker can tell; undefined where it cannot. */
  isConnected?(deviceId: string): boolean | undefined;
}

const accountChanges = {
  'device.created': 'created',
  'device.token_rotated': 'rotated',
  'device.updated': 'updated',
  'device.deleted': 'deleted',
} as const satisfies Record<string, AccountChange>;
const isAccountEvent = (routingKey: string): routingKey is keyof typeof accountChanges => Object.hasOwn(accountChanges, routingKey);

/** Every routing key the downlink acts on, on the events exchange. */
export const downlinkEvents = [...Object.keys(accountChanges), 'device.status', 'device.config.updated', 'device.state.reported', ...commandEvents];

/** Publishes the device's current desired configuration, retained (an empty retained message clears it). */
export async function publishDesiredConfig(deps: Pick<Deps, 'db'>, link: DeviceBrokerLink, deviceId: string): Promise<void> {
  const desired = await desiredConfigOf(deps.db, deviceId);
  const payload = desired.version === 0 ? Buffer.alloc(0) : Buffer.from(JSON.stringify({ version: desired.version, config: desired.config }));
  await link.publish(deviceTopics.config(deviceId), payload, { retain: true });
}

/** Sends every pending command of a device (oldest first) and marks the queued ones sent. */
export async function sendPendingCommands(deps: Deps, link: DeviceBrokerLink, deviceId: string): Promise<number> {
  const pending = await pendingCommands(deps.db, deviceId);
  for (const command of pending) {
    await link.publish(deviceTopics.commands(deviceId), Buffer.from(JSON.stringify(toDeviceMessage(command))), { retain: false });
  }
  const queued = pending.filter((c) => c.status === 'queued').map((c) => c.id);
  if (queued.length) await markCommandsSent(deps, deviceId, queued);
  return pending.length;
}

async function isReachable(deps: Deps, link: DeviceBrokerLink, deviceId: string): Promise<boolean> {
  const connected = link.isConnected?.(deviceId);
  if (connected !== undefined) return connected;
  const seen = (await lastSeenOf(deps, [deviceId])).get(deviceId);
  return seen != null && Date.now() - seen <= deps.config.DEVICE_ONLINE_SECONDS * 1000;
}

async function handle(deps: Deps, link: DeviceBrokerLink, message: DeliveredMessage): Promise<void> {
  let event: unknown;
  try {
    event = JSON.parse(message.body.toString('utf8'));
  } catch {
    return;
  }
  const key = message.routingKey;
  if (isAccountEvent(key)) {
    const data = dataOf(eventData[key], event);
    if (!data) return;
    const change = accountChanges[key];
    await link.syncAccount(data.deviceId, change);
    if (change === 'deleted') await link.publish(deviceTopics.config(data.deviceId), Buffer.alloc(0), { retain: true });
  } else if (key === 'device.config.updated') {
    const data = dataOf(DeviceConfigData, event);
    if (data) await publishDesiredConfig(deps, link, data.deviceId);
  } else if (key === 'device.status') {
    // Back online: whatever is pending goes out.
    const data = dataOf(DeviceStatusData, event);
    if (data?.online) await sendPendingCommands(deps, link, data.deviceId);
  } else if (key === 'device.state.reported') {
    // Reporting its state is what a device does after it connects: whatever is pending goes out.
    const data = dataOf(DeviceStateData, event);
    if (data) await sendPendingCommands(deps, link, data.deviceId);
  } else if (key === 'command.updated') {
    const data = dataOf(CommandData, event);
    if (data?.command.status === 'queued' && (await isReachable(deps, link, data.deviceId))) await sendPendingCommands(deps, link, data.deviceId);
  }
}

/**
 * Consumes the devices domain's events for the broker. `durable` (the bridge): one queue shared by every
 * bridge of the group, so an account change made while no bridge ran is applied when one starts. The
 * embedded broker lives and dies with its process, so it takes a queue of its own that dies with it.
 */
export async function startDeviceDownlink(deps: Deps, link: DeviceBrokerLink, options: { durable: boolean }): Promise<Subscription & { queue: string }> {
  const queue = options.durable ? queues.deviceEdge(deps.config.MQTT_BRIDGE_GROUP) : `${queues.deviceEdge('embedded')}.${process.pid}.${Date.now()}`;
  await deps.bus.declareQueue({
    name: queue,
    durable: options.durable,
    exclusive: !options.durable,
    deadLetterExchange: exchanges.deadLetter,
    bindings: downlinkEvents.map((pattern) => ({ exchange: exchanges.events, pattern })),
  });
  const subscription = await deps.bus.consume(queue, (message) => handle(deps, link, message), { prefetch: 1 });
  return { queue, cancel: () => subscription.cancel() };
}
