/**
 * A simulated device over MQTT on its own connection: telemetry, state and command results published QoS 1 to
 * `devices/{id}/telemetry`, `devices/{id}/state` and `devices/{id}/commands/{commandId}/result`; configuration
 * and commands taken from `devices/{id}/config` (retained: it comes at once on subscribing, and again after a
 * reconnect, when the client subscribes anew) and `devices/{id}/commands`, on the same connection (the client
 * id is the device id on both brokers, so a second connection would take over the first).
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
import type { z } from 'zod';
import { DesiredConfig, DeviceCommand } from '../end-devices/device-api.ts';
import type { DeviceCredentials } from './device-credentials.ts';
import { UplinkError, within, type DeviceUplink, type TelemetryPoint } from './uplink.ts';

/** A message's JSON by `schema`, or undefined when it is not. */
function parseMessage<S extends z.ZodType>(schema: S, payload: Buffer): z.output<S> | undefined {
  try {
    const parsed = schema.safeParse(JSON.parse(payload.toString('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

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
    const topics = {
      telemetry: `devices/${device.id}/telemetry`,
      state: `devices/${device.id}/state`,
      result: (commandId: string) => `devices/${device.id}/commands/${commandId}/result`,
      config: `devices/${device.id}/config`,
      commands: `devices/${device.id}/commands`,
    };
    const publish = async (topic: string, payload: unknown) => {
      try {
        await within(client!.publishAsync(topic, JSON.stringify(payload), { qos: 1 }), timeoutMs, 'PUBACK');
      } catch (error) {
        if (error instanceof UplinkError) throw error;
        throw new UplinkError('refused', `publish refused: ${(error as Error).message}`, { cause: error });
      }
    };
    return {
      send: (point: TelemetryPoint) => publish(topics.telemetry, point),
      async listen(downlink) {
        client!.on('message', (topic, payload) => {
          if (topic === topics.config) {
            // An empty retained message: the device has no configuration (any more).
            const desired = payload.length === 0 ? null : parseMessage(DesiredConfig, payload);
            if (desired === undefined) return downlink.error(new UplinkError('bad config', `${topic}: not {version, config}: ${payload.toString('utf8').slice(0, 200)}`));
            void downlink.config(desired).catch(() => undefined);
          } else if (topic === topics.commands) {
            const command = parseMessage(DeviceCommand, payload);
            if (!command) return downlink.error(new UplinkError('bad command', `${topic}: not {id, name, params, expiresAt}: ${payload.toString('utf8').slice(0, 200)}`));
            void downlink.command(command).catch(() => undefined);
          }
        });
        let granted: mqtt.ISubscriptionGrant[];
        try {
          granted = await within(client!.subscribeAsync([topics.config, topics.commands], { qos: 1 }), timeoutMs, 'SUBACK');
        } catch (error) {
          if (error instanceof UplinkError) throw error;
          throw new UplinkError('subscribe', `subscribe refused: ${(error as Error).message}`, { cause: error });
        }
        // 0x80 (MQTT 3.1.1) and the MQTT 5 reason codes from 0x80 up are refusals.
        const refused = granted.filter((g) => g.qos >= 0x80);
        if (refused.length > 0) throw new UplinkError('subscribe', `subscribe refused: ${refused.map((g) => `${g.topic} (${g.qos})`).join(', ')}`);
      },
      reportState: (report) => publish(topics.state, report),
      answer: (commandId, result) => publish(topics.result(commandId), result),
      async close() {
        // Not forced: messages still waiting for their PUBACK get it before the connection goes.
        await within(client!.endAsync(), timeoutMs, 'MQTT disconnect').catch(() => client!.endAsync(true));
      },
    };
  };
}
