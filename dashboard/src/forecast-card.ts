/**
 * The Forecast card of a device page: one numeric key, a horizon and an interval; the last day of history
 * (averaged per interval, `GET /devices/{id}/telemetry`) followed by the forecast and its confidence band
 * (`GET /devices/{id}/forecast`).
 *
 * It asks what history exists before asking for a forecast: one count per 15 minutes over the week the
 * forecast reads. That picks the interval (1 hour once there is a day of whole hours, else 15 minutes, unless
 * the reader chose one) and, on a fresh device, says in plain words how much history is missing, instead of
 * sending a request that can only fail (a 400, which the browser logs as a console error).
 */
import uPlot from 'uplot';
import { ApiError, messageOf, type Api } from './api.ts';
import { fill, formatValue, h, labelled, loading, select } from './dom.ts';
import { axisStyles } from './time-chart.ts';
import { ids } from './ids.ts';
import type { Forecast } from './types.ts';

const minute = 60_000;
const day = 24 * 60 * minute;
/** The window the forecast is fitted on (functions/monitoring/model/forecast-history.ts). */
const historyWindowMs = 7 * day;
const horizons = ['6h', '24h', '48h'];
/**
 * Coarsest first: the card picks the first with `preferFrom` whole buckets of history, else the finest. A few
 * hours are a trend of 3 points in hours but of 12 in quarters; from a day on, hours are smoother and
 * reach further.
 */
const intervals = [
  { value: '1h', label: '1 hour', words: 'hour', ms: 60 * minute, preferFrom: 24 },
  { value: '15m', label: '15 minutes', words: '15-minute interval', ms: 15 * minute, preferFrom: 3 },
];
/** Fewer whole buckets than this and the model only repeats the last value (forecast.ts): not a forecast. */
const minForecastBuckets = 3;
const historyColor = '#4f46e5';
const forecastColor = '#d97706';

export class ForecastCard {
  private keys: string[] = [];
  private request = 0;
  private plot: uPlot | undefined;
  private readonly root = h('div', { id: ids.forecastCard, 'data-state': 'idle' });
  private readonly key = h('select', { id: ids.forecastKey });
  private readonly horizon = select(ids.forecastHorizon, horizons.map((value) => ({ value, label: value })), '24h');
  private readonly interval = select(ids.forecastInterval, intervals, '1h');
  /** Set once the reader picks an interval; until then the card picks the one the history supports. */
  private intervalChosen = false;
  /** While there is not enough history: asks again when the next bucket is whole, as that is when it can change. */
  private recheck: ReturnType<typeof setTimeout> | undefined;
  private readonly status = h('div', { class: 'chart-status', 'aria-live': 'polite' });
  private readonly info = h('div', { class: 'forecast-info' });
  private readonly chart = h('div', { id: ids.forecastChart, class: 'chart', role: 'img', 'aria-label': 'Forecast chart' });
  private readonly resize: ResizeObserver;

  constructor(
    host: HTMLElement,
    private readonly api: Api,
    private readonly deviceId: string,
  ) {
    this.interval.addEventListener('change', () => (this.intervalChosen = true));
    for (const control of [this.key, this.horizon, this.interval]) control.addEventListener('change', () => void this.load());
    fill(
      this.root,
      h('div', { class: 'toolbar' }, labelled('Key', this.key), labelled('Horizon', this.horizon), labelled('Interval', this.interval)),
      this.status,
      this.chart,
      this.info,
    );
    fill(host, this.root);
    this.resize = new ResizeObserver(() => this.plot?.setSize({ width: this.width(), height: 280 }));
    this.resize.observe(this.chart);
    this.showEmpty('No numeric telemetry yet', 'Once the device sends numbers, a forecast of them appears here.');
  }

  /** The numeric keys to choose from; the first pick prefers `temperature`. */
  setKeys(keys: Iterable<string>): void {
    const sorted = [...new Set(keys)].sort();
    if (sorted.join('\n') === this.keys.join('\n')) return;
    const current = this.key.value;
    this.keys = sorted;
    fill(this.key, ...sorted.map((key) => h('option', { value: key }, key)));
    this.key.value = sorted.includes(current) ? current : sorted.includes('temperature') ? 'temperature' : (sorted[0] ?? '');
    if (current !== this.key.value || !current) void this.load();
  }

  destroy(): void {
    this.request += 1;
    clearTimeout(this.recheck);
    this.resize.disconnect();
    this.clearPlot();
  }

  private async load(): Promise<void> {
    const request = ++this.request;
    clearTimeout(this.recheck);
    const key = this.key.value;
    if (!key) return;
    this.root.dataset.state = 'loading';
    fill(this.status, loading('Loading the forecast…'));
    const to = Date.now();
    try {
      const buckets = await this.wholeBuckets(key, to);
      if (request !== this.request) return;
      const count = (i: (typeof intervals)[number]) => buckets.get(i.value) ?? 0;
      const picked = this.intervalChosen ? intervals.find((i) => i.value === this.interval.value) : intervals.find((i) => count(i) >= i.preferFrom);
      const chosen = picked ?? intervals.at(-1)!;
      this.interval.value = chosen.value;
      if (count(chosen) < minForecastBuckets) {
        this.showNotEnough(key, chosen, count(chosen));
        // The finest interval's next bucket ends first; a few seconds later its values are stored.
        const finest = intervals.at(-1)!.ms;
        this.recheck = setTimeout(() => void this.load(), finest - (to % finest) + 5000);
        return;
      }
      const interval = chosen.value;
      const [history, forecast] = await Promise.all([
        this.api.telemetry(this.deviceId, { keys: [key], from: to - day, to, interval, agg: 'avg' }),
        this.api.forecast(this.deviceId, { key, horizon: this.horizon.value, interval }),
      ]);
      if (request !== this.request) return;
      const past = history.items.filter((p): p is typeof p & { value: number } => p.key === key && typeof p.value === 'number');
      this.draw(key, past, forecast);
      fill(this.status);
      fill(
        this.info,
        h(
          'p',
          { id: ids.forecastModel, class: 'muted small' },
          'Model ',
          h('code', {}, forecast.model),
          ` · fitted on ${forecast.fittedOn.toLocaleString()} bucket${forecast.fittedOn === 1 ? '' : 's'}`,
          ` · ${Math.round(forecast.confidence * 100)}% band`,
        ),
        forecast.notes.length ? h('ul', { id: ids.forecastNotes, class: 'forecast-notes small' }, ...forecast.notes.map((note) => h('li', {}, note))) : null,
      );
      this.root.dataset.state = 'ready';
    } catch (error) {
      if (request !== this.request) return;
      this.clearPlot();
      fill(this.info);
      if (error instanceof ApiError && error.status === 400) {
        // The history counted a moment ago no longer reaches (a bucket just ended, or data was deleted).
        this.showEmpty('No forecast yet', 'Not enough history yet to forecast: wait for the device to send more values.');
        return;
      }
      this.root.dataset.state = 'error';
      fill(this.status, h('p', { id: ids.forecastError, class: 'alert error', role: 'alert' }, `The forecast could not be loaded: ${messageOf(error)}`));
    }
  }

  /**
   * How many whole buckets of each interval hold a value of `key` in the forecast's window; the bucket now in
   * progress does not count, as the forecast leaves it out. One query: whole hours are read off the quarters.
   */
  private async wholeBuckets(key: string, now: number): Promise<Map<string, number>> {
    const finest = intervals.at(-1)!;
    const answer = await this.api.telemetry(this.deviceId, { keys: [key], from: now - historyWindowMs, to: now, interval: finest.value, agg: 'count' });
    const counts = new Map<string, number>();
    for (const interval of intervals) {
      const current = Math.floor(now / interval.ms) * interval.ms;
      const starts = new Set(answer.items.filter((p) => p.key === key && p.ts < current && Number(p.value) > 0).map((p) => Math.floor(p.ts / interval.ms)));
      counts.set(interval.value, starts.size);
    }
    return counts;
  }

  private showNotEnough(key: string, interval: (typeof intervals)[number], have: number): void {
    const missing = minForecastBuckets - have;
    const wait = Math.round((missing * interval.ms) / minute);
    this.showEmpty(
      'Not enough history yet',
      `Not enough history yet to forecast ${key}: needs ${minForecastBuckets} points (values in ${minForecastBuckets} whole ${interval.words}s) and has ${have}. ` +
        `With the device sending, a forecast can be made in about ${wait >= 60 ? `${Math.round(wait / 60)} hour${wait >= 90 ? 's' : ''}` : `${wait} minutes`}.`,
    );
  }

  private draw(key: string, past: { ts: number; value: number }[], forecast: Forecast): void {
    const times = new Map<number, [number | null, number | null, number | null, number | null]>();
    for (const p of past) times.set(p.ts, [p.value, null, null, null]);
    // The forecast line starts at the last value, so the two lines join.
    const last = past.at(-1);
    if (last) times.set(last.ts, [last.value, last.value, last.value, last.value]);
    for (const p of forecast.points) {
      const row = times.get(p.ts) ?? [null, null, null, null];
      times.set(p.ts, [row[0], p.value, p.lower, p.upper]);
    }
    const xs = [...times.keys()].sort((a, b) => a - b);
    const column = (i: number) => xs.map((ts) => times.get(ts)![i] ?? null);
    const data: uPlot.AlignedData = [xs, column(0), column(1), column(2), column(3)];
    this.clearPlot();
    this.plot = new uPlot(this.options(key), data, this.chart);
  }

  private options(key: string): uPlot.Options {
    const axes = axisStyles();
    const value = (_plot: uPlot, v: number | null) => (v == null ? '—' : formatValue(v));
    return {
      width: this.width(),
      height: 280,
      ms: 1,
      cursor: { drag: { x: true, y: false } },
      legend: { live: true },
      axes: [axes.x, axes.y],
      series: [
        { label: 'Time', value: (_plot, ts) => (ts == null ? '—' : new Date(ts).toLocaleString()) },
        { label: key, stroke: historyColor, width: 2, spanGaps: true, points: { size: 4, fill: historyColor }, value },
        { label: 'forecast', stroke: forecastColor, width: 2, dash: [6, 4], spanGaps: true, points: { show: false }, value },
        { label: 'lower', stroke: 'rgba(217, 119, 6, 0.45)', width: 1, spanGaps: true, points: { show: false }, value },
        { label: 'upper', stroke: 'rgba(217, 119, 6, 0.45)', width: 1, spanGaps: true, points: { show: false }, value },
      ],
      bands: [{ series: [4, 3], fill: 'rgba(217, 119, 6, 0.15)' }],
    };
  }

  private width(): number {
    return Math.max(this.chart.clientWidth, 200);
  }

  private clearPlot(): void {
    this.plot?.destroy();
    this.plot = undefined;
  }

  private showEmpty(title: string, text: string): void {
    this.clearPlot();
    this.root.dataset.state = this.keys.length ? 'empty' : 'idle';
    fill(this.status, h('div', { id: ids.forecastEmpty, class: 'empty compact' }, h('p', { class: 'empty-title' }, title), h('p', { class: 'muted' }, text)));
  }
}

