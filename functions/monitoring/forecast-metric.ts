/**
 * GET /devices/{id}/forecast?key=&horizon=&interval=&weather=: predicted bucket averages of one key with a
 * 95 % prediction interval, from the device's last 7 days (model and window: model/forecast-history.ts).
 *
 * The outdoor temperature (open-meteo) joins as a regressor when a place is known — `weather=lat,lon`, or
 * else the device's location — and only where it lowers the error on a held-out day; `weather=off` skips
 * it. A weather service that fails leaves the forecast without it and says so in `notes`.
 * No numeric history of the key answers 400 `validation` (nothing to fit; the key is the client's choice);
 * one or two buckets answer the last value with a note. Non-owners get the 404 of a missing device.
 */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { Problem } from '../../shared/problem.ts';
import { TelemetryKey } from '../../shared/messages.ts';
import { Interval } from './model/telemetry-query.ts';
import { ForecastResult, forecastHistory } from './model/forecast-history.ts';

const Place = z
  .string()
  .regex(/^(off|-?\d{1,3}(\.\d+)?,-?\d{1,3}(\.\d+)?)$/, 'expected "lat,lon" in degrees or "off"')
  .transform((v, ctx) => {
    if (v === 'off') return 'off' as const;
    const [lat, lon] = v.split(',').map(Number) as [number, number];
    if (Math.abs(lat) > 90 || Math.abs(lon) > 180) {
      ctx.addIssue({ code: 'custom', message: 'latitude within ±90, longitude within ±180' });
      return z.NEVER;
    }
    return { lat, lon };
  });

export default defineHttpFunction({
  name: 'forecastMetric',
  domain: 'monitoring',
  method: 'GET',
  path: '/devices/{id}/forecast',
  auth: 'user',
  summary: 'Forecast one key of a device, with a 95 % prediction interval',
  params: z.object({ id: z.uuid() }),
  query: z.object({
    key: TelemetryKey.describe('The key to forecast'),
    horizon: Interval.optional().describe('How far ahead (default 24h, at most 7d and 1000 intervals)'),
    interval: Interval.optional().describe('Bucket width of history and forecast (default 1h, at most 1d)'),
    weather: Place.optional().describe('"lat,lon" to use the outdoor temperature there, "off" for none; default: the device\'s location, if set'),
  }),
  responses: { 200: ForecastResult },
  problems: ['not-found'],
  async handler({ params, query, user, deps }) {
    if (!(await deps.directory.canSee(user, params.id))) throw new Problem('not-found', `No device ${params.id}`);
    let place = query.weather === 'off' ? null : (query.weather ?? null);
    if (query.weather === undefined) place = await deps.directory.locationOf(params.id);
    const body = await forecastHistory(deps.telemetry, {
      deviceId: params.id,
      key: query.key,
      intervalMs: query.interval ?? 3_600_000,
      horizonMs: query.horizon ?? 86_400_000,
      place,
    });
    return { status: 200, body };
  },
});
