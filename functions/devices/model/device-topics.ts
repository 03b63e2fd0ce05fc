/**
 * The MQTT topics of a device: the one list both brokers enforce (aedes in `npm start`, Mosquitto's
 * dynamic-security roles in production), the bridge subscribes to and the documentation shows.
 *
 * Everything lives under the device's own id; a device may publish and subscribe to nothing else:
 *   publish   devices/{id}/telemetry                   telemetry, as `POST /telemetry`
 *             devices/{id}/state                       reported state `{version?, state}`
 *             devices/{id}/commands/{commandId}/result `{status: "succeeded" | "failed", result?}`
 *   subscribe devices/{id}/config                      desired configuration `{version, config}` (retained)
 *             devices/{id}/commands                    `{id, name, params, expiresAt}` (QoS 1)
 */

/** What a device sends, by topic. */
export type DeviceMessageKind = 'telemetry' | 'state' | 'command-result';

export const deviceTopics = {
  telemetry: (deviceId: string) => `devices/${deviceId}/telemetry`,
  state: (deviceId: string) => `devices/${deviceId}/state`,
  commandResult: (deviceId: string, commandId: string) => `devices/${deviceId}/commands/${commandId}/result`,
  config: (deviceId: string) => `devices/${deviceId}/config`,
  commands: (deviceId: string) => `devices/${deviceId}/commands`,
} as const;

/** Topic filters a device may publish to (MQTT wildcards), for broker permissions. */
export function devicePublishFilters(deviceId: string): string[] {
  return [deviceTopics.telemetry(deviceId), deviceTopics.state(deviceId), deviceTopics.commandResult(deviceId, '+')];
}

/** Topics a device may subscribe to: exactly these, no wildcards and no shared subscriptions. */
export function deviceSubscribeTopics(deviceId: string): string[] {
  return [deviceTopics.config(deviceId), deviceTopics.commands(deviceId)];
}

/** What the platform's bridge subscribes to (each in its shared subscription group): every device's uplink. */
export const uplinkTopicFilters: Record<DeviceMessageKind, string> = {
  telemetry: deviceTopics.telemetry('+'),
  state: deviceTopics.state('+'),
  'command-result': deviceTopics.commandResult('+', '+'),
};

const uuid = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const uplinkPattern = new RegExp(`^devices/(${uuid})/(?:(telemetry)|(state)|commands/(${uuid})/result)$`, 'i');

export interface DeviceUplink {
  deviceId: string;
  kind: DeviceMessageKind;
  /** For a command result: the command it answers. */
  commandId?: string;
}

/** Reads a topic a device published to; undefined for anything that is not one of the uplink topics. */
export function parseUplinkTopic(topic: string): DeviceUplink | undefined {
  const match = uplinkPattern.exec(topic);
  if (!match) return undefined;
  const deviceId = match[1]!.toLowerCase();
  if (match[2]) return { deviceId, kind: 'telemetry' };
  if (match[3]) return { deviceId, kind: 'state' };
  return { deviceId, kind: 'command-result', commandId: match[4]!.toLowerCase() };
}

/**
 * The largest MQTT packet a device may send: what `POST /telemetry` accepts, plus room for the topic and
 * properties. Both brokers close a connection that announces more, before buffering it.
 */
export function mqttMaxPacketBytes(bodyLimitBytes: number): number {
  return bodyLimitBytes + 16 * 1024;
}
