/**
 * A simulated device over HTTP: `POST /telemetry` with `Authorization: Device <token>`; a 202 means RabbitMQ
 * confirmed the point. Node's fetch keeps connections alive, so a device reuses its socket.
 *
 * Configuration and commands come by two long polls running beside the telemetry
 * (end-devices/http-downlink.ts: `GET /device/config?wait=25` with If-None-Match, `GET /device/commands?wait=25`);
 * state and answers go back with `PUT /device/state` and `POST /device/commands/{id}/result`. `close` aborts
 * the polls in flight.
 */
import { DeviceApiError, deviceApi } from '../end-devices/device-api.ts';
import { startHttpDownlink, type HttpDownlink } from '../end-devices/http-downlink.ts';
import type { DeviceCredentials } from './device-credentials.ts';
import { asUplinkError, UplinkError, type DeviceUplink, type TelemetryPoint } from './uplink.ts';

function uplinkError(error: unknown, what?: string): UplinkError {
  if (error instanceof DeviceApiError) return new UplinkError(what ? `${what} ${error.kind}` : error.kind, error.message, { cause: error });
  return asUplinkError(error, what);
}

export function httpUplink(baseUrl: string, timeoutMs = 10_000): (device: DeviceCredentials) => Promise<DeviceUplink> {
  return async (device) => {
    const api = deviceApi(baseUrl, device.token, timeoutMs);
    let downlink: HttpDownlink | undefined;
    return {
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
      async listen(handlers) {
        downlink = startHttpDownlink(
          api,
          // Version 0 is the platform's way of saying "no configuration".
          { config: (desired) => handlers.config(desired.version === 0 ? null : desired), command: (command) => handlers.command(command) },
          {
            onTokenRefused: (error) => handlers.error(uplinkError(error, 'listen')),
            onError: (poll, error) => {
              // A handler's own failures (a state report, an answer) were counted where they happened.
              if (!(error instanceof UplinkError)) handlers.error(uplinkError(error, poll));
            },
          },
        );
      },
      async reportState(report) {
        await api.reportState(report).catch((error: unknown) => {
          throw uplinkError(error);
        });
      },
      async answer(commandId, result) {
        await api.answer(commandId, result).catch((error: unknown) => {
          throw uplinkError(error);
        });
      },
      async close() {
        await downlink?.stop();
      },
    };
  };
}
