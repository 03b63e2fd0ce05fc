/**
 * Sending the agent's points to the platform: `POST /telemetry` with `Authorization: Device <token>` and a
 * JSON array of `{ts, values}`, with a timeout. The answer decides what happens to the points:
 *
 *   accepted       202: the platform has them; the agent removes them from its buffer
 *   too-large      413: the batch is too big for this platform; the agent halves it and tries again
 *   rejected       400/422: the points themselves are invalid and always will be; the agent drops them
 *   token-refused  401/403: the token will never work (unknown, rotated, device disabled); the agent stops
 *   retry          anything else (unreachable, timeout, 5xx, 429): keep them, try later
 */
import type { TelemetryPoint } from './point-buffer.ts';
import type { PlatformCheck } from './platform-check.ts';

export type SendOutcome = { kind: 'accepted' } | { kind: 'too-large' | 'rejected' | 'token-refused' | 'retry'; reason: string };

export type TelemetrySender = (points: readonly TelemetryPoint[]) => Promise<SendOutcome>;

/**
 * With `platform`, the path comes from the platform's GET /info, asked before the first send (platform-check.ts):
 * until it has answered, points wait as they would for an outage.
 */
export function httpTelemetrySender(baseUrl: string, token: string, timeoutMs = 10_000, platform?: Pick<PlatformCheck, 'confirm'>): TelemetrySender {
  const base = baseUrl.replace(/\/+$/, '');
  return async (points) => {
    let path = '/telemetry';
    if (platform) {
      try {
        path = (await platform.confirm()).telemetry.http;
      } catch (error) {
        return { kind: 'retry', reason: (error as Error).message };
      }
    }
    let response: Response;
    try {
      response = await fetch(base + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Device ${token}` },
        body: JSON.stringify(points),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      // fetch says only "fetch failed"; the cause says why (ECONNREFUSED, ENOTFOUND, a blocked port).
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      return { kind: 'retry', reason: cause?.code ?? cause?.message ?? (error as Error).message };
    }
    const text = await response.text().catch(() => '');
    if (response.status === 202) return { kind: 'accepted' };
    const reason = `${response.status} ${text.slice(0, 300)}`.trim();
    if (response.status === 413) return { kind: 'too-large', reason };
    if (response.status === 400 || response.status === 422) return { kind: 'rejected', reason };
    if (response.status === 401 || response.status === 403) return { kind: 'token-refused', reason };
    return { kind: 'retry', reason };
  };
}
