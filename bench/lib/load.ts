/**
 * One bounded autocannon run against a loopback URL, turned into a figure.
 *
 *   const figure = await measureThroughput('signing.me.gateway', { url, connections: 50, durationS: 8 });
 *
 * The target is checked to be 127.0.0.1 so a mistyped URL can never send load anywhere else.
 */
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

export async function measureThroughput(bench: string, options: LoadOptions): Promise<Figure> {
  if (new URL(options.url).hostname !== '127.0.0.1') throw new Error(`refusing to load ${options.url}: only 127.0.0.1 is a target`);
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.durationS,
    method: options.method ?? 'GET',
    headers: options.headers,
    body: options.body,
    // A slow login is still an answer; only a request stuck this long counts as a timeout.
    timeout: 10,
  });
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

/** Which statuses the non-2xx answers were, so a 429 is told apart from a 500 at a glance. */
function statusCounts(result: autocannon.Result): Record<string, number> {
  return Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([status, stats]) => [status, stats.count ?? 0]));
}
