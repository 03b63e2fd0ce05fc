/**
 * Small multiples for telemetry: one small uPlot chart per key, each with its own y scale, all on the same
 * time span with one shared cursor. The live and history charts both draw through it.
 *
 * Why one chart per key rather than one chart with a scale per key: a device's keys rarely share a unit (a
 * counter in the thousands beside a temperature near 20), a chart with four y axes spends most of a phone's
 * width on axes and leaves the reader matching colours to axes, while a stack of small charts, each titled
 * with its key, reads at any width.
 *
 * A time with no data stays a gap: series-gaps.ts puts a null where it is, and uPlot does not span nulls.
 *
 * Hooks for tests, on each key's chart `[data-chart-key=<key>]`: `data-gaps` (nulls put in for gaps),
 * `data-y-min` / `data-y-max` (its y scale once drawn).
 */
import uPlot from 'uplot';
import { formatValue, h } from './dom.ts';
import { withGaps } from './series-gaps.ts';

const palette = ['#4f46e5', '#0891b2', '#d97706', '#db2777', '#16a34a', '#9333ea', '#dc2626', '#0d9488'];
/** Below this width a chart is a phone's: fewer, wider-spaced time labels, so they do not run into each other. */
const narrowPx = 480;
/** The narrowest chart that still shares a row with another, and the gap between them (styles.css: .chart-set). */
const columnPx = 420;
const gapPx = 16;

export function colorOf(index: number): string {
  return palette[index % palette.length] ?? '#4f46e5';
}

/** Pixels between two time labels: wide on narrow charts, whose labels would otherwise overlap. */
export function timeLabelSpace(width: number): number {
  return width < narrowPx ? 90 : 60;
}

/** The axis styling every chart of the dashboard shares, taken from the page's colours. */
export function axisStyles(): { x: uPlot.Axis; y: uPlot.Axis } {
  const style = getComputedStyle(document.documentElement);
  const stroke = style.getPropertyValue('--chart-axis').trim() || '#6b7280';
  const grid = style.getPropertyValue('--chart-grid').trim() || '#e5e7eb';
  const base: uPlot.Axis = { stroke, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
  return { x: { ...base, space: (plot) => timeLabelSpace(plot.width) }, y: { ...base, size: 56 } };
}

export interface KeyPoint {
  key: string;
  ts: number;
  value: number;
}

interface KeyChart {
  element: HTMLElement;
  plot: uPlot;
}

export class TimeChart {
  private readonly charts = new Map<string, KeyChart>();
  /** How many charts the set holds once the current draw is done: it decides their width. */
  private count = 0;
  /** The time span to show; the data's own span when unset. */
  private span: [number, number] | undefined;
  private readonly resize: ResizeObserver;
  /** One cursor for the charts of this set: pointing at a time in one shows it in all. */
  private readonly syncKey = `time-chart-${Math.random().toString(36).slice(2)}`;

  constructor(
    private readonly container: HTMLElement,
    private readonly height: number,
  ) {
    container.classList.add('chart-set');
    this.resize = new ResizeObserver(() => {
      for (const { plot } of this.charts.values()) plot.setSize({ width: this.width(), height: this.height });
    });
    this.resize.observe(container);
  }

  /**
   * Draws one chart per key of `points`. `span` fixes the time axis (the range asked for, or the live window)
   * so a few points do not stretch across it; `stepMs` is the bucket width, when the points are buckets.
   */
  draw(points: Iterable<KeyPoint>, options: { span?: [number, number]; stepMs?: number } = {}): void {
    this.span = options.span;
    const byKey = new Map<string, KeyPoint[]>();
    for (const point of points) {
      const list = byKey.get(point.key);
      if (list) list.push(point);
      else byKey.set(point.key, [point]);
    }
    const keys = [...byKey.keys()].sort();
    const resized = keys.length !== this.count;
    this.count = keys.length;
    for (const [key, chart] of this.charts) {
      if (byKey.has(key)) continue;
      chart.plot.destroy();
      chart.element.remove();
      this.charts.delete(key);
    }
    keys.forEach((key, index) => {
      const { xs, ys, gaps } = withGaps(byKey.get(key)!, options.stepMs);
      const data: uPlot.AlignedData = [xs, ys];
      let chart = this.charts.get(key);
      if (chart) chart.plot.setData(data);
      else chart = this.create(key, index, data);
      chart.element.dataset.gaps = String(gaps);
      chart.element.dataset.points = String(xs.length - gaps);
    });
    // Kept in key order, so a key that arrives later takes its place rather than the end.
    this.container.append(...keys.map((key) => this.charts.get(key)!.element));
    this.container.dataset.keys = keys.join(',');
    // One chart spans the row; a second one halves it.
    if (resized) for (const { plot } of this.charts.values()) plot.setSize({ width: this.width(), height: this.height });
  }

  clear(): void {
    for (const { plot, element } of this.charts.values()) {
      plot.destroy();
      element.remove();
    }
    this.charts.clear();
    this.count = 0;
    delete this.container.dataset.keys;
  }

  destroy(): void {
    this.resize.disconnect();
    this.clear();
  }

  private create(key: string, index: number, data: uPlot.AlignedData): KeyChart {
    const element = h('figure', { class: 'key-chart', 'data-chart-key': key }, h('figcaption', { class: 'key-chart-title' }, key));
    this.container.append(element);
    const plot = new uPlot(this.options(key, colorOf(index), element), data, element);
    const chart = { element, plot };
    this.charts.set(key, chart);
    return chart;
  }

  /** The width of each chart: side by side where there is room, as the grid of styles.css (.chart-set) lays them out. */
  private width(): number {
    const room = this.container.clientWidth;
    const columns = Math.max(1, Math.min(this.count, Math.floor((room + gapPx) / (columnPx + gapPx))));
    return Math.max(Math.floor((room - gapPx * (columns - 1)) / columns), 160);
  }

  private options(key: string, color: string, element: HTMLElement): uPlot.Options {
    const axes = axisStyles();
    return {
      width: this.width(),
      height: this.height,
      ms: 1,
      cursor: { drag: { x: true, y: false }, sync: { key: this.syncKey } },
      legend: { live: true },
      scales: { x: { time: true, range: (_plot, min, max) => this.span ?? [min, max] } },
      axes: [axes.x, axes.y],
      series: [
        { label: 'Time', value: (_plot, ts) => (ts == null ? '—' : new Date(ts).toLocaleString()) },
        {
          label: key,
          stroke: color,
          width: 2,
          spanGaps: false,
          points: { size: 5, fill: color },
          value: (_plot, value) => (value == null ? '—' : formatValue(value)),
        },
      ],
      hooks: {
        setScale: [
          (plot, scale) => {
            if (scale !== 'y') return;
            const { min, max } = plot.scales.y ?? {};
            if (min != null) element.dataset.yMin = String(min);
            if (max != null) element.dataset.yMax = String(max);
          },
        ],
      },
    };
  }
}
