/**
 * One MQTT telemetry message, whichever broker it came through: the topic names the device
 * (`devices/{deviceId}/telemetry`), the token proves it, and the payload takes the same checks and the same
 * path to the bus as `POST /telemetry`. Bad messages are counted and logged, never thrown: a broker
 * connection must outlive any one device's mistakes.
 */
import type { Deps } from '../../../shared/platform.ts';
import { Problem } from '../../../shared/problem.ts';
import { mqttMessages } from '../../../shared/metrics.ts';
import { authenticateDevice, type DeviceIdentity } from './device-auth.ts';
import { parseTelemetry, publishTelemetry } from './telemetry.ts';

export type MqttOutcome = 'published' | 'malformed' | 'unauthorized' | 'too-many-points' | 'unavailable';

const topicPattern = /^devices\/([0-9a-f-]{36})\/telemetry$/i;

export function deviceIdOfTopic(topic: string): string | undefined {
  return topicPattern.exec(topic)?.[1]?.toLowerCase();
}

/** Authenticates the token and checks it belongs to the device the topic names. */
export async function deviceForTopic(deps: Pick<Deps, 'cache' | 'db' | 'config'>, topic: string, token: string | undefined): Promise<DeviceIdentity> {
  const topicDevice = deviceIdOfTopic(topic);
  if (!topicDevice) throw new Problem('forbidden', `Devices publish telemetry on devices/{deviceId}/telemetry, not ${topic}`);
  if (!token) throw new Problem('unauthenticated', 'No device token came with the message');
  const device = await authenticateDevice(deps, token);
  if (device.id !== topicDevice) throw new Problem('forbidden', `The token is not device ${topicDevice}'s`);
  return device;
}

export async function handleMqttTelemetry(deps: Deps, topic: string, payload: Buffer, token: string | undefined): Promise<MqttOutcome> {
  const outcome = await (async (): Promise<MqttOutcome> => {
    let device: DeviceIdentity;
    try {
      device = await deviceForTopic(deps, topic, token);
    } catch (error) {
      if (error instanceof Problem && error.status < 500) {
        deps.log.warn({ topic, reason: error.message }, 'mqtt message refused');
        return 'unauthorized';
      }
      deps.log.error({ err: error, topic }, 'mqtt device lookup failed');
      return 'unavailable';
    }
    let body: unknown;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch {
      deps.log.warn({ topic, bytes: payload.length }, 'mqtt payload is not JSON; dropped');
      return 'malformed';
    }
    try {
      const points = parseTelemetry(body, deps.config.TELEMETRY_MAX_POINTS);
      await publishTelemetry(deps, device, points, 'mqtt');
      return 'published';
    } catch (error) {
      if (error instanceof Problem && error.kind === 'too-many-points') return 'too-many-points';
      if (error instanceof Problem && error.status < 500) {
        deps.log.warn({ topic, reason: error.message }, 'mqtt payload is not valid telemetry; dropped');
        return 'malformed';
      }
      deps.log.error({ err: error, topic }, 'mqtt telemetry could not be published');
      return 'unavailable';
    }
  })();
  mqttMessages.inc({ result: outcome });
  return outcome;
}
