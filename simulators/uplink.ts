/**
 * How one simulated device sends a point to the platform, whatever the protocol: `send` resolves when the
 * platform (HTTP 202) or the broker (MQTT PUBACK) acknowledged the point, and rejects with an UplinkError
 * whose `kind` groups failures in the summary ("http 503", "timeout", "refused", …).
 */
import type { DeviceCredentials } from './device-credentials.ts';

export interface TelemetryPoint {
  ts: number;
  values: Record<string, number>;
}

export interface DeviceUplink {
  send(point: TelemetryPoint): Promise<void>;
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
