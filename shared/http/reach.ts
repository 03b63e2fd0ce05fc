/**
 * fetch for the command-line clients (the simulator, the agent), failing the way a person can act on: Node's fetch
 * rejects an unreachable platform with a bare `TypeError: fetch failed` and hides why in `cause`. Here it is one
 * line naming the URL and the reason.
 *
 *   const response = await reach(`${baseUrl}/auth/login`, { method: 'POST', body }, 30_000);
 *   // Unreachable: cannot reach http://127.0.0.1:8080/auth/login: nothing listens there: is the server running? (ECONNREFUSED)
 */
import { connectionFailures } from '../connection-failures.ts';

export class Unreachable extends Error {
  override name = 'Unreachable';
  constructor(
    readonly url: string,
    readonly reason: string,
    readonly timedOut: boolean,
    options?: ErrorOptions,
  ) {
    super(`cannot reach ${url}: ${reason}`, options);
  }
}


/** Why a fetch of `url` failed, as an Unreachable; `timeoutMs` is what its timeout signal allowed. */
export function unreachable(url: string, error: unknown, timedOut: boolean, timeoutMs?: number): Unreachable {
  if (timedOut) return new Unreachable(url, `no answer within ${timeoutMs} ms`, true, { cause: error });
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code;
  const reason = code ? `${connectionFailures[code] ?? cause?.message ?? 'the connection failed'} (${code})` : (cause?.message ?? (error as Error).message);
  return new Unreachable(url, reason, false, { cause: error });
}

export async function reach(url: string, init: RequestInit = {}, timeoutMs = 30_000): Promise<Response> {
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    return await fetch(url, { ...init, signal: init.signal ? AbortSignal.any([timeout, init.signal]) : timeout });
  } catch (error) {
    // A caller's own abort is theirs to handle, as fetch reports it.
    if (init.signal?.aborted) throw error;
    throw unreachable(url, error, timeout.aborted, timeoutMs);
  }
}
