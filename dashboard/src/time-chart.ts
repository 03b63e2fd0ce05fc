/**
 * A uPlot time chart that fits its container and follows the page's colours; the live and history charts
 * both draw through it. Timestamps are epoch milliseconds (`ms: 1`), one series per telemetry key.
 */
import uPlot from 'uplot';
import { formatValue } from './dom.ts';

const palette = ['#4f46e5', '#0891b2', '#d97706', '#db2777', '#16a34a', '#9333ea', '#dc2626', '#0d9488'];

export function colorOf(index: number): string {
  return palette[index % palette.length] ?? '#4f46e5';
}

export class TimeChart {
  private plot: uPlot | undefined;
  private keys: string[] = [];
  /** The time span to show; the data's own span when unset. */
  private span: [number, number] | undefined;
  private readonly resize: ResizeObserver;

  constructor(
    private readonly container: HTMLElement,
    private readonly height: number,
  ) {
    this.resize = new ResizeObserver(() => this.plot?.setSize({ width: this.width(), height: this.height }));
    this.resize.observe(container);
  }

  /**
   * Draws these series; `data[0]` holds the timestamps, `data[i + 1]` the values of `keys[i]`. `span` fixes
   * the time axis (the range asked for, or the live window) so a few points do not stretch across it.
   */
  draw(keys: string[], data: uPlot.AlignedData, span?: [number, number]): void {
    this.span = span;
    if (this.plot && sameKeys(keys, this.keys)) {
      this.plot.setData(data);
      return;
    }
    // A key came or went: uPlot's series are fixed at creation, so the chart is made again.
    this.plot?.destroy();
    this.keys = [...keys];
    this.plot = new uPlot(this.options(keys), data, this.container);
  }

  clear(): void {
    this.plot?.destroy();
    this.plot = undefined;
    this.keys = [];
  }

  destroy(): void {
    this.resize.disconnect();
    this.clear();
  }

  private width(): number {
    return Math.max(this.container.clientWidth, 200);
  }

  private options(keys: string[]): uPlot.Options {
    const style = getComputedStyle(document.documentElement);
    const axis = style.getPropertyValue('--chart-axis').trim() || '#6b7280';
    const grid = style.getPropertyValue('--chart-grid').trim() || '#e5e7eb';
    const axisStyle: uPlot.Axis = { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    return {
      width: this.width(),
      height: this.height,
      ms: 1,
      cursor: { drag: { x: true, y: false } },
      legend: { live: true },
      scales: { x: { time: true, range: (_plot, min, max) => this.span ?? [min, max] } },
      axes: [axisStyle, { ...axisStyle, size: 56 }],
      series: [
        { label: 'Time', value: (_plot, ts) => (ts == null ? '—' : new Date(ts).toLocaleString()) },
        ...keys.map(
          (key, index): uPlot.Series => ({
            label: key,
            stroke: colorOf(index),
            width: 2,
            spanGaps: true,
            points: { size: 6, fill: colorOf(index) },
            value: (_plot, value) => (value == null ? '—' : formatValue(value)),
          }),
        ),
      ],
    };
  }
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((key, index) => key === b[index]);
}

/**
 * Lines points of several keys up on one time axis, as uPlot wants them: the sorted union of the
 * timestamps, and per key its value at each (null where it has none).
 */
export function align(points: Iterable<{ key: string; ts: number; value: number }>): { keys: string[]; data: uPlot.AlignedData } {
  const byKey = new Map<string, Map<number, number>>();
  const times = new Set<number>();
  for (const point of points) {
    let values = byKey.get(point.key);
    if (!values) byKey.set(point.key, (values = new Map()));
    values.set(point.ts, point.value);
    times.add(point.ts);
  }
  const keys = [...byKey.keys()].sort();
  const xs = [...times].sort((a, b) => a - b);
  const series = keys.map((key) => {
    const values = byKey.get(key)!;
    return xs.map((ts) => values.get(ts) ?? null);
  });
  return { keys, data: [xs, ...series] };
}
