/**
 * The device side of the platform's HTTP protocol (README, "Configuration, state and commands"), with
 * `Authorization: Device <token>`: read the desired configuration (conditional, optionally long-polling), report
 * state, take pending commands (optionally long-polling) and answer them. The agent and the simulator's HTTP
 * devices both speak it through this file.
 *
 *   const api = deviceApi('http://localhost:8080', 'dt_…');
 *   const desired = await api.config(3, 25);        // waits up to 25 s for a version other than 3; undefined if none came
 *   await api.reportState({ version: desired.version, state: { interval: 10 } });
 *
 * Every failure is a DeviceApiError, which says what to do about it: `tokenRefused` (401/403, the token will
 * never work: stop), `transient` (unreachable, timed out, 5xx, 429: try again later), or neither (this request
 * will not work as it is).
 */
import { z } from 'zod';
import { reach, Unreachable } from '../shared/http/reach.ts';

export const DesiredConfig = z.object({ version: z.number().int().min(0), config: z.record(z.string(), z.unknown()) });
export type DesiredConfig = z.output<typeof DesiredConfig>;

export const DeviceCommand = z.object({ id: z.string().min(1), name: z.string(), params: z.record(z.string(), z.unknown()).default({}), expiresAt: z.string() });
export type DeviceCommand = z.output<typeof DeviceCommand>;

const PendingCommands = z.object({ commands: z.array(DeviceCommand) });

export interface CommandResult {
  status: 'succeeded' | 'failed';
  result?: unknown;
}

export interface StateReport {
  /** The configuration version the device applied. */
  version?: number;
  state: Record<string, unknown>;
}

export class DeviceApiError extends Error {
  override name = 'DeviceApiError';
  constructor(
    message: string,
    /** The HTTP status; undefined when no usable answer came. */
    readonly status: number | undefined,
    /** How a failure is counted: "http 503", "timeout", "network", "bad answer". */
    readonly kind: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** The platform refuses this token (unknown, rotated, or its device disabled): asking again will not help. */
  get tokenRefused(): boolean {
    return this.status === 401 || this.status === 403;
  }

  /** Unreachable, too slow, or overloaded: worth trying again later. */
  get transient(): boolean {
    return this.status === undefined || this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

/**
 * One request to the platform with a bounded wait; the answer's text read either way (so the connection goes back
 * to the pool). Unreachable, or too slow, is a transient DeviceApiError naming the URL
 * ("POST cannot reach http://…/telemetry: nothing listens there: is the server running? (ECONNREFUSED)"); an abort
 * of ours comes through as it was.
 */
export async function reachPlatform(method: string, url: string, init: RequestInit, limitMs: number): Promise<{ status: number; text: string }> {
  let response: Response;
  try {
    response = await reach(url, { ...init, method }, limitMs);
  } catch (error) {
    if (error instanceof Unreachable) throw new DeviceApiError(`${method} ${error.message}`, undefined, error.timedOut ? 'timeout' : 'network', { cause: error });
    throw new DeviceApiError(`${method} ${url}: ${(error as Error).message}`, undefined, 'network', { cause: error });
  }
  return { status: response.status, text: await response.text().catch(() => '') };
}

/** An answer's text as JSON matching `schema`; undefined when it is not JSON or not that shape. */
export function answerAs<S extends z.ZodType>(schema: S, text: string): z.output<S> | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = schema.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}

/**
 * `ready`, when given, is awaited before every request (the agent's GET /info check, platform-check.ts): the token
 * goes nowhere until it resolves, and its failure is this request's.
 */
export function deviceApi(baseUrl: string, token: string, timeoutMs = 10_000, ready?: () => Promise<unknown>) {
  const base = baseUrl.replace(/\/+$/, '');

  async function request(method: string, path: string, options: { body?: unknown; headers?: Record<string, string>; waitSeconds?: number; signal?: AbortSignal | undefined } = {}) {
    await ready?.().catch((error: unknown) => {
      throw error instanceof DeviceApiError ? error : new DeviceApiError(`${method} ${path}: ${(error as Error).message}`, undefined, 'not the platform', { cause: error });
    });
    const headers: Record<string, string> = { authorization: `Device ${token}`, ...options.headers };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    // A long poll may take its whole wait before the platform starts answering.
    const limitMs = timeoutMs + (options.waitSeconds ?? 0) * 1000;
    const answer = await reachPlatform(method, base + path, { headers, body: options.body === undefined ? undefined : JSON.stringify(options.body), signal: options.signal }, limitMs);
    if (answer.status >= 400) throw new DeviceApiError(`${method} ${path} answered ${answer.status}: ${answer.text.slice(0, 300)}`.trim(), answer.status, `http ${answer.status}`);
    return answer;
  }

  function parse<S extends z.ZodType>(schema: S, text: string, what: string): z.output<S> {
    const parsed = answerAs(schema, text);
    if (parsed === undefined) throw new DeviceApiError(`${what}: unexpected answer ${text.slice(0, 200)}`, undefined, 'bad answer');
    return parsed;
  }

  return {
    /**
     * GET /device/config: the desired configuration (version 0, `{}` when the owner set none). With `known`,
     * undefined when that is still the version, after waiting up to `waitSeconds` (30 at most) for another.
     */
    async config(known?: number, waitSeconds = 0, signal?: AbortSignal): Promise<DesiredConfig | undefined> {
      const wait = known === undefined ? 0 : Math.min(30, waitSeconds);
      const answer = await request('GET', `/device/config${wait > 0 ? `?wait=${wait}` : ''}`, {
        headers: known === undefined ? {} : { 'if-none-match': `"${known}"` },
        waitSeconds: wait,
        signal,
      });
      return answer.status === 304 ? undefined : parse(DesiredConfig, answer.text, 'GET /device/config');
    },

    /** PUT /device/state. */
    async reportState(report: StateReport, signal?: AbortSignal): Promise<void> {
      await request('PUT', '/device/state', { body: report, signal });
    },

    /** GET /device/commands: the pending commands, oldest first, after waiting up to `waitSeconds` for one. */
    async commands(waitSeconds = 0, signal?: AbortSignal): Promise<DeviceCommand[]> {
      const wait = Math.min(30, waitSeconds);
      const answer = await request('GET', `/device/commands${wait > 0 ? `?wait=${wait}` : ''}`, { waitSeconds: wait, signal });
      return parse(PendingCommands, answer.text, 'GET /device/commands').commands;
    },

    /** POST /device/commands/{id}/result. False when the platform takes no answer any more (expired, answered, unknown). */
    async answer(commandId: string, result: CommandResult, signal?: AbortSignal): Promise<boolean> {
      try {
        await request('POST', `/device/commands/${encodeURIComponent(commandId)}/result`, { body: result, signal });
        return true;
      } catch (error) {
        if (error instanceof DeviceApiError && (error.status === 404 || error.status === 409)) return false;
        throw error;
      }
    },
  };
}

export type DeviceApi = ReturnType<typeof deviceApi>;
