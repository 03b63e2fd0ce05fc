/**
 * What the bench says: one JSON line per figure on stdout, so `npm run bench | jq` or a CI step can read
 * the figures without parsing prose; everything meant for a person goes to stderr.
 *
 *   emit({ bench: 'http.baseline.node-http', value: 48688, unit: 'req/s', connections: 50 });
 */

export interface Figure {
  bench: string;
  value: number;
  unit: 'req/s' | 'ms' | 'points/s' | 'msg/s' | 'devices/s';
  /** Context that makes the value readable: connections, duration, error counts, latency percentiles. */
  [context: string]: unknown;
}

/** Runs one figure's step, reports it (or its failure), and remembers failures: what bench/run.ts hands to each domain's figures. */
export type RunFigure = (name: string, step: () => Promise<Figure>) => Promise<Figure | undefined>;

export function emit(figure: Figure): void {
  process.stdout.write(JSON.stringify(figure) + '\n');
}

export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

/** Rounds for reading, not for arithmetic: the figures are noisy well above these digits. */
export function round(value: number, digits = 2): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
