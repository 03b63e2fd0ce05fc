/**
 * Outdoor temperature as a regressor of a forecast, used only where it lowers the error on held-out data.
 *
 * The model is a regression with exponential-smoothing errors, fitted in two steps: the slope c of the
 * series on the outdoor temperature (least squares), then the usual model (forecast.ts) on what the
 * temperature does not explain, y − c·T. The forecast adds c·T back, with T from the weather forecast:
 * a warmer-than-usual day tomorrow moves the prediction, which no amount of history could.
 *
 * Whether it helps is decided on the series itself: both ways are fitted on the history without its last
 * day and scored (MAE) on that day; the temperature is used when it lowers that error by at least 5 %.
 * The held-out day uses the temperature as observed, while a real forecast uses forecast temperatures, so
 * the check is slightly optimistic; the interval likewise leaves out the weather forecast's own error.
 *
 *   const effect = forecastWithTemperature(values, pastCelsius, futureCelsius, 24, 24, 0);
 *   effect.used ? effect.points : effect.reason
 */
import { fitForecast, type FittedForecast, type PredictedValue } from './forecast.ts';

/** How much lower the held-out error must be for the temperature to be used. */
const requiredGain = 0.05;

export interface HeldOutError {
  /** Buckets held out (the last day, or a quarter of a shorter history). */
  steps: number;
  maeWithout: number;
  maeWith: number;
}

export type TemperatureEffect =
  | { used: true; coefficient: number; heldOut: HeldOutError; fit: FittedForecast; points: PredictedValue[] }
  | { used: false; reason: string; heldOut?: HeldOutError };

/** Least-squares slope of y on x (with an intercept); null when x does not vary. */
export function slope(x: readonly number[], y: readonly number[]): number | null {
  const n = x.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i]!;
    my += y[i]!;
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i]! - mx) * (y[i]! - my);
    sxx += (x[i]! - mx) ** 2;
  }
  return sxx > 1e-9 * n ? sxy / sxx : null;
}

/** Forecast of y with the regressor: c from the history, the model on the remainder, c·T added back. */
function withRegressor(y: readonly number[], x: readonly number[], xAhead: readonly number[], stepsPerDay: number | null, steps: number, skip: number) {
  const c = slope(x, y);
  if (c === null) return null;
  const fit = fitForecast(
    y.map((v, i) => v - c * x[i]!),
    stepsPerDay,
  );
  const points = fit.forecast(steps, skip).map((p, i) => {
    const shift = c * xAhead[skip + i]!;
    return { value: p.value + shift, lower: p.lower + shift, upper: p.upper + shift };
  });
  return { c, fit, points };
}

const mae = (actual: readonly number[], predicted: readonly PredictedValue[]) => actual.reduce((sum, v, i) => sum + Math.abs(v - predicted[i]!.value), 0) / actual.length;

/**
 * `x` is the temperature at each history bucket, `xAhead` at each of the `skip + steps` buckets after
 * it. Answers the forecast with the temperature, or why it was not used.
 */
export function forecastWithTemperature(
  y: readonly number[],
  x: readonly number[],
  xAhead: readonly number[],
  stepsPerDay: number | null,
  steps: number,
  skip: number,
): TemperatureEffect {
  const held = Math.min(stepsPerDay ?? 24, Math.floor(y.length / 4));
  if (held < 2 || y.length - held < 3) return { used: false, reason: 'too little history to check whether it helps' };
  const trainY = y.slice(0, -held);
  const trainX = x.slice(0, -held);
  const actual = y.slice(-held);
  const without = fitForecast(trainY, stepsPerDay).forecast(held);
  const withIt = withRegressor(trainY, trainX, x.slice(-held), stepsPerDay, held, 0);
  if (!withIt) return { used: false, reason: 'the outdoor temperature did not vary over the history' };
  const heldOut: HeldOutError = { steps: held, maeWithout: mae(actual, without), maeWith: mae(actual, withIt.points) };
  if (!(heldOut.maeWith < (1 - requiredGain) * heldOut.maeWithout)) {
    return { used: false, reason: 'it did not lower the error on the held-out day', heldOut };
  }
  const full = withRegressor(y, x, xAhead, stepsPerDay, steps, skip);
  if (!full) return { used: false, reason: 'the outdoor temperature did not vary over the history', heldOut };
  return { used: true, coefficient: full.c, heldOut, fit: full.fit, points: full.points };
}
