/**
 * The MQTT bridge: a long-lived process of the devices domain between an MQTT broker (Mosquitto) and the bus.
 *
 * It subscribes to `$share/{group}/devices/+/telemetry`, so every bridge in the group (and every connection
 * of one bridge) gets a share of the messages, and sends each one through the same checks and publishing
 * path as `POST /telemetry`. Devices publish over MQTT 5 with their token in a `token` user property; the
 * bridge checks it against the device in the topic for every message, so an unknown device or a revoked
 * token is never published. The PUBACK goes back only after RabbitMQ has confirmed the message (at least
 * once); refused messages are acknowledged with a reason code (0x87 not authorised, 0x99 bad payload) so a
 * broken device cannot make the broker resend them forever.
 */
import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import type { Deps } from '../../shared/platform.ts';
import { handleMqttTelemetry, type MqttOutcome } from './model/mqtt-telemetry.ts';

const reasonCodes: Record<MqttOutcome, number> = {
  published: 0,
  malformed: 0x99,
  'too-many-points': 0x99,
  unauthorized: 0x87,
  unavailable: 0x80,
};

export const telemetryTopicFilter = 'devices/+/telemetry';

function tokenOf(packet: mqtt.IPublishPacket): string | undefined {
  const value = packet.properties?.userProperties?.token;
  return Array.isArray(value) ? value[0] : value;
}

export interface MqttBridge {
  stop(): Promise<void>;
}

export async function startMqttBridge(deps: Deps, url: string): Promise<MqttBridge> {
  const { MQTT_BRIDGE_CONNECTIONS: connections, MQTT_BRIDGE_GROUP: group } = deps.config;
  const instance = randomUUID().slice(0, 8);

  /** Retries while the bus is down, for a bounded time: the device keeps its message until the PUBACK. */
  async function handle(topic: string, payload: Buffer, packet: mqtt.IPublishPacket): Promise<number> {
    const deadline = Date.now() + 30_000;
    for (let wait = 100; ; wait = Math.min(wait * 2, 2000)) {
      const outcome = await handleMqttTelemetry(deps, topic, payload, tokenOf(packet));
      if (outcome !== 'unavailable' || Date.now() > deadline) return reasonCodes[outcome];
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  const clients: MqttClient[] = [];
  try {
    for (let i = 0; i < connections; i++) {
      const client = await mqtt.connectAsync(url, {
        protocolVersion: 5,
        clientId: `iotfn-bridge-${instance}-${i}`,
        connectTimeout: 5000,
        reconnectPeriod: 1000,
        customHandleAcks: (topic, payload, packet, done) => {
          handle(topic, payload, packet).then(
            (code) => done(code),
            () => done(0x80),
          );
        },
      });
      client.on('error', (error) => deps.log.warn({ err: error }, 'mqtt bridge connection error'));
      clients.push(client);
      await client.subscribeAsync(`$share/${group}/${telemetryTopicFilter}`, { qos: 1 });
    }
  } catch (error) {
    await Promise.allSettled(clients.map((c) => c.endAsync(true)));
    throw error;
  }
  deps.log.info({ group, connections }, 'mqtt bridge subscribed');
  return {
    async stop() {
      await Promise.allSettled(clients.map((c) => c.endAsync()));
    },
  };
}
