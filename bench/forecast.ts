/**
 * The forecast's error on held-out simulated data, against the naive forecasts it has to beat: the last
 * value, and the same hour yesterday (seasonal naive). One JSON line per figure on stdout:
 *
 *   node --import tsx bench/forecast.ts
 *   {"bench":"forecast.mae","series":"simulator-temperature","forecast":0.2,"lastValue":3.1,"seasonalNaive":0.3,...}
 *
 * Each series is 14 days of hourly averages; the model is fitted on the first 13 and forecasts the 14th
 * (24 steps), exactly as `GET /devices/{id}/forecast` does (model/forecast.ts, no weather). Two kinds:
 * - `simulator-temperature`: the fleet simulator's temperature (simulators/signals.ts: a daily cycle,
 *   noise, rare spikes, dropouts), sampled every 5 minutes and averaged per hour, one series per device;
 * - `synthetic-weather`: a daily cycle whose daily mean wanders from day to day (as weather does) plus
 *   noise, which no history can foresee: the harder, more honest case.
 * Errors are pooled over all held-out points of all series. Seeded: the same figures on every run.
 */
import { performance } from 'node:perf_hooks';
import { fitForecast } from '../functions/monitoring/model/forecast.ts';
import { readingAt } from '../simulators/signals.ts';
import { gaussian } from '../simulators/prng.ts';

const hourMs = 3_600_000;
const days = 14;
const horizon = 24;
const seriesCount = 10;
const seed = 42;

function simulatorTemperature(device: number): number[] {
  const sampleMs = 5 * 60_000;
  return Array.from({ length: days * 24 }, (_, h) => {
    const values: number[] = [];
    for (let t = h * hourMs; t < (h + 1) * hourMs; t += sampleMs) {
      const reading = readingAt(seed, device, t);
      if (reading) values.push(reading.temperature);
    }
    // A whole hour of dropouts does not happen at the default rates; carry on as the gap filling would.
    return values.length ? values.reduce((a, b) => a + b, 0) / values.length : Number.NaN;
  });
}

function syntheticWeather(index: number): number[] {
  let mean = 15;
  return Array.from({ length: days * 24 }, (_, t) => {
    if (t % 24 === 0) mean += 2 * gaussian(seed, index, t, 1);
    return mean + 4 * Math.cos((2 * Math.PI * (t - 15)) / 24) + 0.5 * gaussian(seed, index, t, 2);
  });
}

function interpolateMissing(y: number[]): number[] {
  return y.map((v, i) => {
    if (Number.isFinite(v)) return v;
    const before = y.slice(0, i).findLast(Number.isFinite) ?? y.find(Number.isFinite)!;
    const after = y.slice(i + 1).find(Number.isFinite) ?? before;
    return (before + after) / 2;
  });
}

interface Errors {
  abs: number;
  sq: number;
}
const add = (e: Errors, error: number) => {
  e.abs += Math.abs(error);
  e.sq += error * error;
};

const round = (value: number, digits = 4) => Math.round(value * 10 ** digits) / 10 ** digits;

function evaluate(name: string, series: number[][]): void {
  const forecast: Errors = { abs: 0, sq: 0 };
  const lastValue: Errors = { abs: 0, sq: 0 };
  const seasonalNaive: Errors = { abs: 0, sq: 0 };
  const models = new Map<string, number>();
  let covered = 0;
  let n = 0;
  let fitMs = 0;
  for (const raw of series) {
    const y = interpolateMissing(raw);
    const history = y.slice(0, -horizon);
    const heldOut = y.slice(-horizon);
    const started = performance.now();
    const fit = fitForecast(history, 24);
    fitMs += performance.now() - started;
    models.set(fit.model, (models.get(fit.model) ?? 0) + 1);
    fit.forecast(horizon).forEach((p, h) => {
      const actual = heldOut[h]!;
      add(forecast, actual - p.value);
      add(lastValue, actual - history.at(-1)!);
      add(seasonalNaive, actual - history[history.length - 24 + h]!);
      if (p.lower <= actual && actual <= p.upper) covered++;
      n++;
    });
  }
  const context = { series: name, count: series.length, fitHours: (days - 1) * 24, horizonHours: horizon, model: Object.fromEntries(models), unit: '°C' };
  const mae = (e: Errors) => round(e.abs / n);
  const rmse = (e: Errors) => round(Math.sqrt(e.sq / n));
  for (const [figure, measure] of [['forecast.mae', mae], ['forecast.rmse', rmse]] as const) {
    line({
      bench: figure,
      // `value` as on every other line: the forecast's own error; `forecast` keeps the name earlier runs used.
      value: measure(forecast),
      ...context,
      forecast: measure(forecast),
      lastValue: measure(lastValue),
      seasonalNaive: measure(seasonalNaive),
      ratioToLastValue: round(measure(forecast) / measure(lastValue)),
      ratioToSeasonalNaive: round(measure(forecast) / measure(seasonalNaive)),
    });
  }
  line({ bench: 'forecast.coverage', series: name, value: round(covered / n), nominal: 0.95, points: n });
  line({ bench: 'forecast.fit', series: name, value: round(fitMs / series.length, 2), unit: 'ms', note: 'grid search and fit of one 312-hour series' });
}

function line(figure: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(figure) + '\n');
}

evaluate('simulator-temperature', Array.from({ length: seriesCount }, (_, device) => simulatorTemperature(device)));
evaluate('synthetic-weather', Array.from({ length: seriesCount }, (_, index) => syntheticWeather(index)));
