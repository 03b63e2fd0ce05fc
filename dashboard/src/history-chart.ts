/**
 * The history chart of a device: a time range, an interval (raw points or buckets of 30 s to 1 d) and an
 * aggregation, fetched from `GET /devices/{id}/telemetry`, drawn as one small chart per key (time-chart.ts);
 * buckets with no data are left as gaps, not bridged. Raw queries are paged; the chart stops after
 * `maxRawPages` pages and says so, rather than pulling a week of raw points into the browser. Intervals
 * that would cut the range into more buckets than the API answers are disabled.
 */
import { messageOf, type Api, type TelemetryAggregate, type TelemetryQuery } from './api.ts';
import { fill, h, labelled, loading, select } from './dom.ts';
import { ids } from './ids.ts';
import { TimeChart } from './time-chart.ts';
import type { TelemetryPoint } from './types.ts';

const minute = 60_000;
const ranges = [
  { label: 'Last 15 minutes', ms: 15 * minute },
  { label: 'Last hour', ms: 60 * minute },
  { label: 'Last 6 hours', ms: 6 * 60 * minute },
  { label: 'Last 24 hours', ms: 24 * 60 * minute },
  { label: 'Last 7 days', ms: 7 * 24 * 60 * minute },
];
const intervals = [
  { value: 'raw', label: 'Raw points', ms: 0 },
  { value: '30s', label: '30 seconds', ms: 30_000 },
  { value: '1m', label: '1 minute', ms: minute },
  { value: '5m', label: '5 minutes', ms: 5 * minute },
  { value: '1h', label: '1 hour', ms: 60 * minute },
  { value: '1d', label: '1 day', ms: 24 * 60 * minute },
];
const aggregations: { value: TelemetryAggregate; label: string }[] = [
  { value: 'avg', label: 'Average' },
  { value: 'min', label: 'Minimum' },
  { value: 'max', label: 'Maximum' },
  { value: 'sum', label: 'Sum' },
  { value: 'count', label: 'Count' },
];
const maxRawPages = 5;
const rawPageSize = 10_000;
/** The most buckets one query may ask for (the monitoring API's limit). */
const maxBuckets = 10_000;

export class HistoryChart {
  private keys: string[] = [];
  private request = 0;
  private readonly range = select(ids.historyRange, ranges.map((r) => ({ value: String(r.ms), label: r.label })), String(60 * minute));
  private readonly interval = select(ids.historyInterval, intervals, '1m');
  private readonly agg = select(ids.historyAgg, aggregations, 'avg');
  private readonly status = h('div', { class: 'chart-status', 'aria-live': 'polite' });
  private readonly plot = h('div', { id: ids.historyChart, class: 'chart', role: 'img', 'aria-label': 'Telemetry history chart' });
  private readonly chart = new TimeChart(this.plot, 180);

  constructor(
    host: HTMLElement,
    private readonly api: Api,
    private readonly deviceId: string,
  ) {
    const refresh = h('button', { id: ids.historyRefresh, type: 'button', class: 'secondary' }, 'Refresh');
    refresh.addEventListener('click', () => void this.load());
    // Listeners run in the order added: the interval is fitted to a new range before it loads.
    this.range.addEventListener('change', () => this.fitInterval());
    for (const control of [this.range, this.interval, this.agg]) control.addEventListener('change', () => void this.load());
    fill(
      host,
      h(
        'div',
        { class: 'toolbar' },
        labelled('Range', this.range),
        labelled('Interval', this.interval),
        labelled('Aggregation', this.agg),
        h('div', { class: 'toolbar-end' }, refresh),
      ),
      this.status,
      this.plot,
    );
    this.fitInterval();
  }

  /** Sets the numeric keys to chart and loads them (again when they changed). */
  setKeys(keys: Iterable<string>): void {
    const sorted = [...new Set(keys)].sort();
    if (sorted.join('\n') === this.keys.join('\n') && this.request > 0) return;
    this.keys = sorted;
    void this.load();
  }

  destroy(): void {
    this.request += 1;
    this.chart.destroy();
  }

  /** Disables the intervals too fine for the range, moving off one if it was chosen. */
  private fitInterval(): void {
    const range = Number(this.range.value);
    let firstAllowed: string | undefined;
    for (const option of this.interval.options) {
      const width = intervals.find((i) => i.value === option.value)?.ms ?? 0;
      option.disabled = width > 0 && range / width > maxBuckets;
      if (!option.disabled && width > 0) firstAllowed ??= option.value;
    }
    if (this.interval.selectedOptions[0]?.disabled && firstAllowed) this.interval.value = firstAllowed;
    this.agg.disabled = this.interval.value === 'raw';
  }

  private async load(): Promise<void> {
    const request = ++this.request;
    const raw = this.interval.value === 'raw';
    this.agg.disabled = raw;
    fill(this.status, loading('Loading history…'));
    const to = Date.now();
    const base = { keys: this.keys.length ? this.keys : undefined, from: to - Number(this.range.value), to };
    try {
      const points: TelemetryPoint[] = [];
      let truncated = false;
      if (raw) {
        let cursor: string | undefined;
        for (let page = 0; ; page += 1) {
          const answer = await this.api.telemetry(this.deviceId, { ...base, limit: rawPageSize, cursor } satisfies TelemetryQuery);
          points.push(...answer.items);
          cursor = answer.nextCursor ?? undefined;
          if (!cursor || request !== this.request) break;
          if (page + 1 >= maxRawPages) {
            truncated = true;
            break;
          }
        }
      } else {
        // The select offers the aggregations above only; its value is read back as one of them.
        const agg = aggregations.find((option) => option.value === this.agg.value)?.value ?? 'avg';
        const answer = await this.api.telemetry(this.deviceId, { ...base, interval: this.interval.value, agg });
        points.push(...answer.items);
      }
      if (request !== this.request) return;
      const numeric = points.filter((p): p is TelemetryPoint & { value: number } => typeof p.value === 'number');
      if (!numeric.length) {
        this.chart.clear();
        if (this.keys.length) this.showEmpty('Nothing in this range', 'Pick a longer range, or wait for the device to send values.');
        else this.showEmpty('No numeric telemetry yet', 'Once the device sends numbers, their history is charted here.');
        return;
      }
      const stepMs = raw ? undefined : intervals.find((i) => i.value === this.interval.value)?.ms;
      this.chart.draw(numeric, { span: [base.from, base.to], stepMs });
      fill(
        this.status,
        h(
          'p',
          { class: 'muted small' },
          count(numeric.length, raw ? 'raw value' : 'value'),
          raw ? '' : ` · ${this.agg.selectedOptions[0]?.textContent?.toLowerCase() ?? this.agg.value} per ${this.interval.selectedOptions[0]?.textContent ?? this.interval.value}`,
          truncated ? ' · the first pages only; pick an interval to see the whole range' : '',
        ),
      );
    } catch (error) {
      if (request !== this.request) return;
      this.chart.clear();
      fill(this.status, h('p', { id: ids.historyError, class: 'alert error', role: 'alert' }, `History could not be loaded: ${messageOf(error)}`));
    }
  }

  private showEmpty(title: string, text: string): void {
    fill(this.status, h('div', { id: ids.historyEmpty, class: 'empty compact' }, h('p', { class: 'empty-title' }, title), h('p', { class: 'muted' }, text)));
  }
}

function count(n: number, noun: string): string {
  return `${n.toLocaleString()} ${noun}${n === 1 ? '' : 's'}`;
}

