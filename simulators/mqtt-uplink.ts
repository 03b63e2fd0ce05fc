/**
 * A simulated device sending over MQTT on its own connection, QoS 1, to `devices/{id}/telemetry`.
 *
 * Both brokers take the same device protocol (see README, "Devices and telemetry"): username = device id,
 * password = token, checked at CONNECT. They differ in the protocol version and in what a PUBACK means:
 * - `embedded` (the platform's aedes broker, MQTT 3.1.1): the PUBACK comes after the platform published the point.
 * - `mosquitto` (MQTT 5): the PUBACK is Mosquitto's, so "acked" means the broker has the point.
 *
 * The production broker learns of a new device from its `device.created` event, moments after the device
 * was made: a refused CONNECT is tried again for a few seconds, as device firmware does.
 */
import mqtt from 'mqtt';
import type { DeviceCredentials } from './device-credentials.ts';
import { UplinkError, within, type DeviceUplink, type TelemetryPoint } from './uplink.ts';

export type BrokerKind = 'embedded' | 'mosquitto';

export function mqttUplink(url: string, broker: BrokerKind, timeoutMs = 10_000): (device: DeviceCredentials) => Promise<DeviceUplink> {
  return async (device) => {
    const options = {
      protocolVersion: broker === 'embedded' ? (4 as const) : (5 as const),
      username: device.id,
      password: device.token,
      clientId: device.id,
      connectTimeout: timeoutMs,
      // A dropped connection comes back by itself; unacknowledged QoS 1 messages are sent again then.
      reconnectPeriod: 1000,
    };
    let client: mqtt.MqttClient | undefined;
    const deadline = Date.now() + Math.min(timeoutMs, 5000);
    while (!client) {
      try {
        client = await mqtt.connectAsync(url, options, false);
      } catch (error) {
        const refused = /not authori[sz]ed|bad user ?name or password/i.test((error as Error).message);
        if (!refused || Date.now() > deadline) throw new UplinkError('connect', `MQTT connect to ${url} as ${device.id} failed: ${(error as Error).message}`, { cause: error });
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
    // Without a listener an 'error' event would throw; failures show up on the publishes instead.
    client.on('error', () => undefined);
    const topic = `devices/${device.id}/telemetry`;
    return {
      async send(point: TelemetryPoint) {
        try {
          await within(client!.publishAsync(topic, JSON.stringify(point), { qos: 1 }), timeoutMs, 'PUBACK');
        } catch (error) {
          if (error instanceof UplinkError) throw error;
          throw new UplinkError('refused', `publish refused: ${(error as Error).message}`, { cause: error });
        }
      },
      async close() {
        // Not forced: messages still waiting for their PUBACK get it before the connection goes.
        await within(client!.endAsync(), timeoutMs, 'MQTT disconnect').catch(() => client!.endAsync(true));
      },
    };
  };
}
