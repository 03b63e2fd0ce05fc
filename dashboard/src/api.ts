/**
 * The REST client: JSON in and out, the Bearer token on every call, and errors as `ApiError` carrying the
 * problem+json the platform answers (its `detail` and field `errors` are what the views show).
 *
 * A call that answers 401 refreshes the token pair once and is retried; if that fails too the session is
 * over and `onSignedOut` sends the user back to the login page. Refreshes are shared by every caller
 * (the REST calls and the socket): the platform revokes a session whose refresh token is used twice.
 */
import type { Command, CommandFields, CommandPage } from './commands-card.ts';
import type { DesiredConfig, DeviceConfigView } from './config-card.ts';
import { clearSession, loadSession, saveSession } from './session.ts';
import type {
  Alert,
  AlertRuleFields,
  Device,
  DevicePage,
  DeviceStatus,
  DeviceWithToken,
  Forecast,
  ProblemDetails,
  TelemetryItems,
  TokenPair,
} from './types.ts';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: ProblemDetails,
  ) {
    super(problem.detail ?? problem.title);
  }

  /** Field errors keyed by the field name (`body.email` → `email`). */
  fieldErrors(): Map<string, string> {
    const fields = new Map<string, string>();
    for (const error of this.problem.errors ?? []) {
      const field = error.path.replace(/^(body|query|params)\.?/, '') || error.path;
      if (!fields.has(field)) fields.set(field, error.message);
    }
    return fields;
  }
}

interface CallOptions {
  body?: unknown;
  /** Send the access token and refresh it on a 401 (every call but login, register and refresh). */
  auth?: boolean;
  /** Extra request headers (`if-match`). */
  headers?: Record<string, string>;
}

/** A history query: buckets (`interval` and `agg`) or raw points, paged with `limit` and `cursor`. */
export type TelemetryQuery = { keys?: string[]; from: number; to: number } & (
  | { interval: string; agg: string; limit?: undefined; cursor?: undefined }
  | { interval?: undefined; agg?: undefined; limit?: number; cursor?: string }
);

export class Api {
  private refreshing: Promise<boolean> | undefined;
  /** Called once the session cannot be renewed, with the email it was for. */
  onSignedOut: (email: string | undefined) => void = () => {};

  async register(email: string, password: string, name?: string): Promise<void> {
    await this.call('POST', '/auth/register', { body: { email, password, name: name || undefined }, auth: false });
  }

  async login(email: string, password: string): Promise<void> {
    const pair = await this.call<TokenPair>('POST', '/auth/login', { body: { email, password }, auth: false });
    saveSession(pair, email);
  }

  async logout(): Promise<void> {
    try {
      if (loadSession()) await this.call('POST', '/auth/logout');
    } finally {
      clearSession();
    }
  }

  listDevices(q: string): Promise<DevicePage> {
    const query = new URLSearchParams({ limit: '100', sort: 'name' });
    if (q.trim()) query.set('q', q.trim());
    return this.call('GET', `/devices?${query}`);
  }

  /**
   * One page of the whole fleet (no text search) narrowed by the search's own filters; `total` counts every
   * match exactly (`count=exact`: the overview's figures are counts, not estimates), so `limit: 1` is a count.
   */
  fleetPage(filters: { online?: boolean; type?: string; limit: number }): Promise<DevicePage> {
    const query = new URLSearchParams({ limit: String(filters.limit), sort: '-createdAt', count: 'exact' });
    if (filters.online !== undefined) query.set('online', String(filters.online));
    if (filters.type !== undefined) query.set('type', filters.type);
    return this.call('GET', `/devices?${query}`);
  }

  /** Open alerts of every device, newest first; at most `limit` (the API allows 500), `nextCursor` set when there are more. */
  openAlerts(limit: number): Promise<{ items: Alert[]; nextCursor: string | null }> {
    return this.call('GET', `/alerts?${new URLSearchParams({ state: 'open', limit: String(limit) })}`);
  }

  getDevice(id: string): Promise<Device> {
    return this.call('GET', `/devices/${encodeURIComponent(id)}`);
  }

  addDevice(fields: { name: string; type: string; tags?: string[] }): Promise<DeviceWithToken> {
    return this.call('POST', '/devices', { body: fields });
  }

  updateDevice(id: string, fields: { name?: string; type?: string; tags?: string[]; status?: DeviceStatus }): Promise<Device> {
    return this.call('PATCH', `/devices/${encodeURIComponent(id)}`, { body: fields });
  }

  async deleteDevice(id: string): Promise<void> {
    await this.call('DELETE', `/devices/${encodeURIComponent(id)}`);
  }

  rotateToken(id: string): Promise<DeviceWithToken> {
    return this.call('POST', `/devices/${encodeURIComponent(id)}/token`);
  }

  latestTelemetry(id: string): Promise<TelemetryItems> {
    return this.call('GET', `/devices/${encodeURIComponent(id)}/telemetry/latest`);
  }

  /** The device's alerts, newest first (open and cleared). */
  alerts(deviceId: string): Promise<{ items: Alert[] }> {
    return this.call('GET', `/alerts?${new URLSearchParams({ deviceId, limit: '50' })}`);
  }

  acknowledgeAlert(id: string): Promise<Alert> {
    return this.call('POST', `/alerts/${encodeURIComponent(id)}/ack`);
  }

  async addAlertRule(deviceId: string, rule: AlertRuleFields): Promise<void> {
    await this.call('POST', `/devices/${encodeURIComponent(deviceId)}/rules`, { body: rule });
  }

  /** The desired configuration, the state the device last reported, and whether they agree. */
  deviceConfig(deviceId: string): Promise<DeviceConfigView> {
    return this.call('GET', `/devices/${encodeURIComponent(deviceId)}/config`);
  }

  /** Saves `config` as the next version; with `ifMatch`, only while that is still the current one (412 otherwise). */
  setDeviceConfig(deviceId: string, config: Record<string, unknown>, ifMatch?: number): Promise<DesiredConfig & { updatedAt: string }> {
    const headers = ifMatch === undefined ? undefined : { 'if-match': `"${ifMatch}"` };
    return this.call('PUT', `/devices/${encodeURIComponent(deviceId)}/config`, { body: { config }, headers });
  }

  /** Queues a command to the device; it comes back `queued`. */
  async sendCommand(deviceId: string, fields: CommandFields): Promise<Command> {
    const answer = await this.call<{ command: Command }>('POST', `/devices/${encodeURIComponent(deviceId)}/commands`, { body: fields });
    return answer.command;
  }

  /** One page of the device's commands, newest first. */
  commands(deviceId: string, page: { limit: number; cursor?: string }): Promise<CommandPage> {
    const query = new URLSearchParams({ limit: String(page.limit) });
    if (page.cursor) query.set('cursor', page.cursor);
    return this.call('GET', `/devices/${encodeURIComponent(deviceId)}/commands?${query}`);
  }

  telemetry(id: string, q: TelemetryQuery): Promise<TelemetryItems> {
    const query = new URLSearchParams({ from: String(q.from), to: String(q.to) });
    // No keys means every key; numbers are what the dashboard charts, so it names them when it knows them.
    if (q.keys?.length) query.set('keys', q.keys.join(','));
    if (q.interval) {
      query.set('interval', q.interval);
      query.set('agg', q.agg);
    } else {
      if (q.limit) query.set('limit', String(q.limit));
      if (q.cursor) query.set('cursor', q.cursor);
    }
    return this.call('GET', `/devices/${encodeURIComponent(id)}/telemetry?${query}`);
  }

  forecast(id: string, q: { key: string; horizon: string; interval: string }): Promise<Forecast> {
    const query = new URLSearchParams({ key: q.key, horizon: q.horizon, interval: q.interval });
    return this.call('GET', `/devices/${encodeURIComponent(id)}/forecast?${query}`);
  }

  /**
   * Exchanges the refresh token for a new pair; true when it worked. Concurrent callers share one request,
   * since presenting the same refresh token twice would revoke the session.
   */
  refresh(): Promise<boolean> {
    this.refreshing ??= (async () => {
      const session = loadSession();
      if (!session) return false;
      try {
        const pair = await this.call<TokenPair>('POST', '/auth/refresh', { body: { refreshToken: session.refreshToken }, auth: false });
        saveSession(pair);
        return true;
      } catch {
        return false;
      }
    })().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  /** Ends the session locally and tells the app (the server side is already gone or unreachable). */
  signOut(): void {
    const email = loadSession()?.email;
    clearSession();
    this.onSignedOut(email);
  }

  private async call<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
    const auth = options.auth ?? true;
    const send = () => {
      const headers: Record<string, string> = { accept: 'application/json, application/problem+json', ...options.headers };
      const token = loadSession()?.accessToken;
      if (auth && token) headers.authorization = `Bearer ${token}`;
      if (options.body !== undefined) headers['content-type'] = 'application/json';
      return fetch(path, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
    };
    let response = await send();
    if (auth && response.status === 401) {
      if (!(await this.refresh())) {
        this.signOut();
        throw await toError(response);
      }
      response = await send();
      if (response.status === 401) {
        this.signOut();
        throw await toError(response);
      }
    }
    if (!response.ok) throw await toError(response);
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }
}

async function toError(response: Response): Promise<ApiError> {
  const text = await response.text().catch(() => '');
  let problem: ProblemDetails = { type: 'about:blank', title: response.statusText || 'Request failed', status: response.status };
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && 'title' in parsed) problem = { ...problem, ...(parsed as ProblemDetails) };
  } catch {
    // not problem+json (a proxy's error page, say): the status line is all we have
  }
  problem.detail ??= `${problem.title} (HTTP ${response.status})`;
  return new ApiError(response.status, problem);
}

/** The message to show for any failure: the problem's detail, or what the network said. */
export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof TypeError) return 'The platform could not be reached. Check your connection and try again.';
  return error instanceof Error ? error.message : String(error);
}
