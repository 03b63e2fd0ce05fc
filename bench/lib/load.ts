/**
 * Bounded autocannon runs against a loopback URL.
 *
 *   const figure = await measureThroughput('signing.me.gateway', { url, connections: 50, durationS: 8 });
 *   const run = await runLoad({ url, connections: 20, amount: 5_000, setupClient, onResponse });
 *
 * `measureThroughput` turns a timed run into a req/s figure. `runLoad` is the lower level: a fixed number of
 * requests (`amount`) when every answer must be counted exactly (a timed run drops the requests still in
 * flight when the time is up, though the server may still act on them), per-connection headers through
 * `setupClient`, and each response's own time for percentiles pooled across runs. Either way a run is stopped
 * after `limitS` seconds whatever the server does.
 *
 * The target is checked to be 127.0.0.1 so a mistyped URL can never send load anywhere else.
 */
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { round, type Figure } from './report.ts';

export interface LoadOptions {
  url: string;
  connections: number;
  durationS: number;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
}

export interface RunOptions extends Omit<LoadOptions, 'durationS'> {
  /** Seconds to run; ignored when `amount` is given. */
  durationS?: number;
  /** Total requests to make; the run ends when every one of them is answered (or has failed). */
  amount?: number;
  /** Called once per connection as it is made, e.g. to give each its own `authorization` header. */
  setupClient?: (client: autocannon.Client) => void;
  /** Each response's status and time in milliseconds (fractional). */
  onResponse?: (status: number, ms: number) => void;
  /** Hard stop; default: three times the expected length plus 30 s. */
  limitS?: number;
}

export interface RunResult {
  result: autocannon.Result;
  /** From the start of the run to its last response, in seconds: `result.duration` is rounded up to a whole sampling tick. */
  elapsedS: number;
  /** True when `limitS` ended the run, so requests were cut off in flight. */
  stoppedEarly: boolean;
}

export async function measureThroughput(bench: string, options: LoadOptions): Promise<Figure> {
  const { result } = await runLoad(options);
  const figure: Figure = {
    bench,
    value: round(result.requests.average, 1),
    unit: 'req/s',
    connections: options.connections,
    durationS: options.durationS,
    requests: result.requests.total,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    p50: result.latency.p50,
    p99: result.latency.p99,
  };
  if (result.non2xx > 0) figure.statusCodes = statusCounts(result);
  return figure;
}

export async function runLoad(options: RunOptions): Promise<RunResult> {
  if (new URL(options.url).hostname !== '127.0.0.1') throw new Error(`refusing to load ${options.url}: only 127.0.0.1 is a target`);
  if (options.amount === undefined && options.durationS === undefined) throw new Error('runLoad: give durationS or amount');
  const expectedS = options.durationS ?? 10;
  const limitS = options.limitS ?? expectedS * 3 + 30;
  let stoppedEarly = false;
  const started = performance.now();
  let lastResponse = started;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        connections: options.connections,
        duration: options.durationS ?? limitS,
        amount: options.amount,
        method: options.method ?? 'GET',
        headers: options.headers,
        body: options.body,
        setupClient: options.setupClient,
        // A slow answer is still an answer; only a request stuck this long counts as a timeout.
        timeout: 10,
      },
      (error: unknown, done: autocannon.Result) => {
        clearTimeout(limit);
        if (error) reject(error instanceof Error ? error : new Error(String(error)));
        else resolve(done);
      },
    );
    instance.on('response', (_client, status, _bytes, ms) => {
      lastResponse = performance.now();
      options.onResponse?.(status, ms);
    });
    const limit = setTimeout(() => {
      stoppedEarly = true;
      instance.stop();
    }, limitS * 1000);
  });
  return { result, elapsedS: (lastResponse - started) / 1000, stoppedEarly };
}

/** Which statuses the answers were, so a 429 is told apart from a 500 at a glance. */
export function statusCounts(result: autocannon.Result): Record<string, number> {
  return Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([status, stats]) => [status, stats.count ?? 0]));
}

/** The q-quantile (0..1) of unsorted samples, nearest rank. */
export function percentile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
