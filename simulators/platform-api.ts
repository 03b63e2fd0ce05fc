/**
 * The few API calls the simulator makes as a user: sign in (registering the account the first time) and
 * provision devices with `POST /devices/bulk`, 1,000 at a time (the endpoint's limit).
 */
import type { DeviceCredentials } from './device-credentials.ts';
import { reach } from '../shared/http/reach.ts';

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

async function postJson(url: string, body: unknown, accessToken?: string): Promise<{ status: number; body: unknown }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (accessToken) headers.authorization = `Bearer ${accessToken}`;
  const response = await reach(url, { method: 'POST', headers, body: JSON.stringify(body) }, requestTimeoutMs);
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text for the error message
  }
  return { status: response.status, body: parsed };
}

function detail(body: unknown): string {
  if (body && typeof body === 'object' && 'detail' in body) return String(body.detail);
  return typeof body === 'string' ? body.slice(0, 200) : JSON.stringify(body);
}

/** Logs in; an unknown account is registered first. Returns the access token. */
export async function signIn(baseUrl: string, credentials: { email: string; password: string }): Promise<string> {
  const login = () => postJson(`${baseUrl}/auth/login`, credentials);
  let answer = await login();
  if (answer.status === 401) {
    const registered = await postJson(`${baseUrl}/auth/register`, credentials);
    // 409: the account exists, so the 401 was a wrong password; logging in again reports it.
    if (registered.status !== 201 && registered.status !== 409) {
      throw new PlatformApiError(`registering ${credentials.email} answered ${registered.status}: ${detail(registered.body)}`, registered.status);
    }
    answer = await login();
  }
  if (answer.status !== 200) throw new PlatformApiError(`logging in as ${credentials.email} answered ${answer.status}: ${detail(answer.body)}`, answer.status);
  const token = (answer.body as { accessToken?: unknown }).accessToken;
  if (typeof token !== 'string') throw new PlatformApiError('the login answer has no accessToken', answer.status);
  return token;
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
    const answer = await postJson(`${baseUrl}/devices/bulk`, { devices: batch }, accessToken);
    if (answer.status !== 201) throw new PlatformApiError(`POST /devices/bulk answered ${answer.status}: ${detail(answer.body)}`, answer.status);
    const created = (answer.body as { devices: Array<{ device: { id: string }; deviceToken: string }> }).devices;
    devices.push(...created.map((d) => ({ id: d.device.id, token: d.deviceToken })));
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
  const response = await reach(`${baseUrl}/info`, {}, requestTimeoutMs);
  if (!response.ok) throw new PlatformApiError(`GET ${baseUrl}/info answered ${response.status}: is ${baseUrl} an iotfn platform?`, response.status);
  const info = (await response.json()) as { mqtt?: Array<{ url?: unknown; broker?: unknown }> };
  const first = info.mqtt?.[0];
  if (!first || typeof first.url !== 'string') return undefined;
  return { url: first.url, broker: first.broker === 'mosquitto' ? 'mosquitto' : 'embedded' };
}

/** Values stored for a device at or after `from`: the counts of one-day buckets, summed over every key. */
export async function storedValues(baseUrl: string, accessToken: string, deviceId: string, from: number): Promise<number> {
  const query = new URLSearchParams({ from: String(from), to: String(Date.now() + 60_000), interval: '1d', agg: 'count' });
  const url = `${baseUrl}/devices/${deviceId}/telemetry?${query}`;
  const response = await reach(url, { headers: { authorization: `Bearer ${accessToken}` } }, requestTimeoutMs);
  const text = await response.text();
  if (response.status !== 200) throw new PlatformApiError(`GET /devices/${deviceId}/telemetry answered ${response.status}: ${text.slice(0, 200)}`, response.status);
  const { items } = JSON.parse(text) as { items: Array<{ count?: number }> };
  return items.reduce((sum, item) => sum + (item.count ?? 0), 0);
}
