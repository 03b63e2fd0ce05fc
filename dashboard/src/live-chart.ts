/**
 * The live chart of a device: the numeric values of the telemetry that arrives over the socket while the
 * page is open, over a rolling window, one small chart per key (time-chart.ts). Booleans and strings are left
 * to the latest-values table. A pause much longer than the device's usual spacing shows as a gap.
 */
import { fill, h } from './dom.ts';
import { ids } from './ids.ts';
import { TimeChart } from './time-chart.ts';
import type { TelemetryEvent } from './types.ts';

const windowMs = 5 * 60 * 1000;
/** The narrowest time axis, so the first few seconds of data are not squeezed against its end. */
const minSpanMs = 60 * 1000;
const maxPoints = 5000;
/** How often the window slides when nothing arrives, so the chart keeps showing "now". */
const slideMs = 5000;

export class LiveChart {
  private points: { key: string; ts: number; value: number }[] = [];
  private messages = 0;
  private readonly chart: TimeChart;
  private readonly empty: HTMLElement;
  private readonly slide: ReturnType<typeof setInterval>;

  constructor(private readonly host: HTMLElement) {
    const plot = h('div', { class: 'chart', role: 'img', 'aria-label': 'Live telemetry chart' });
    this.empty = h(
      'div',
      { id: ids.liveEmpty, class: 'empty compact' },
      h('p', { class: 'empty-title' }, 'Waiting for telemetry'),
      h('p', { class: 'muted' }, 'Numeric values the device sends from now on are drawn here as they arrive.'),
    );
    fill(host, this.empty, plot);
    host.dataset.points = '0';
    this.chart = new TimeChart(plot, 160);
    this.slide = setInterval(() => this.points.length && this.redraw(), slideMs);
  }

  push(event: TelemetryEvent): void {
    const numeric = Object.entries(event.values).filter((entry): entry is [string, number] => typeof entry[1] === 'number');
    if (!numeric.length) return;
    for (const [key, value] of numeric) this.points.push({ key, ts: event.ts, value });
    this.messages += 1;
    this.empty.hidden = true;
    this.host.dataset.points = String(this.messages);
    this.redraw();
  }

  destroy(): void {
    clearInterval(this.slide);
    this.chart.destroy();
  }

  private redraw(): void {
    // A device clock a little ahead of ours still shows: the window ends at the later of the two.
    const end = Math.max(Date.now(), ...this.points.map((point) => point.ts));
    this.points = this.points.filter((point) => point.ts >= end - windowMs).slice(-maxPoints);
    const oldest = Math.min(end, ...this.points.map((point) => point.ts));
    this.chart.draw(this.points, { span: [Math.min(oldest, end - minSpanMs), end] });
  }
}
