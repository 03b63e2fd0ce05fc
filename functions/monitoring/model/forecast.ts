/**
 * Forecasting one evenly spaced series: exponential smoothing with a prediction interval, chosen by how
 * much history there is.
 *
 * - Holt-Winters additive with a daily season, when the bucket width divides a day and at least two days
 *   of history exist;
 * - else Holt's linear trend, when at least 3 buckets exist and it beats the last value one step ahead;
 * - else the last value (a random walk).
 *
 * Smoothing parameters come from a small grid search minimising the one-step-ahead sum of squared errors
 * on the history. The interval is the model's own: ±z·σ_h, where σ is the RMS of the one-step residuals
 * and σ_h² = σ²·(1 + Σ_{j<h} c_j²) is the h-step error variance of the model's state-space form
 * (Hyndman et al., "Forecasting with Exponential Smoothing", class 1), so it widens with the horizon.
 *
 *   const fit = fitForecast(values, 24);   // hourly buckets, daily season
 *   fit.forecast(24)                       // [{ value, lower, upper }, …] for the next 24 buckets
 */

export type ForecastModel = 'holt-winters-additive' | 'holt-linear' | 'last-value';

export interface SmoothingParameters {
  alpha: number;
  beta?: number;
  gamma?: number;
}

export interface PredictedValue {
  value: number;
  lower: number;
  upper: number;
}

export interface FittedForecast {
  model: ForecastModel;
  /** Season length in steps; null for models without a season. */
  season: number | null;
  parameters: SmoothingParameters;
  /** RMS of the one-step residuals on the history. */
  sigma: number;
  /** Mean of the one-step absolute residuals, for comparing fits. */
  mae: number;
  /** Why this model (and not a richer one) was chosen. */
  notes: string[];
  /**
   * Predictions `skip + 1` … `skip + steps` buckets after the last one fitted (`skip` > 0 when the series
   * ended before the buckets the caller wants).
   */
  forecast(steps: number, skip?: number): PredictedValue[];
}

/** Two-sided 95 % normal quantile. */
export const z95 = 1.959964;

const alphas = [0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1];
const betas = [0, 0.01, 0.05, 0.1, 0.2, 0.4];
const gammas = [0, 0.05, 0.1, 0.2, 0.3, 0.5];

interface State {
  level: number;
  trend: number;
  /** Seasonal terms indexed by (time mod season); empty without a season. */
  seasonal: number[];
  /** Index (in the series) of the last observation the state has absorbed. */
  last: number;
}

interface Run {
  state: State;
  sse: number;
  sae: number;
  residuals: number;
}

const mean = (values: readonly number[], from = 0, to = values.length) => {
  let sum = 0;
  for (let i = from; i < to; i++) sum += values[i]!;
  return sum / (to - from);
};

/**
 * Holt-Winters additive, component form. The first two seasons give the initial level, trend and
 * seasonal terms; the recursion (and the residuals it is scored on) starts after the first season, since
 * residuals inside it would only measure how well the initial values were read off that very season.
 */
function runHoltWinters(y: readonly number[], m: number, alpha: number, beta: number, gamma: number): Run {
  const first = mean(y, 0, m);
  const second = mean(y, m, 2 * m);
  const trend0 = (second - first) / m;
  const seasonal = Array.from({ length: m }, (_, i) => (y[i]! - first + (y[m + i]! - second)) / 2);
  // `first` is the level in the middle of the first season; carry it to its end, where the recursion starts.
  let level = first + ((m - 1) / 2) * trend0;
  let trend = trend0;
  let sse = 0;
  let sae = 0;
  for (let t = m; t < y.length; t++) {
    const s = seasonal[t % m]!;
    const error = y[t]! - (level + trend + s);
    sse += error * error;
    sae += Math.abs(error);
    const previous = level;
    level = alpha * (y[t]! - s) + (1 - alpha) * (level + trend);
    trend = beta * (level - previous) + (1 - beta) * trend;
    seasonal[t % m] = gamma * (y[t]! - level) + (1 - gamma) * s;
  }
  return { state: { level, trend, seasonal, last: y.length - 1 }, sse, sae, residuals: y.length - m };
}

/**
 * Holt's linear trend. Level and trend start from the first two values; the residual at t = 1 is zero by
 * that construction, so scoring starts at t = 2.
 */
function runHolt(y: readonly number[], alpha: number, beta: number): Run {
  let level = y[1]!;
  let trend = y[1]! - y[0]!;
  let sse = 0;
  let sae = 0;
  for (let t = 2; t < y.length; t++) {
    const error = y[t]! - (level + trend);
    sse += error * error;
    sae += Math.abs(error);
    const previous = level;
    level = alpha * y[t]! + (1 - alpha) * (level + trend);
    trend = beta * (level - previous) + (1 - beta) * trend;
  }
  return { state: { level, trend, seasonal: [], last: y.length - 1 }, sse, sae, residuals: y.length - 2 };
}

/** One-step errors of the last value, over the same span Holt is scored on (t ≥ `from`). */
function naiveErrors(y: readonly number[], from: number): { sse: number; sae: number; residuals: number } {
  let sse = 0;
  let sae = 0;
  for (let t = Math.max(1, from); t < y.length; t++) {
    const error = y[t]! - y[t - 1]!;
    sse += error * error;
    sae += Math.abs(error);
  }
  return { sse, sae, residuals: Math.max(0, y.length - Math.max(1, from)) };
}

function predictor(
  model: ForecastModel,
  state: State,
  season: number | null,
  parameters: SmoothingParameters,
  sigma: number,
): (steps: number, skip?: number) => PredictedValue[] {
  const { alpha, beta = 0, gamma = 0 } = parameters;
  // c_j: how much a one-step error j steps back still moves the forecast (see the module comment).
  const weight = (j: number): number => {
    if (model === 'last-value') return 1;
    const seasonalTerm = season !== null && j % season === 0 ? gamma * (1 - alpha) : 0;
    return alpha * (1 + j * beta) + seasonalTerm;
  };
  return (steps, skip = 0) => {
    const out: PredictedValue[] = [];
    let variance = 1;
    for (let h = 1; h <= skip + steps; h++) {
      if (h > 1) variance += weight(h - 1) ** 2;
      if (h <= skip) continue;
      const seasonal = season !== null ? state.seasonal[(state.last + h) % season]! : 0;
      const value = state.level + h * state.trend + seasonal;
      const half = z95 * sigma * Math.sqrt(variance);
      out.push({ value, lower: value - half, upper: value + half });
    }
    return out;
  };
}

function fitted(model: ForecastModel, run: Run, season: number | null, parameters: SmoothingParameters, notes: string[]): FittedForecast {
  const sigma = run.residuals > 0 ? Math.sqrt(run.sse / run.residuals) : 0;
  return {
    model,
    season,
    parameters,
    sigma,
    mae: run.residuals > 0 ? run.sae / run.residuals : 0,
    notes,
    forecast: predictor(model, run.state, season, parameters, sigma),
  };
}

function lastValue(y: readonly number[], notes: string[]): FittedForecast {
  const errors = naiveErrors(y, 1);
  if (errors.residuals === 0) notes.push('one bucket of history: its spread is unknown, so the interval has no width');
  const run: Run = { state: { level: y[y.length - 1]!, trend: 0, seasonal: [], last: y.length - 1 }, ...errors };
  return fitted('last-value', run, null, { alpha: 1 }, notes);
}

/** Holt's method, or the last value when Holt does not predict the history one step ahead any better. */
function holtOrLastValue(y: readonly number[], notes: string[]): FittedForecast {
  let best: { run: Run; alpha: number; beta: number } | undefined;
  for (const alpha of alphas) {
    for (const beta of betas) {
      const run = runHolt(y, alpha, beta);
      if (!best || run.sse < best.run.sse) best = { run, alpha, beta };
    }
  }
  const naive = naiveErrors(y, 2);
  if (naive.sse <= best!.run.sse) {
    notes.push('the linear trend did not predict the history better than the last value did; the last value is used');
    return lastValue(y, notes);
  }
  return fitted('holt-linear', best!.run, null, { alpha: best!.alpha, beta: best!.beta }, notes);
}

/**
 * Fits the model the history allows (see the module comment). `stepsPerDay` is the daily season in
 * buckets, or null when the bucket width does not divide a day. Needs at least one value.
 */
export function fitForecast(y: readonly number[], stepsPerDay: number | null): FittedForecast {
  if (y.length === 0) throw new RangeError('fitForecast needs at least one value');
  const notes: string[] = [];
  if (y.length < 3) {
    notes.push(`only ${y.length} bucket${y.length === 1 ? '' : 's'} of history: the last value is repeated`);
    return lastValue(y, notes);
  }
  const m = stepsPerDay !== null && stepsPerDay >= 2 ? stepsPerDay : null;
  if (m === null) {
    notes.push(stepsPerDay === null ? 'buckets of this width do not divide a day: no daily season' : 'buckets of a day or more: no daily season');
    return holtOrLastValue(y, notes);
  }
  if (y.length < 2 * m) {
    notes.push(`less than two days of history (${y.length} of ${2 * m} buckets): no daily season`);
    return holtOrLastValue(y, notes);
  }
  let best: { run: Run; alpha: number; beta: number; gamma: number } | undefined;
  for (const alpha of alphas) {
    for (const beta of betas) {
      for (const gamma of gammas) {
        const run = runHoltWinters(y, m, alpha, beta, gamma);
        if (!best || run.sse < best.run.sse) best = { run, alpha, beta, gamma };
      }
    }
  }
  return fitted('holt-winters-additive', best!.run, m, { alpha: best!.alpha, beta: best!.beta, gamma: best!.gamma }, notes);
}

export interface BucketValue {
  ts: number;
  value: number | null;
}

export interface EvenSeries {
  /** Time of the first value. */
  start: number;
  step: number;
  values: number[];
  /** How many values were interpolated. */
  filled: number;
}

/**
 * Buckets (ascending, on a grid of `step`) as an evenly spaced series from the first to the last bucket
 * with a number; missing or non-numeric buckets in between are filled by linear interpolation.
 * Returns null when no bucket has a number.
 */
export function fillGaps(buckets: readonly BucketValue[], step: number): EvenSeries | null {
  const known = buckets.filter((b): b is { ts: number; value: number } => b.value !== null && Number.isFinite(b.value));
  if (known.length === 0) return null;
  const start = known[0]!.ts;
  const values: number[] = [known[0]!.value];
  let filled = 0;
  for (let i = 1; i < known.length; i++) {
    const a = known[i - 1]!;
    const b = known[i]!;
    const gap = Math.round((b.ts - a.ts) / step);
    for (let k = 1; k < gap; k++) values.push(a.value + ((b.value - a.value) * k) / gap);
    filled += Math.max(0, gap - 1);
    values.push(b.value);
  }
  return { start, step, values, filled };
}
