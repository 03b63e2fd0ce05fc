/**
 * One message a device published over MQTT, whichever broker it came through. The broker has already
 * authenticated the device (username = device id, password = token) and held it to its own topics; here the
 * topic is checked once more against the device, the payload is parsed, and it takes the same path as the
 * HTTP routes: telemetry to the bus, state and command results to the devices table.
 *
 * Bad messages are counted and logged, never thrown, and nothing of them is stored: a broker connection must
 * outlive any one device's mistakes.
 */
import type { Deps } from '../../../shared/platform.ts';
import { Problem } from '../../../shared/problem.ts';
import { mqttMessages } from '../../../shared/metrics.ts';
import type { DeviceIdentity } from './device-auth.ts';
import { parseUplinkTopic } from './device-topics.ts';
import { parseTelemetry, publishTelemetry } from './telemetry.ts';
import type { StoredPoint } from '../../../shared/messages.ts';
import { reportState } from './device-config.ts';
import { completeCommand } from './device-commands.ts';

export type UplinkOutcome = 'accepted' | 'malformed' | 'unauthorized' | 'not-found' | 'conflict' | 'unavailable';

/** MQTT 5 reason codes for a PUBACK, where the broker lets the platform give one. */
export const uplinkReasonCodes: Record<UplinkOutcome, number> = {
  accepted: 0,
  malformed: 0x99, // payload format invalid
  unauthorized: 0x87, // not authorised
  'not-found': 0x90, // topic name invalid: no such command
  conflict: 0x83, // implementation specific error: the command is already over
  unavailable: 0x80, // unspecified error: try again
};

function outcomeOf(error: unknown): UplinkOutcome {
  if (!(error instanceof Problem)) return 'unavailable';
  if (error.status === 404) return 'not-found';
  if (error.status === 409) return 'conflict';
  if (error.status === 401 || error.status === 403) return 'unauthorized';
  return error.status < 500 ? 'malformed' : 'unavailable';
}

/** Where a device's parsed telemetry goes: straight to the bus, or through the bridge's batcher. */
export type TelemetrySink = (device: DeviceIdentity, points: StoredPoint[], bytes: number) => Promise<unknown>;

export async function handleDeviceUplink(
  deps: Deps,
  device: DeviceIdentity,
  topic: string,
  payload: Buffer,
  sendTelemetry: TelemetrySink = (d, points) => publishTelemetry(deps, d, points, 'mqtt'),
): Promise<UplinkOutcome> {
  const uplink = parseUplinkTopic(topic);
  const kind = uplink?.kind ?? 'unknown';
  const outcome = await (async (): Promise<UplinkOutcome> => {
    if (!uplink || uplink.deviceId !== device.id) {
      deps.log.warn({ topic, deviceId: device.id }, 'mqtt message on a topic that is not the device\'s own; dropped');
      return 'unauthorized';
    }
    if (device.status !== 'active') return 'unauthorized';
    let body: unknown;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch {
      deps.log.warn({ topic, bytes: payload.length }, 'mqtt payload is not JSON; dropped');
      return 'malformed';
    }
    try {
      if (uplink.kind === 'telemetry') await sendTelemetry(device, parseTelemetry(body, deps.config.TELEMETRY_MAX_POINTS, { maxFutureSkewMs: deps.config.TELEMETRY_MAX_FUTURE_SKEW_SECONDS * 1000 }), payload.length);
      else if (uplink.kind === 'state') await reportState(deps, device, body);
      else await completeCommand(deps, device, uplink.commandId!, body);
      return 'accepted';
    } catch (error) {
      const refused = outcomeOf(error);
      if (refused === 'unavailable') deps.log.error({ err: error, topic }, 'mqtt message could not be handled');
      else deps.log.warn({ topic, reason: (error as Error).message }, `mqtt ${uplink.kind} message refused (${refused})`);
      return refused;
    }
  })();
  mqttMessages.inc({ kind, result: outcome });
  return outcome;
}
