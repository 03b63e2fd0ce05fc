/**
 * A simulated device sending over MQTT on its own connection, QoS 1, to `devices/{id}/telemetry`.
 *
 * The two brokers authenticate differently (see README, "Devices and telemetry"):
 * - `embedded` (the platform's aedes broker, MQTT 3.1.1): username = device id, password = token, checked at
 *   CONNECT; the PUBACK comes after the platform published the point.
 * - `mosquitto` (MQTT 5): the token travels in a `token` user property of every PUBLISH and the bridge checks
 *   it; the PUBACK is Mosquitto's, so "acked" means the broker has the point.
 */
import mqtt from 'mqtt';
import type { DeviceCredentials } from './device-credentials.ts';
import { UplinkError, within, type DeviceUplink, type TelemetryPoint } from './uplink.ts';

export type BrokerKind = 'embedded' | 'mosquitto';

export function mqttUplink(url: string, broker: BrokerKind, timeoutMs = 10_000): (device: DeviceCredentials) => Promise<DeviceUplink> {
  return async (device) => {
    const auth = broker === 'embedded' ? { protocolVersion: 4 as const, username: device.id, password: device.token } : { protocolVersion: 5 as const };
    let client: mqtt.MqttClient;
    try {
      client = await mqtt.connectAsync(url, {
        ...auth,
        clientId: `sim-${device.id}`,
        connectTimeout: timeoutMs,
        // A dropped connection comes back by itself; unacknowledged QoS 1 messages are sent again then.
        reconnectPeriod: 1000,
      });
    } catch (error) {
      throw new UplinkError('connect', `MQTT connect to ${url} as ${device.id} failed: ${(error as Error).message}`, { cause: error });
    }
    // Without a listener an 'error' event would throw; failures show up on the publishes instead.
    client.on('error', () => undefined);
    const topic = `devices/${device.id}/telemetry`;
    const properties = broker === 'mosquitto' ? { userProperties: { token: device.token } } : undefined;
    return {
      async send(point: TelemetryPoint) {
        try {
          await within(client.publishAsync(topic, JSON.stringify(point), { qos: 1, ...(properties ? { properties } : {}) }), timeoutMs, 'PUBACK');
        } catch (error) {
          if (error instanceof UplinkError) throw error;
          throw new UplinkError('refused', `publish refused: ${(error as Error).message}`, { cause: error });
        }
      },
      async close() {
        // Not forced: messages still waiting for their PUBACK get it before the connection goes.
        await within(client.endAsync(), timeoutMs, 'MQTT disconnect').catch(() => client.endAsync(true));
      },
    };
  };
}
