/**
 * The telemetry store port: where the monitoring domain keeps device time series and how it reads them.
 *
 * Production adapter: MongoDB (a collection with one document per device, key and time, TTL for retention,
 * `$dateTrunc`/`$group` aggregation).
 * PostgreSQL adapter: a table keyed by (device, key, ts) partitioned by day, `date_bin` buckets; it also runs on
 * PGlite in the embedded mode. Both pass one contract suite (test/telemetry-store.contract.ts).
 *
 * Rollups: besides the points, a store keeps per device, key and minute, and per hour, how many values came,
 * how many were numbers, and their sum, minimum and maximum, kept up to date as points arrive (a point written
 * again replaces its old value there too). `aggregate` answers from them whenever the interval is a whole
 * number of minutes or hours, and gives what it would give from the points. They outlive the points
 * (`rollupRetentionDays`): a range whose points are gone still has its buckets. A point older than the points'
 * retention when it arrives goes to the rollups only, as if it had expired at once.
 *
 * Times are epoch milliseconds. A point is one value of one key at one time; writing the same device, key
 * and time again replaces the value (as ThingsBoard does), and a message already stored is skipped, so a
 * redelivered message stores nothing twice.
 */
export type TelemetryValue = number | boolean | string;

export interface TelemetryMessage {
  /** The bus message id; the store remembers it to skip redeliveries. */
  messageId: string;
  deviceId: string;
  points: Array<{ ts: number; values: Record<string, TelemetryValue> }>;
}

export interface StoredValue {
  key: string;
  ts: number;
  value: TelemetryValue;
}

export type Aggregation = 'avg' | 'min' | 'max' | 'sum' | 'count';

export interface RangeQuery {
  deviceId: string;
  /** Only these keys; all keys when absent or empty. */
  keys?: string[];
  /** Inclusive start, exclusive end. */
  from: number;
  to: number;
}

export interface RawQuery extends RangeQuery {
  order: 'asc' | 'desc';
  limit: number;
  /** Continue after this (ts, key) position, in the query's order. */
  after?: { ts: number; key: string };
}

export interface AggregateQuery extends RangeQuery {
  /** Bucket width; buckets start at multiples of it since the epoch (UTC). */
  intervalMs: number;
  agg: Aggregation;
}

export interface Bucket {
  key: string;
  /** Start of the bucket. */
  ts: number;
  /** The aggregate; numbers only for avg/min/max/sum (non-numeric values are ignored), all values for count. null when a bucket has values but none numeric. */
  value: number | null;
  /** How many values fell in the bucket. */
  count: number;
}

export interface Retention {
  retentionDays: number;
  rollupRetentionDays: number;
}

export interface TelemetryStore {
  readonly kind: 'postgres' | 'mongodb';
  /**
   * Creates collections/tables and indexes where the store does that itself (idempotent), and takes the
   * retention settings: points are kept `retentionDays`, rollups `rollupRetentionDays`, which callers give at
   * least as long (shared/config.ts `telemetryRetention`), as they give `expire` a rollups cutoff no later.
   */
  prepare(options: Retention): Promise<void>;
  /** Stores messages; returns how many were new and how many were already stored (skipped). */
  write(messages: readonly TelemetryMessage[]): Promise<{ written: number; duplicates: number }>;
  /** Raw values ordered by (ts, key) in the asked order, at most `limit`. */
  raw(query: RawQuery): Promise<StoredValue[]>;
  /** One value per key per bucket, ordered by key then bucket start; empty buckets are absent. */
  aggregate(query: AggregateQuery): Promise<Bucket[]>;
  /** The newest value of each key (of the given keys, or all). */
  latest(deviceId: string, keys?: string[]): Promise<StoredValue[]>;
  /** Removes values in [from, to) of the given keys (all keys when absent); returns how many. */
  deleteRange(query: { deviceId: string; keys?: string[]; from?: number; to?: number }): Promise<number>;
  /** Removes everything of a device. */
  deleteDevice(deviceId: string): Promise<void>;
  /**
   * The retention pass: removes points older than `points` and rollup buckets older than `rollups`, where the
   * store does not expire data itself (TTL); returns about how many points went. Stores that remove whole days
   * keep a day until all of it is past the cutoff, and make the coming days' room here.
   */
  expire(cutoffs: { points: number; rollups: number }): Promise<number>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
