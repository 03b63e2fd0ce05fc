/**
 * How one simulated device talks to the platform, whatever the protocol: `send` resolves when the platform
 * (HTTP 202) or the broker (MQTT PUBACK) acknowledged the point, and rejects with an UplinkError whose `kind`
 * groups failures in the summary ("http 503", "timeout", "refused", …). `listen` starts taking the device's
 * configuration and commands (MQTT: its two topics, on the same connection; HTTP: long polls), handed to a
 * Downlink; `reportState` and `answer` go back the same way.
 */
import type { CommandResult, DesiredConfig, DeviceCommand, StateReport } from '../end-devices/device-api.ts';
import type { DeviceCredentials } from './device-credentials.ts';

export type { CommandResult, DesiredConfig, DeviceCommand, StateReport };

export interface TelemetryPoint {
  ts: number;
  values: Record<string, number>;
}

/** What the platform sends a device. Handlers settle without throwing; the transport awaits them. */
export interface Downlink {
  /** The desired configuration; null when the device has none. */
  config(desired: DesiredConfig | null): Promise<void>;
  command(command: DeviceCommand): Promise<void>;
  /** A failure while listening (an outage of a long poll, a message that is not JSON): counted, not fatal. */
  error(error: UplinkError): void;
}

export interface DeviceUplink {
  send(point: TelemetryPoint): Promise<void>;
  /** Starts taking configuration and commands; resolves once listening (MQTT: subscribed). */
  listen(downlink: Downlink): Promise<void>;
  reportState(report: StateReport): Promise<void>;
  /** Resolves once the answer is delivered (or the platform takes none any more: expired, already answered). */
  answer(commandId: string, result: CommandResult): Promise<void>;
  /** Stops listening and closes the connection. */
  close(): Promise<void>;
}

export type UplinkFactory = (device: DeviceCredentials) => Promise<DeviceUplink>;

export class UplinkError extends Error {
  override name = 'UplinkError';
  constructor(
    readonly kind: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** `error` as an UplinkError, its kind prefixed with what failed when `what` is given ("state timeout"). */
export function asUplinkError(error: unknown, what?: string): UplinkError {
  const kind = error instanceof UplinkError ? error.kind : 'unexpected';
  if (error instanceof UplinkError && !what) return error;
  return new UplinkError(what ? `${what} ${kind}` : kind, (error as Error).message, { cause: error });
}

/** Rejects with an UplinkError('timeout') when `promise` takes longer than `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new UplinkError('timeout', `${what}: no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
