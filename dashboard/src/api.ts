/**
 * The REST client: JSON in and out, the Bearer token on every call, and errors as `ApiError` carrying the
 * problem+json the platform answers (its `detail` and field `errors` are what the views show).
 *
 * A call that answers 401 refreshes the token pair once and is retried; if that fails too the session is
 * over and `onSignedOut` sends the user back to the login page. Refreshes are shared by every caller
 * (the REST calls and the socket): the platform revokes a session whose refresh token is used twice.
 */
import { apiRequest, type ApiInput, type ApiInputArgs, type ApiResponse, type ApiRoute } from '../../functions/api-routes.ts';
import { clearSession, loadSession, saveSession } from './session.ts';
import type {
  Alert,
  AlertRuleFields,
  Command,
  CommandFields,
  CommandPage,
  Device,
  DeviceConfigView,
  DevicePage,
  DeviceWithToken,
  Forecast,
  ProblemDetails,
  TelemetryItems,
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
  /** Send the access token and refresh it on a 401 (every call but login, register and refresh). */
  auth?: boolean;
  /** Extra request headers (`if-match`). */
  headers?: Record<string, string>;
}

/** How the values of a bucket are aggregated, as GET /devices/{id}/telemetry takes it. */
export type TelemetryAggregate = NonNullable<NonNullable<ApiInput<'GET /devices/{id}/telemetry'>['query']>['agg']>;

/** A history query: buckets (`interval` and `agg`) or raw points, paged with `limit` and `cursor`. */
export type TelemetryQuery = { keys?: string[]; from: number; to: number } & (
  | { interval: string; agg: TelemetryAggregate; limit?: undefined; cursor?: undefined }
  | { interval?: undefined; agg?: undefined; limit?: number; cursor?: string }
);

export class Api {
  private refreshing: Promise<boolean> | undefined;
  /** Called once the session cannot be renewed, with the email it was for. */
  onSignedOut: (email: string | undefined) => void = () => {};

  async register(email: string, password: string, name?: string): Promise<void> {
    await this.call('POST /auth/register', { body: { email, password, name: name || undefined } }, { auth: false });
  }

  async login(email: string, password: string): Promise<void> {
    const pair = await this.call('POST /auth/login', { body: { email, password } }, { auth: false });
    saveSession(pair, email);
  }

  async logout(): Promise<void> {
    try {
      if (loadSession()) await this.call('POST /auth/logout', {});
    } finally {
      clearSession();
    }
  }

  listDevices(q: string): Promise<DevicePage> {
    return this.call('GET /devices', { query: { limit: 100, sort: 'name', q: q.trim() || undefined } });
  }

  /**
   * One page of the whole fleet (no text search) narrowed by the search's own filters; `total` counts every
   * match exactly (`count=exact`: the overview's figures are counts, not estimates), so `limit: 1` is a count.
   */
  fleetPage(filters: { online?: boolean; type?: string; limit: number }): Promise<DevicePage> {
    const online = filters.online === undefined ? undefined : filters.online ? 'true' : 'false';
    return this.call('GET /devices', { query: { limit: filters.limit, sort: '-createdAt', count: 'exact', online, type: filters.type } });
  }

  /** Open alerts of every device, newest first; at most `limit` (the API allows 500), `nextCursor` set when there are more. */
  openAlerts(limit: number): Promise<ApiResponse<'GET /alerts'>> {
    return this.call('GET /alerts', { query: { state: 'open', limit } });
  }

  getDevice(id: string): Promise<Device> {
    return this.call('GET /devices/{id}', { params: { id } });
  }

  addDevice(fields: ApiInput<'POST /devices'>['body']): Promise<DeviceWithToken> {
    return this.call('POST /devices', { body: fields });
  }

  updateDevice(id: string, fields: ApiInput<'PATCH /devices/{id}'>['body']): Promise<Device> {
    return this.call('PATCH /devices/{id}', { params: { id }, body: fields });
  }

  async deleteDevice(id: string): Promise<void> {
    await this.call('DELETE /devices/{id}', { params: { id } });
  }

  rotateToken(id: string): Promise<DeviceWithToken> {
    return this.call('POST /devices/{id}/token', { params: { id } });
  }

  latestTelemetry(id: string): Promise<ApiResponse<'GET /devices/{id}/telemetry/latest'>> {
    return this.call('GET /devices/{id}/telemetry/latest', { params: { id } });
  }

  /** The device's alerts, newest first (open and cleared). */
  alerts(deviceId: string): Promise<ApiResponse<'GET /alerts'>> {
    return this.call('GET /alerts', { query: { deviceId, limit: 50 } });
  }

  acknowledgeAlert(id: string): Promise<Alert> {
    return this.call('POST /alerts/{id}/ack', { params: { id } });
  }

  async addAlertRule(deviceId: string, rule: AlertRuleFields): Promise<void> {
    await this.call('POST /devices/{id}/rules', { params: { id: deviceId }, body: rule });
  }

  /** The desired configuration, the state the device last reported, and whether they agree. */
  deviceConfig(deviceId: string): Promise<DeviceConfigView> {
    return this.call('GET /devices/{id}/config', { params: { id: deviceId } });
  }

  /** Saves `config` as the next version; with `ifMatch`, only while that is still the current one (412 otherwise). */
  setDeviceConfig(deviceId: string, config: Record<string, unknown>, ifMatch?: number): Promise<ApiResponse<'PUT /devices/{id}/config'>> {
    const headers = ifMatch === undefined ? undefined : { 'if-match': `"${ifMatch}"` };
    return this.call('PUT /devices/{id}/config', { params: { id: deviceId }, body: { config } }, { headers });
  }

  /** Queues a command to the device; it comes back `queued`. */
  async sendCommand(deviceId: string, fields: CommandFields): Promise<Command> {
    const answer = await this.call('POST /devices/{id}/commands', { params: { id: deviceId }, body: fields });
    return answer.command;
  }

  /** One page of the device's commands, newest first. */
  commands(deviceId: string, page: { limit: number; cursor?: string }): Promise<CommandPage> {
    return this.call('GET /devices/{id}/commands', { params: { id: deviceId }, query: { limit: page.limit, cursor: page.cursor || undefined } });
  }

  telemetry(id: string, q: TelemetryQuery): Promise<TelemetryItems> {
    // No keys means every key; numbers are what the dashboard charts, so it names them when it knows them.
    const keys = q.keys?.length ? q.keys.join(',') : undefined;
    const page = q.interval ? { interval: q.interval, agg: q.agg } : { limit: q.limit || undefined, cursor: q.cursor || undefined };
    return this.call('GET /devices/{id}/telemetry', { params: { id }, query: { from: q.from, to: q.to, keys, ...page } });
  }

  forecast(id: string, q: { key: string; horizon: string; interval: string }): Promise<Forecast> {
    return this.call('GET /devices/{id}/forecast', { params: { id }, query: q });
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
        const pair = await this.call('POST /auth/refresh', { body: { refreshToken: session.refreshToken } }, { auth: false });
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

  /** One call of a route the registry serves (functions/api-routes.ts), typed by its schemas in and out. */
  private async call<K extends ApiRoute>(route: K, input: ApiInput<K>, options: CallOptions = {}): Promise<ApiResponse<K>> {
    const auth = options.auth ?? true;
    const request = apiRequest(route, ...([input] as ApiInputArgs<K>));
    const send = () => {
      const headers: Record<string, string> = { accept: 'application/json, application/problem+json', ...options.headers };
      const token = loadSession()?.accessToken;
      if (auth && token) headers.authorization = `Bearer ${token}`;
      if (request.body !== undefined) headers['content-type'] = 'application/json';
      return fetch(request.path, { method: request.method, headers, body: request.body });
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
    if (response.status === 204) return undefined as ApiResponse<K>;
    return (await response.json()) as ApiResponse<K>;
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
