/**
 * Outdoor temperature from the open-meteo API (https://open-meteo.com/en/docs): the hourly
 * `temperature_2m` of the past days and the coming ones at one place, for forecasts that use the weather.
 *
 *   const weather = await fetchHourlyTemperature({ latitude: 52.52, longitude: 13.41, pastDays: 7, forecastDays: 2 });
 *   if (weather.ok) temperatureAt(weather.series, [Date.now()]);  // [11.4]
 *   else weather.reason;                                          // 'timed out after 2000 ms'
 *
 * The weather only improves a forecast, so this client never throws: an unreachable, slow, failing or
 * nonsensical service comes back as `{ ok: false, reason }` and the caller forecasts without it.
 */
import { z } from 'zod';

export const openMeteoDefaults = { baseUrl: 'https://api.open-meteo.com', timeoutMs: 2000 } as const;

/** Where the client goes; configurable so tests (which have no internet) point it at a local server. */
export interface WeatherSettings {
  baseUrl: string;
  timeoutMs: number;
}

const Settings = z.object({
  OPEN_METEO_URL: z.url({ protocol: /^https?$/ }).default(openMeteoDefaults.baseUrl),
  OPEN_METEO_TIMEOUT_MS: z.coerce.number().int().min(1).max(60_000).default(openMeteoDefaults.timeoutMs),
});

/**
 * The settings from the environment (`OPEN_METEO_URL`, `OPEN_METEO_TIMEOUT_MS`), read per call so a test
 * can point a running platform elsewhere. A bad value falls back to the default: the weather is optional.
 */
export function weatherSettings(env: Record<string, string | undefined> = process.env): WeatherSettings {
  const parsed = Settings.safeParse({ OPEN_METEO_URL: env.OPEN_METEO_URL || undefined, OPEN_METEO_TIMEOUT_MS: env.OPEN_METEO_TIMEOUT_MS || undefined });
  const values = parsed.success ? parsed.data : { OPEN_METEO_URL: openMeteoDefaults.baseUrl, OPEN_METEO_TIMEOUT_MS: openMeteoDefaults.timeoutMs };
  return { baseUrl: values.OPEN_METEO_URL.replace(/\/+$/, ''), timeoutMs: values.OPEN_METEO_TIMEOUT_MS };
}

/** Hourly outdoor temperature, ascending, without the hours open-meteo has no value for. */
export interface TemperatureSeries {
  latitude: number;
  longitude: number;
  ts: number[];
  celsius: number[];
}

export type WeatherResult = { ok: true; series: TemperatureSeries } | { ok: false; reason: string };

/** The part of open-meteo's answer this client reads (times in GMT, as asked). */
const ForecastResponse = z
  .object({
    latitude: z.number(),
    longitude: z.number(),
    hourly_units: z.object({ time: z.literal('iso8601'), temperature_2m: z.literal('°C') }),
    hourly: z.object({
      time: z.array(z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/, 'expected YYYY-MM-DDTHH:MM')),
      temperature_2m: z.array(z.number().nullable()),
    }),
  })
  .refine((r) => r.hourly.time.length === r.hourly.temperature_2m.length, 'hourly.time and hourly.temperature_2m differ in length');

/** Most bytes read from the service: a week and two of hourly values are some 10 kB. */
const maxBytes = 1_000_000;

export interface TemperatureRequest {
  latitude: number;
  longitude: number;
  /** Days before today (0–92). */
  pastDays: number;
  /** Days from today on, today included (1–16). */
  forecastDays: number;
}

export async function fetchHourlyTemperature(
  request: TemperatureRequest,
  settings: WeatherSettings = weatherSettings(),
  doFetch: typeof fetch = fetch,
): Promise<WeatherResult> {
  const url = new URL('/v1/forecast', settings.baseUrl);
  url.search = new URLSearchParams({
    latitude: String(request.latitude),
    longitude: String(request.longitude),
    hourly: 'temperature_2m',
    past_days: String(Math.min(92, Math.max(0, Math.ceil(request.pastDays)))),
    forecast_days: String(Math.min(16, Math.max(1, Math.ceil(request.forecastDays)))),
    timezone: 'GMT',
  }).toString();
  let text: string;
  try {
    const response = await doFetch(url, { signal: AbortSignal.timeout(settings.timeoutMs), headers: { accept: 'application/json' } });
    // The body is read under the same deadline: a service that sends headers and then stalls is slow too.
    text = await response.text();
    if (!response.ok) return { ok: false, reason: `open-meteo answered ${response.status}${errorReason(text)}` };
  } catch (error) {
    return { ok: false, reason: transportReason(error, settings.timeoutMs) };
  }
  if (text.length > maxBytes) return { ok: false, reason: `the answer is larger than ${maxBytes} bytes` };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'the answer is not JSON' };
  }
  const parsed = ForecastResponse.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { ok: false, reason: `unexpected answer: ${issue.path.join('.') || '(root)'}: ${issue.message}` };
  }
  const { hourly, latitude, longitude } = parsed.data;
  const series: TemperatureSeries = { latitude, longitude, ts: [], celsius: [] };
  hourly.time.forEach((time, i) => {
    const celsius = hourly.temperature_2m[i];
    if (celsius === null || celsius === undefined) return;
    series.ts.push(Date.parse(`${time}:00Z`));
    series.celsius.push(celsius);
  });
  if (series.ts.length < 2) return { ok: false, reason: 'the answer holds fewer than two hourly temperatures' };
  return { ok: true, series };
}

/** open-meteo explains a 400 as `{"error": true, "reason": "…"}`; worth passing on. */
function errorReason(text: string): string {
  try {
    const body = JSON.parse(text) as { reason?: unknown };
    return typeof body.reason === 'string' ? ` (${body.reason.slice(0, 200)})` : '';
  } catch {
    return '';
  }
}

function transportReason(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return `timed out after ${timeoutMs} ms`;
  // undici reports network failures as TypeError('fetch failed') with the system error as its cause.
  const cause = error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (typeof cause?.code === 'string') return `${cause.code === 'ECONNREFUSED' ? 'connection refused' : 'network error'} (${cause.code})`;
  if (typeof cause?.message === 'string') return `request failed: ${cause.message}`;
  return `request failed: ${error instanceof Error ? error.message : String(error)}`;
}

/**
 * The temperature at each time, interpolated linearly between the hours around it; null when a time lies
 * outside the series (or in a gap longer than three hours, where interpolating would be guessing).
 */
export function temperatureAt(series: TemperatureSeries, times: readonly number[]): Array<number | null> {
  const maxGapMs = 3 * 3_600_000;
  return times.map((t) => {
    const high = firstAtOrAfter(series.ts, t);
    if (high === series.ts.length) return null;
    if (series.ts[high] === t) return series.celsius[high]!;
    if (high === 0) return null;
    const low = high - 1;
    const t0 = series.ts[low]!;
    const t1 = series.ts[high]!;
    if (t1 - t0 > maxGapMs) return null;
    return series.celsius[low]! + ((series.celsius[high]! - series.celsius[low]!) * (t - t0)) / (t1 - t0);
  });
}

/** Index of the first element ≥ t in an ascending array (its length when none is). */
function firstAtOrAfter(sorted: readonly number[], t: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle]! < t) low = middle + 1;
    else high = middle;
  }
  return low;
}
