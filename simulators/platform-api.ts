/**
 * The few API calls the simulator makes as a user: sign in (registering the account the first time), provision
 * devices with `POST /devices/bulk`, 1,000 at a time (the endpoint's limit), ask GET /info where devices connect,
 * and count what was stored. Each is a route the registry serves, typed by its schemas (functions/api-routes.ts).
 */
import type { DeviceCredentials } from './device-credentials.ts';
import { reach } from '../shared/http/reach.ts';
import { apiRequest, type ApiInput, type ApiInputArgs, type ApiResponse, type ApiRoute } from '../functions/api-routes.ts';

const requestTimeoutMs = 30_000;
const bulkLimit = 1000;

export class PlatformApiError extends Error {
  override name = 'PlatformApiError';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** One call of a route the registry serves, typed by its schemas (functions/api-routes.ts); the body parsed when JSON. */
async function callApi<K extends ApiRoute>(
  baseUrl: string,
  route: K,
  input: ApiInput<K>,
  accessToken?: string,
): Promise<{ status: number; body: unknown; ok: (status: number) => ApiResponse<K> | undefined }> {
  const request = apiRequest(route, ...([input] as ApiInputArgs<K>));
  const headers: Record<string, string> = {};
  if (request.body !== undefined) headers['content-type'] = 'application/json';
  if (accessToken) headers.authorization = `Bearer ${accessToken}`;
  const response = await reach(baseUrl + request.path, { method: request.method, headers, body: request.body }, requestTimeoutMs);
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text for the error message
  }
  // The answer as the route's success type, when it came with the status a success has.
  return { status: response.status, body: parsed, ok: (status) => (response.status === status ? (parsed as ApiResponse<K>) : undefined) };
}

function detail(body: unknown): string {
  if (body && typeof body === 'object' && 'detail' in body) return String(body.detail);
  return typeof body === 'string' ? body.slice(0, 200) : JSON.stringify(body);
}

/** Logs in; an unknown account is registered first. Returns the access token. */
export async function signIn(baseUrl: string, credentials: { email: string; password: string }): Promise<string> {
  const login = () => callApi(baseUrl, 'POST /auth/login', { body: credentials });
  let answer = await login();
  if (answer.status === 401) {
    const registered = await callApi(baseUrl, 'POST /auth/register', { body: credentials });
    // 409: the account exists, so the 401 was a wrong password; logging in again reports it.
    if (registered.status !== 201 && registered.status !== 409) {
      throw new PlatformApiError(`registering ${credentials.email} answered ${registered.status}: ${detail(registered.body)}`, registered.status);
    }
    answer = await login();
  }
  const pair = answer.ok(200);
  if (!pair) throw new PlatformApiError(`logging in as ${credentials.email} answered ${answer.status}: ${detail(answer.body)}`, answer.status);
  if (typeof pair.accessToken !== 'string') throw new PlatformApiError('the login answer has no accessToken', answer.status);
  return pair.accessToken;
}

/** Registers `count` simulated devices named after the seed; returns their ids and tokens in index order. */
export async function provisionDevices(baseUrl: string, accessToken: string, count: number, seed: number): Promise<DeviceCredentials[]> {
  const devices: DeviceCredentials[] = [];
  for (let first = 0; first < count; first += bulkLimit) {
    const batch = Array.from({ length: Math.min(bulkLimit, count - first) }, (_, i) => ({
      name: `sim-${seed}-${first + i}`,
      type: 'simulated-sensor',
      tags: ['simulated', `seed-${seed}`],
    }));
    const answer = await callApi(baseUrl, 'POST /devices/bulk', { body: { devices: batch } }, accessToken);
    const created = answer.ok(201);
    if (!created) throw new PlatformApiError(`POST /devices/bulk answered ${answer.status}: ${detail(answer.body)}`, answer.status);
    devices.push(...created.devices.map((d) => ({ id: d.device.id, token: d.deviceToken })));
  }
  return devices;
}

/** The MQTT endpoint the platform names at GET /info: where its devices connect, and which broker that is. */
export interface NamedBroker {
  url: string;
  broker: 'embedded' | 'mosquitto';
}

/**
 * Asks the platform where its devices connect (GET /info). Undefined when it names no MQTT endpoint: then
 * there is no broker to send device tokens to, whatever listens on port 1883 of its host.
 */
export async function namedBroker(baseUrl: string): Promise<NamedBroker | undefined> {
  const answer = await callApi(baseUrl, 'GET /info', {});
  const info = answer.ok(200);
  if (!info) throw new PlatformApiError(`GET ${baseUrl}/info answered ${answer.status}: is ${baseUrl} an iotfn platform?`, answer.status);
  const first = info.mqtt[0];
  return first ? { url: first.url, broker: first.broker } : undefined;
}

/** Values stored for a device at or after `from`: the counts of one-day buckets, summed over every key. */
export async function storedValues(baseUrl: string, accessToken: string, deviceId: string, from: number): Promise<number> {
  const query = { from, to: Date.now() + 60_000, interval: '1d', agg: 'count' } as const;
  const answer = await callApi(baseUrl, 'GET /devices/{id}/telemetry', { params: { id: deviceId }, query }, accessToken);
  const page = answer.ok(200);
  if (!page) throw new PlatformApiError(`GET /devices/${deviceId}/telemetry answered ${answer.status}: ${detail(answer.body)}`, answer.status);
  return page.items.reduce((sum, item) => sum + ('count' in item ? item.count : 0), 0);
}
