/**
 * A simulated device sending over HTTP: `POST /telemetry` with `Authorization: Device <token>`; a 202
 * means RabbitMQ confirmed the point. Node's fetch keeps connections alive, so a device reuses its socket.
 */
import type { DeviceCredentials } from './device-credentials.ts';
import { UplinkError, type DeviceUplink, type TelemetryPoint } from './uplink.ts';

export function httpUplink(baseUrl: string, timeoutMs = 10_000): (device: DeviceCredentials) => Promise<DeviceUplink> {
  return async (device) => ({
    async send(point: TelemetryPoint) {
      let response: Response;
      try {
        response = await fetch(`${baseUrl}/telemetry`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Device ${device.token}` },
          body: JSON.stringify(point),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (error) {
        const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
        throw new UplinkError(timedOut ? 'timeout' : 'network', `POST /telemetry failed: ${(error as Error).message}`, { cause: error });
      }
      // Read the body either way, so the connection goes back to the pool.
      const text = await response.text().catch(() => '');
      if (response.status !== 202) throw new UplinkError(`http ${response.status}`, `POST /telemetry answered ${response.status}: ${text.slice(0, 200)}`);
    },
    async close() {},
  });
}
