/**
 * Gaps in a telemetry series, kept as gaps: wherever two points are much further apart than the data's step
 * (the bucket width, or for raw points their usual spacing) a null goes between them, so a chart that does
 * not span nulls (uPlot's `spanGaps: false`) breaks its line there instead of drawing straight across a time
 * with no data. Plain functions, no DOM: the tests run them in Node.
 *
 *   withGaps([{ ts: 0, value: 1 }, { ts: 60_000, value: 2 }, { ts: 600_000, value: 3 }], 60_000)
 *   // { xs: [0, 60000, 120000, 600000], ys: [1, 2, null, 3], gaps: 1 }
 */

/** Two points further apart than this many steps have a gap between them. */
const gapSteps = 3;

/**
 * One key's points as uPlot columns, sorted by time, with a null between two points whose distance is more
 * than `gapSteps` steps. `stepMs` is the bucket width; without it, the median distance between the points.
 */
export function withGaps(points: readonly { ts: number; value: number }[], stepMs?: number): { xs: number[]; ys: (number | null)[]; gaps: number } {
  const sorted = [...points].sort((a, b) => a.ts - b.ts);
  const step = stepMs ?? medianStep(sorted.map((p) => p.ts));
  const xs: number[] = [];
  const ys: (number | null)[] = [];
  let gaps = 0;
  for (const point of sorted) {
    const previous = xs.at(-1);
    if (previous !== undefined && step > 0 && point.ts - previous > gapSteps * step) {
      xs.push(previous + step);
      ys.push(null);
      gaps += 1;
    }
    xs.push(point.ts);
    ys.push(point.value);
  }
  return { xs, ys, gaps };
}

function medianStep(times: number[]): number {
  const steps = times.slice(1).map((ts, i) => ts - times[i]!).filter((d) => d > 0).sort((a, b) => a - b);
  return steps[Math.floor(steps.length / 2)] ?? 0;
}

