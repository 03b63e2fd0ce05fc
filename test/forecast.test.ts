/**
 * Forecasts: the models on synthetic series with a known pattern (seeded), gap filling, the open-meteo
 * client against a local server replaying a recorded answer (and failing in each way a service can), the
 * temperature regressor, and `GET /devices/{id}/forecast` end to end against the real services.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { call, signedInUser, startPlatform, type TestPlatform } from './support/platform.ts';
import { settleWithin } from './support/wait.ts';
import { gaussian } from '../simulators/prng.ts';
import { fillGaps, fitForecast, type PredictedValue } from '../functions/monitoring/model/forecast.ts';
import { forecastWithTemperature } from '../functions/monitoring/model/forecast-weather.ts';
import { fetchHourlyTemperature, openMeteoDefaults, temperatureAt, weatherSettings } from '../functions/monitoring/model/weather.ts';

const hour = 3_600_000;
const day = 24 * hour;

/** Daily sine + linear trend + Gaussian noise, the same for the same seed. */
const synthetic = (seed: number, length: number, noise = 0.6) =>
  Array.from({ length }, (_, t) => 20 + 4 * Math.sin((2 * Math.PI * t) / 24) + 0.03 * t + noise * gaussian(seed, t));

const mae = (actual: readonly number[], predicted: readonly number[]) => actual.reduce((s, v, i) => s + Math.abs(v - predicted[i]!), 0) / actual.length;
const within = (points: readonly PredictedValue[], actual: readonly number[]) => points.filter((p, i) => p.lower <= actual[i]! && actual[i]! <= p.upper).length;

const models = suite('forecast models');

models('Holt-Winters beats the last value on held-out days of a daily pattern, and its interval covers them', () => {
  let covered = 0;
  let total = 0;
  for (const seed of [1, 2, 3, 4, 5]) {
    const y = synthetic(seed, 24 * 8);
    const history = y.slice(0, 24 * 7);
    const heldOut = y.slice(24 * 7);
    const fit = fitForecast(history, 24);
    assert.is(fit.model, 'holt-winters-additive');
    assert.is(fit.season, 24);
    const points = fit.forecast(24);
    const model = mae(heldOut, points.map((p) => p.value));
    const naive = mae(heldOut, heldOut.map(() => history.at(-1)!));
    assert.ok(model < naive / 2, `seed ${seed}: MAE ${model} vs last value ${naive}`);
    covered += within(points, heldOut);
    total += heldOut.length;
  }
  // A 95 % interval: most points inside, allowing for the σ being estimated.
  assert.ok(covered / total >= 0.85, `${covered} of ${total} held-out points inside the interval`);
});

models('the interval widens with the horizon', () => {
  const points = fitForecast(synthetic(9, 24 * 4), 24).forecast(48);
  const width = (p: PredictedValue) => p.upper - p.lower;
  assert.ok(width(points[47]!) > width(points[0]!));
  points.forEach((p) => assert.ok(p.lower <= p.value && p.value <= p.upper));
});

models('Holt\'s linear trend continues a pure trend exactly, and stands in for Holt-Winters under two days', () => {
  const y = Array.from({ length: 20 }, (_, t) => 3 + 0.5 * t);
  for (const stepsPerDay of [null, 24]) {
    const fit = fitForecast(y, stepsPerDay);
    assert.is(fit.model, 'holt-linear');
    assert.is(fit.season, null);
    fit.forecast(10).forEach((p, i) => assert.ok(Math.abs(p.value - (3 + 0.5 * (20 + i))) < 1e-9, `step ${i + 1}: ${p.value}`));
  }
  assert.match(fitForecast(y, 24).notes.join(' '), /less than two days of history \(20 of 48 buckets\)/);
  assert.match(fitForecast(y, null).notes.join(' '), /do not divide a day/);
});

models('the last value with one or two buckets; Holt gives way to it on a series without a trend to follow', () => {
  const one = fitForecast([7], 24);
  assert.is(one.model, 'last-value');
  assert.equal(one.forecast(3), [1, 2, 3].map(() => ({ value: 7, lower: 7, upper: 7 })));
  assert.match(one.notes.join(' '), /only 1 bucket of history.*spread is unknown/);

  const two = fitForecast([5, 6], 24);
  assert.is(two.model, 'last-value');
  const points = two.forecast(4);
  points.forEach((p) => assert.is(p.value, 6));
  assert.ok(points[3]!.upper - points[3]!.lower > points[0]!.upper - points[0]!.lower, 'a random walk\'s interval widens');

  // A random walk (this seed's): nothing for a trend to learn, and the last value predicts it better.
  let level = 0;
  const walk = Array.from({ length: 30 }, (_, t) => (level += gaussian(77, t)));
  const fit = fitForecast(walk, null);
  assert.is(fit.model, 'last-value');
  assert.match(fit.notes.join(' '), /did not predict the history better than the last value/);
  fit.forecast(5).forEach((p) => assert.is(p.value, walk.at(-1)));
});

models('gaps are filled by linear interpolation between the numbers around them', () => {
  const b = (h: number, value: number | null) => ({ ts: 1000 * hour + h * hour, value });
  // Absent buckets and buckets without a number alike; the ends without numbers are dropped, not invented.
  const series = fillGaps([b(0, null), b(1, 10), b(2, null), b(4, 16), b(5, 17), b(6, null), b(8, 23), b(9, null)], hour);
  assert.equal(series, { start: 1001 * hour, step: hour, values: [10, 12, 14, 16, 17, 19, 21, 23], filled: 4 });
  assert.is(fillGaps([b(0, null), b(1, null)], hour), null);
  assert.is(fillGaps([], hour), null);
});

models.run();

/** A local open-meteo: replays the recorded answer, re-dated so its "today" is the real today. */
const recorded = JSON.parse(readFileSync(new URL('./fixtures/open-meteo-forecast.json', import.meta.url), 'utf8')) as {
  latitude: number;
  longitude: number;
  hourly: { time: string[]; temperature_2m: number[] };
};
/** The recording asked for past_days=7: its eighth day is the day it was made. */
const recordedToday = 7;

/** Outdoor temperature of the re-dated recording at time t (linear between hours). */
function recordedTemperature(t: number): number {
  const today = Math.floor(Date.now() / day) * day;
  const position = recordedToday * 24 + (t - today) / hour;
  const low = Math.floor(position);
  const values = recorded.hourly.temperature_2m;
  return values[low]! + (values[low + 1]! - values[low]!) * (position - low);
}

type Mode = 'ok' | 'error-500' | 'malformed' | 'wrong-shape' | 'hang';
interface WeatherServer {
  url: string;
  mode: Mode;
  requests: URL[];
  close(): Promise<void>;
}

async function startWeatherServer(): Promise<WeatherServer> {
  const state: WeatherServer = { url: '', mode: 'ok', requests: [], close: async () => undefined };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    state.requests.push(url);
    if (state.mode === 'hang') return; // never answers
    if (state.mode === 'error-500') return void res.writeHead(500, { 'content-type': 'text/plain' }).end('upstream broke');
    if (state.mode === 'malformed') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"latitude": 52.5, "hourly": {');
    if (state.mode === 'wrong-shape') {
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ latitude: 52.52, longitude: 13.42, hourly: { time: recorded.hourly.time } }));
    }
    const past = Number(url.searchParams.get('past_days'));
    const ahead = Number(url.searchParams.get('forecast_days'));
    const today = Math.floor(Date.now() / day) * day;
    const from = Math.max(0, (recordedToday - past) * 24);
    const to = Math.min(recorded.hourly.time.length, (recordedToday + ahead) * 24);
    const body = {
      ...recorded,
      hourly: {
        time: recorded.hourly.time.slice(from, to).map((_, i) => new Date(today - past * day + i * hour).toISOString().slice(0, 16)),
        temperature_2m: recorded.hourly.temperature_2m.slice(from, to),
      },
    };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  return state;
}

const weather = suite('open-meteo client');
const w: { server?: WeatherServer } = {};
weather.before(async () => {
  w.server = await startWeatherServer();
});
weather.before.each(() => {
  w.server!.mode = 'ok';
  w.server!.requests.length = 0;
});

const ask = (timeoutMs = 2000, baseUrl = w.server!.url) => fetchHourlyTemperature({ latitude: 52.52, longitude: 13.41, pastDays: 7, forecastDays: 2 }, { baseUrl, timeoutMs });

weather('reads the recorded answer and asks for what it needs', async () => {
  const answer = await ask();
  if (!answer.ok) return assert.unreachable(answer.reason);
  assert.is(answer.series.ts.length, 9 * 24);
  assert.is(answer.series.latitude, 52.52);
  const today = Math.floor(Date.now() / day) * day;
  assert.is(answer.series.ts[0], today - 7 * day);
  const asked = w.server!.requests[0]!;
  assert.is(asked.pathname, '/v1/forecast');
  assert.equal(Object.fromEntries(asked.searchParams), { latitude: '52.52', longitude: '13.41', hourly: 'temperature_2m', past_days: '7', forecast_days: '2', timezone: 'GMT' });
  const noon = today + 12 * hour;
  const [atNoon, halfPast, outside] = temperatureAt(answer.series, [noon, noon + hour / 2, today + 30 * day]);
  assert.is(atNoon, recorded.hourly.temperature_2m[recordedToday * 24 + 12]);
  assert.ok(Math.abs(halfPast! - recordedTemperature(noon + hour / 2)) < 1e-9);
  assert.is(outside, null);
});

weather('every failure comes back as a reason, never as a throw', async () => {
  const cases: Array<[Mode, RegExp]> = [
    ['error-500', /^open-meteo answered 500$/],
    ['malformed', /^the answer is not JSON$/],
    ['wrong-shape', /^unexpected answer: /],
  ];
  for (const [mode, reason] of cases) {
    w.server!.mode = mode;
    const answer = await ask();
    assert.ok(!answer.ok && reason.test(answer.reason), `${mode}: ${JSON.stringify(answer)}`);
  }
});

weather('a service that never answers times out', async () => {
  w.server!.mode = 'hang';
  const started = Date.now();
  const pending = ask(200);
  assert.is(await settleWithin(pending, 5000), 'resolved');
  const answer = await pending;
  assert.equal(answer, { ok: false, reason: 'timed out after 200 ms' });
  assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
});

weather('a refused connection is a reason too', async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  const pending = ask(2000, `http://127.0.0.1:${port}`);
  assert.is(await settleWithin(pending, 5000), 'resolved');
  const answer = await pending;
  assert.equal(answer, { ok: false, reason: 'connection refused (ECONNREFUSED)' });
});

weather('settings come from the environment, with the public service as the default', () => {
  assert.equal(weatherSettings({}), { baseUrl: openMeteoDefaults.baseUrl, timeoutMs: 2000 });
  assert.equal(weatherSettings({ OPEN_METEO_URL: 'http://127.0.0.1:9/', OPEN_METEO_TIMEOUT_MS: '150' }), { baseUrl: 'http://127.0.0.1:9', timeoutMs: 150 });
  assert.equal(weatherSettings({ OPEN_METEO_URL: 'ftp://nope' }), { baseUrl: openMeteoDefaults.baseUrl, timeoutMs: 2000 });
});

weather.after(async () => {
  await w.server?.close();
});
weather.run();

const regressor = suite('outdoor temperature as a regressor');

/** Outdoor temperature with a daily cycle and day-to-day weather (a seeded random walk of daily means). */
function outdoor(seed: number, hours: number): number[] {
  let mean = 12;
  return Array.from({ length: hours }, (_, t) => {
    if (t % 24 === 0) mean += 3 * gaussian(seed, t, 1);
    return mean + 5 * Math.sin((2 * Math.PI * (t - 9)) / 24);
  });
}

regressor('is used where the series follows the outdoor temperature, and lowers the error on the next day', () => {
  const x = outdoor(11, 24 * 8);
  const y = x.map((t, i) => 4 + 0.8 * t + 0.2 * gaussian(12, i));
  const history = y.slice(0, 24 * 7);
  const effect = forecastWithTemperature(history, x.slice(0, 24 * 7), x.slice(24 * 7), 24, 24, 0);
  if (!effect.used) return assert.unreachable(effect.reason);
  assert.ok(Math.abs(effect.coefficient - 0.8) < 0.1, `coefficient ${effect.coefficient}`);
  assert.ok(effect.heldOut.maeWith < effect.heldOut.maeWithout);
  const withWeather = mae(y.slice(24 * 7), effect.points.map((p) => p.value));
  const without = mae(y.slice(24 * 7), fitForecast(history, 24).forecast(24).map((p) => p.value));
  assert.ok(withWeather < without, `${withWeather} vs ${without}`);
});

regressor('is left out where it does not help', () => {
  const x = outdoor(21, 24 * 7);
  const y = synthetic(22, 24 * 7);
  const effect = forecastWithTemperature(y, x, outdoor(21, 24 * 8).slice(24 * 7), 24, 24, 0);
  assert.is(effect.used, false);
  const constant = forecastWithTemperature(y, y.map(() => 10), y.slice(0, 24).map(() => 10), 24, 24, 0);
  assert.equal(constant, { used: false, reason: 'the outdoor temperature did not vary over the history' });
});

regressor.run();

const endpoint = suite('GET /devices/{id}/forecast');
type User = Awaited<ReturnType<typeof signedInUser>>;
const e: { p?: TestPlatform; weather?: WeatherServer; owner?: User; other?: User; previousUrl?: string | undefined } = {};
const base = () => e.p!.url;

async function addDevice(name: string, location?: { lat: number; lon: number }): Promise<string> {
  const res = await call(base(), 'POST', '/devices', { token: e.owner!.accessToken, body: { name, type: 'sensor', ...(location ? { location } : {}) } });
  assert.is(res.status, 201, JSON.stringify(res.body));
  return res.body.device.id as string;
}

/** Writes one value per hour (in the middle of the hour) for the `hours` whole hours before the current one. */
async function writeHistory(deviceId: string, key: string, hours: number, valueAt: (ts: number, i: number) => number | undefined): Promise<void> {
  const current = Math.floor(Date.now() / hour) * hour;
  const points: Array<{ ts: number; values: Record<string, number> }> = [];
  for (let i = 0; i < hours; i++) {
    const ts = current - (hours - i) * hour + hour / 2;
    const value = valueAt(ts, i);
    if (value !== undefined) points.push({ ts, values: { [key]: value } });
  }
  await e.p!.deps.telemetry.write([{ messageId: randomUUID(), deviceId, points }]);
}

const forecast = (deviceId: string, query: string, user = e.owner!) => call(base(), 'GET', `/devices/${deviceId}/forecast?${query}`, { token: user.accessToken });

endpoint.before(async () => {
  e.weather = await startWeatherServer();
  // The platform runs in this process and reads the weather settings per request.
  e.previousUrl = process.env.OPEN_METEO_URL;
  process.env.OPEN_METEO_URL = e.weather.url;
  e.p = await startPlatform({ local: false });
  e.owner = await signedInUser(base(), 'forecaster');
  e.other = await signedInUser(base(), 'peeker');
});
endpoint.before.each(() => {
  e.weather!.mode = 'ok';
});

endpoint('three days of hourly history: 24 hourly points with lower ≤ value ≤ upper, from the current hour', async () => {
  const id = await addDevice('Thermo');
  await writeHistory(id, 'temp', 72, (ts, i) => 21 + 3 * Math.sin((2 * Math.PI * ts) / day) + 0.3 * gaussian(5, i));
  const res = await forecast(id, 'key=temp&horizon=24h');
  assert.is(res.status, 200, JSON.stringify(res.body));
  const body = res.body;
  assert.is(body.key, 'temp');
  assert.is(body.interval, '1h');
  assert.is(body.horizon, '1d');
  assert.is(body.model, 'holt-winters-additive');
  assert.is(body.season, 24);
  assert.is(body.fittedOn, 72);
  assert.is(body.weather, null);
  assert.is(body.points.length, 24);
  const current = Math.floor(Date.now() / hour) * hour;
  body.points.forEach((p: { ts: number; value: number; lower: number; upper: number }, i: number) => {
    assert.ok(Math.abs(p.ts - (current + i * hour)) <= hour, `point ${i} at ${p.ts}`);
    assert.ok(p.lower <= p.value && p.value <= p.upper, JSON.stringify(p));
    // The pattern is known: the forecast should be close to it.
    assert.ok(Math.abs(p.value - (21 + 3 * Math.sin((2 * Math.PI * (p.ts + hour / 2)) / day))) < 1.5, `point ${i}: ${p.value}`);
  });
  const defaults = await forecast(id, 'key=temp');
  assert.is(defaults.body.points.length, 24);
  const fine = await forecast(id, 'key=temp&interval=30m&horizon=6h');
  assert.is(fine.status, 200);
  assert.is(fine.body.points.length, 12);
  assert.is(fine.body.season, 48);
});

endpoint('another user gets 404; an unknown device 404', async () => {
  const id = await addDevice('Private');
  await writeHistory(id, 'temp', 10, (_, i) => i);
  assert.is((await forecast(id, 'key=temp', e.other!)).status, 404);
  assert.is((await forecast(randomUUID(), 'key=temp')).status, 404);
});

endpoint('bad horizons and intervals answer 400 validation', async () => {
  const id = await addDevice('Bounds');
  await writeHistory(id, 'temp', 10, (_, i) => i);
  for (const q of ['key=temp&horizon=8d', 'key=temp&horizon=soon', 'key=temp&horizon=0h', 'key=temp&interval=1m&horizon=1001m', 'key=temp&interval=2d', 'horizon=1h', 'key=temp&weather=north']) {
    const res = await forecast(id, q);
    assert.is(res.status, 400, `${q}: ${res.status} ${JSON.stringify(res.body)}`);
    assert.is(res.body.type, '/problems/validation');
  }
  const nothing = await forecast(id, 'key=humidity');
  assert.is(nothing.status, 400);
  assert.match(nothing.body.detail, /no numeric values of "humidity"/);
});

endpoint('little history: the last value with a note; gaps filled and said so', async () => {
  const id = await addDevice('Young');
  await writeHistory(id, 'temp', 2, (_, i) => 10 + i);
  const young = await forecast(id, 'key=temp&horizon=3h');
  assert.is(young.status, 200);
  assert.is(young.body.model, 'last-value');
  assert.equal(young.body.points.map((p: { value: number }) => p.value), [11, 11, 11]);
  assert.match(young.body.notes.join(' '), /only 2 buckets of history/);

  const gappy = await addDevice('Gappy');
  await writeHistory(gappy, 'temp', 60, (ts, i) => (i % 5 === 2 ? undefined : 20 + 2 * Math.sin((2 * Math.PI * ts) / day)));
  const res = await forecast(gappy, 'key=temp&horizon=12h');
  assert.is(res.status, 200);
  assert.is(res.body.fittedOn, 60);
  assert.ok(res.body.notes.includes('12 missing buckets of 60 filled by linear interpolation'), JSON.stringify(res.body.notes));
});

/** A greenhouse: indoor temperature driven by the outdoor one, so tomorrow's weather matters. */
const greenhouse = (ts: number, i: number) => 4 + 0.8 * recordedTemperature(ts) + 0.2 * gaussian(31, i);

endpoint('a device with a location: the outdoor temperature is used where it helps', async () => {
  const id = await addDevice('Greenhouse', { lat: 52.52, lon: 13.41 });
  await writeHistory(id, 'temp', 96, greenhouse);
  const res = await forecast(id, 'key=temp&horizon=24h');
  assert.is(res.status, 200, JSON.stringify(res.body));
  const body = res.body;
  assert.ok(body.weather, JSON.stringify(body.notes));
  assert.ok(Math.abs(body.weather.coefficient - 0.8) < 0.15, `coefficient ${body.weather.coefficient}`);
  assert.ok(body.weather.heldOutMae.with < body.weather.heldOutMae.without);
  assert.ok(body.notes.some((n: string) => n.startsWith('weather: outdoor temperature used')), JSON.stringify(body.notes));
  const truth = (ts: number) => 4 + 0.8 * recordedTemperature(ts + hour / 2);
  const off = await forecast(id, 'key=temp&horizon=24h&weather=off');
  assert.is(off.body.weather, null);
  const error = (points: Array<{ ts: number; value: number }>) => points.reduce((s, p) => s + Math.abs(p.value - truth(p.ts)), 0) / points.length;
  assert.ok(error(body.points) < error(off.body.points), `with weather ${error(body.points)}, without ${error(off.body.points)}`);
  // An explicit place overrides the device's location.
  await forecast(id, 'key=temp&horizon=2h&weather=48.85,2.35');
  assert.is(e.weather!.requests.at(-1)!.searchParams.get('latitude'), '48.85');
});

endpoint('a failing weather service: the forecast without it, with a note', async () => {
  const id = await addDevice('Shed', { lat: 52.52, lon: 13.41 });
  await writeHistory(id, 'temp', 72, greenhouse);
  for (const [mode, note] of [
    ['error-500', 'weather unavailable: open-meteo answered 500'],
    ['malformed', 'weather unavailable: the answer is not JSON'],
  ] as const) {
    e.weather!.mode = mode;
    const res = await forecast(id, 'key=temp&horizon=24h');
    assert.is(res.status, 200, JSON.stringify(res.body));
    assert.is(res.body.weather, null);
    assert.is(res.body.points.length, 24);
    assert.ok(res.body.notes.includes(note), JSON.stringify(res.body.notes));
  }
});

endpoint.after(async () => {
  if (e.previousUrl === undefined) delete process.env.OPEN_METEO_URL;
  else process.env.OPEN_METEO_URL = e.previousUrl;
  await e.p?.close();
  await e.weather?.close();
});
endpoint.run();
