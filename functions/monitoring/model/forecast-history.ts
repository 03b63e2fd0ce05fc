/**
 * A forecast of one key of one device from its stored history: the window read, the buckets and their
 * gaps, the model (forecast.ts), and the outdoor temperature when a place is known (weather.ts,
 * forecast-weather.ts). What `GET /devices/{id}/forecast` answers, apart from the HTTP.
 *
 * The window is the last 7 days (at most 10,000 buckets) of whole buckets: the bucket now in progress is
 * left out, since the average of its first minutes is not the average of the bucket, and it is the first
 * bucket predicted. When the device fell silent earlier, the model still starts from its last bucket and
 * predicts across the silence, so the daily season stays in phase and the interval widens accordingly.
 */
import { z } from 'zod';
import { Problem } from '../../../shared/problem.ts';
import type { TelemetryStore } from '../../../shared/ports/telemetry-store.ts';
import { fillGaps, fitForecast, type PredictedValue } from './forecast.ts';
import { forecastWithTemperature } from './forecast-weather.ts';
import { fetchHourlyTemperature, temperatureAt, weatherSettings, type WeatherSettings } from './weather.ts';

const dayMs = 86_400_000;
const historyMs = 7 * dayMs;
const maxHorizonMs = 7 * dayMs;
const maxSteps = 1000;
const maxHistoryBuckets = 10_000;
/** Fewer buckets than this cannot both fit a model and check on a held-out part whether the weather helps. */
const minBucketsForWeather = 8;

export const ForecastPoint = z.object({
  ts: z.number().int().describe('Start of the predicted bucket, epoch ms'),
  value: z.number().describe('Predicted average of the bucket'),
  lower: z.number().describe('Lower end of the 95 % prediction interval'),
  upper: z.number().describe('Upper end of the 95 % prediction interval'),
});

export const ForecastResult = z.object({
  key: z.string(),
  interval: z.string().describe('Bucket width, e.g. 1h'),
  horizon: z.string().describe('How far ahead, e.g. 24h'),
  model: z.enum(['holt-winters-additive', 'holt-linear', 'last-value']),
  season: z.number().int().nullable().describe('Buckets per day of the daily season; null when the model has none'),
  parameters: z.object({ alpha: z.number(), beta: z.number().optional(), gamma: z.number().optional() }).describe('Smoothing parameters chosen by grid search'),
  sigma: z.number().describe('RMS of the one-step-ahead residuals on the history'),
  confidence: z.literal(0.95),
  fittedOn: z.number().int().describe('Buckets of history the model was fitted on, gaps filled included'),
  weather: z
    .object({
      latitude: z.number(),
      longitude: z.number(),
      coefficient: z.number().describe('Change of the value per °C of outdoor temperature'),
      heldOutMae: z.object({ without: z.number(), with: z.number() }).describe('Error on the held-out last day of history without and with the temperature'),
    })
    .nullable()
    .describe('The outdoor temperature, when it was used'),
  points: z.array(ForecastPoint),
  notes: z.array(z.string()).describe('What the reader should know: the model chosen and why, gaps filled, the weather used or not and why'),
});
export type ForecastResult = z.output<typeof ForecastResult>;

export interface ForecastRequest {
  deviceId: string;
  key: string;
  intervalMs: number;
  horizonMs: number;
  /** Where the outdoor temperature comes from; null: no weather. */
  place: { lat: number; lon: number } | null;
  now?: number;
  weather?: WeatherSettings;
  fetch?: typeof fetch;
}

const units = [
  ['d', dayMs],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
] as const;

/** A duration in the largest unit that divides it: 86400000 → '1d', 5400000 → '90m'. */
function formatDuration(ms: number): string {
  for (const [unit, size] of units) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

function invalid(path: string, message: string): Problem {
  return new Problem('validation', `${path}: ${message}`, { errors: [{ path, message }] });
}

const round = (value: number) => Math.round(value * 1e6) / 1e6;
const rounded = (p: PredictedValue) => ({ value: round(p.value), lower: round(p.lower), upper: round(p.upper) });

/** Throws the `validation` problem for a horizon or interval out of bounds. */
function checkRequest(intervalMs: number, horizonMs: number): number {
  if (intervalMs > dayMs) throw invalid('query.interval', 'at most 1d');
  if (horizonMs > maxHorizonMs) throw invalid('query.horizon', 'at most 7d');
  const steps = Math.ceil(horizonMs / intervalMs);
  if (steps > maxSteps) throw invalid('query.horizon', `${steps} steps of ${formatDuration(intervalMs)} asked; at most ${maxSteps} (widen the interval or shorten the horizon)`);
  return steps;
}

export async function forecastHistory(store: TelemetryStore, request: ForecastRequest): Promise<ForecastResult> {
  const { deviceId, key, intervalMs, horizonMs } = request;
  const steps = checkRequest(intervalMs, horizonMs);
  const now = request.now ?? Date.now();
  const current = Math.floor(now / intervalMs) * intervalMs;
  const from = current - Math.min(Math.floor(historyMs / intervalMs), maxHistoryBuckets) * intervalMs;
  const buckets = await store.aggregate({ deviceId, keys: [key], from, to: current, intervalMs, agg: 'avg' });
  const series = fillGaps(buckets, intervalMs);
  if (!series) {
    // Nothing to fit is the caller's to fix (another key, a device that has sent data), not a server fault.
    throw invalid('query.key', `no numeric values of ${JSON.stringify(key)} in the ${formatDuration(current - from)} before the current bucket; nothing to forecast from`);
  }
  const y = series.values;
  const lastTs = series.start + (y.length - 1) * intervalMs;
  const skip = (current - lastTs) / intervalMs - 1;
  const stepsPerDay = dayMs % intervalMs === 0 ? dayMs / intervalMs : null;

  const notes: string[] = [];
  if (series.filled > 0) notes.push(`${series.filled} missing bucket${series.filled === 1 ? '' : 's'} of ${y.length} filled by linear interpolation`);
  if (skip > 0) notes.push(`the newest value is from ${new Date(lastTs).toISOString()}: the forecast reaches across ${skip} silent bucket${skip === 1 ? '' : 's'} first`);

  const fit = fitForecast(y, stepsPerDay);
  let model = fit;
  let points = fit.forecast(steps, skip);
  let weather: ForecastResult['weather'] = null;

  if (request.place && y.length < minBucketsForWeather) {
    notes.push('weather not used: too little history to check whether it helps');
  } else if (request.place) {
    const today = Math.floor(now / dayMs) * dayMs;
    const end = current + steps * intervalMs;
    // Whole days from the first bucket through the day holding `end`: the hour after the last bucket's
    // middle is needed to interpolate it, and it may be tomorrow's first.
    const answer = await fetchHourlyTemperature(
      { latitude: request.place.lat, longitude: request.place.lon, pastDays: Math.ceil((today - series.start) / dayMs), forecastDays: Math.floor((end - today) / dayMs) + 1 },
      request.weather ?? weatherSettings(),
      request.fetch,
    );
    if (!answer.ok) {
      notes.push(`weather unavailable: ${answer.reason}`);
    } else {
      // A bucket's average is best matched by the temperature in its middle.
      const middle = (i: number) => series.start + i * intervalMs + intervalMs / 2;
      const past = temperatureAt(answer.series, y.map((_, i) => middle(i)));
      const ahead = temperatureAt(answer.series, Array.from({ length: skip + steps }, (_, i) => middle(y.length + i)));
      if (past.includes(null) || ahead.includes(null)) {
        notes.push('weather unavailable: the hourly temperatures do not cover the history and the horizon');
      } else {
        const effect = forecastWithTemperature(y, past as number[], ahead as number[], stepsPerDay, steps, skip);
        if (effect.used) {
          model = effect.fit;
          points = effect.points;
          const { maeWithout, maeWith } = effect.heldOut;
          weather = {
            latitude: answer.series.latitude,
            longitude: answer.series.longitude,
            coefficient: round(effect.coefficient),
            heldOutMae: { without: round(maeWithout), with: round(maeWith) },
          };
          notes.push(`weather: outdoor temperature used (${round(effect.coefficient)} per °C); error on the held-out last day ${round(maeWithout)} → ${round(maeWith)}`);
        } else {
          const figures = effect.heldOut ? ` (error on the held-out last day ${round(effect.heldOut.maeWithout)} without, ${round(effect.heldOut.maeWith)} with)` : '';
          notes.push(`weather not used: ${effect.reason}${figures}`);
        }
      }
    }
  }

  return {
    key,
    interval: formatDuration(intervalMs),
    horizon: formatDuration(horizonMs),
    model: model.model,
    season: model.season,
    parameters: model.parameters,
    sigma: round(model.sigma),
    confidence: 0.95,
    fittedOn: y.length,
    weather,
    points: points.map((p, i) => ({ ts: current + i * intervalMs, ...rounded(p) })),
    // The notes of the model actually answered with (the one on the temperature's remainder, if used).
    notes: [...model.notes, ...notes],
  };
}
