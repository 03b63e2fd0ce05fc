/**
 * Before the agent sends its device token anywhere, it asks the platform's public `GET /info` (no token) whether
 * --url is an iotfn platform, and where it takes telemetry. Something else answering there (another service, a
 * mistyped port) stops the agent with a message naming --url, and is never handed the token; an outage is only an
 * outage: the agent buffers, and asks again before its next send.
 *
 *   const platform = platformCheck('http://localhost:8080', 10_000, (reason) => stop(reason));
 *   const { version, telemetry } = await platform.confirm();   // remembered once answered
 */
import { z } from 'zod';
import { answerAs, DeviceApiError, reachPlatform } from './device-api.ts';

/** What the agent needs of GET /info (functions/devices/platform-info.ts answers more). */
const PlatformInfo = z.object({
  version: z.string(),
  telemetry: z.object({ http: z.string().startsWith('/') }),
});
export type PlatformInfo = z.output<typeof PlatformInfo>;

/** --url answers, but not as an iotfn platform: asking again will not help. */
export class NotAPlatform extends Error {
  override name = 'NotAPlatform';
}

export interface PlatformCheck {
  /**
   * The platform's answer to GET /info. Rejects with a transient DeviceApiError while it cannot be reached (the
   * next call asks again), and with NotAPlatform (after calling `onNotAPlatform`) when something else answers.
   */
  confirm(): Promise<PlatformInfo>;
}

export function platformCheck(baseUrl: string, timeoutMs: number, onNotAPlatform: (reason: string) => void): PlatformCheck {
  const base = baseUrl.replace(/\/+$/, '');
  let known: Promise<PlatformInfo> | undefined;

  async function ask(): Promise<PlatformInfo> {
    // No token: /info is public, and --url is not known to be the platform yet.
    const { status, text } = await reachPlatform('GET', `${base}/info`, {}, timeoutMs);
    const transient = new DeviceApiError(`GET ${base}/info answered ${status}`, status, `http ${status}`);
    if (transient.transient) throw transient;
    const info = status === 200 ? answerAs(PlatformInfo, text) : undefined;
    if (info) return info;
    const reason = `${base} is not an iotfn platform (GET /info answered ${status}${status === 200 ? ' without the version and telemetry path of one' : ''}): check --url`;
    onNotAPlatform(reason);
    throw new NotAPlatform(reason);
  }

  return {
    confirm() {
      known ??= ask().catch((error: unknown) => {
        // An outage is asked about again; an answer that is not the platform's stays the answer.
        if (!(error instanceof NotAPlatform)) known = undefined;
        throw error;
      });
      return known;
    },
  };
}
