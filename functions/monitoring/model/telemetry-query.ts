/**
 * The query language of the monitoring functions: keys, time range, bucket interval, aggregation,
 * pagination. Shared by the one-device and the many-device queries so both parse and answer alike.
 *
 *   keys=temp,hum  from=2026-01-01T00:00:00Z | 1767225600000  to=…  interval=30s|5m|1h|1d  agg=avg|min|max|sum|count
 */
import { z } from 'zod';
import { Problem } from '../../../shared/problem.ts';
import type { Aggregation, Bucket, TelemetryStore } from '../../../shared/ports/telemetry-store.ts';
import { maxEpochMs, TelemetryKey } from '../../../shared/messages.ts';
import { decodeCursor, encodeCursor } from '../../../shared/cursor.ts';

export const maxBuckets = 10_000;
const units = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** A time: ISO 8601, or epoch milliseconds from the epoch to the last instant a JS Date holds. */
export const Instant = z
  .union([z.number(), z.string().max(100)])
  .transform((v, ctx) => {
    const ms = typeof v === 'number' || /^\d+$/.test(v) ? Number(v) : Date.parse(v);
    if (!Number.isSafeInteger(ms) || ms < 0 || ms > maxEpochMs) {
      ctx.addIssue({ code: 'custom', message: `expected an ISO 8601 time or epoch milliseconds from 0 to ${maxEpochMs}` });
      return z.NEVER;
    }
    return ms;
  });

export const Interval = z
  .string()
  .regex(/^\d+(ms|s|m|h|d)$/, 'expected a number and a unit: 30s, 5m, 1h, 1d')
  .transform((v) => Number(/^\d+/.exec(v)![0]) * units[/(ms|s|m|h|d)$/.exec(v)![1] as keyof typeof units])
  .refine((ms) => ms >= 1000, 'must be at least 1s')
  .refine((ms) => Number.isSafeInteger(ms) && ms <= maxEpochMs, `must be at most ${maxEpochMs} ms`);

export const Keys = z
  .union([z.string(), z.array(z.string())])
  .transform((v) => [...new Set((Array.isArray(v) ? v : [v]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean))])
  .pipe(z.array(TelemetryKey).max(100));

/** The fields both queries accept (query string or JSON body). */
export const querySelection = {
  keys: Keys.optional().describe('Comma-separated keys; all keys when absent'),
  from: Instant.optional().describe('Start (inclusive), ISO 8601 or epoch ms; default: 24 hours before `to`'),
  to: Instant.optional().describe('End (exclusive), ISO 8601 or epoch ms; default: now'),
  interval: Interval.optional().describe('Bucket width (30s, 5m, 1h, 1d): one aggregated value per bucket'),
  agg: z.enum(['avg', 'min', 'max', 'sum', 'count']).optional().describe('Aggregation of each bucket (default avg); needs interval'),
  limit: z.coerce.number().int().min(1).max(10_000).optional().describe('Raw points per page (default 1000)'),
  order: z.enum(['asc', 'desc']).default('asc'),
};

export const RawItem = z.object({ key: z.string(), ts: z.number().int(), value: z.union([z.number(), z.boolean(), z.string()]) });
export const BucketItem = z.object({ key: z.string(), ts: z.number().int(), value: z.number().nullable(), count: z.number().int() });
export const QueryResult = z.object({
  // Buckets first: a bucket also fits RawItem, and the union keeps the first match (which would drop `count`).
  items: z.array(z.union([BucketItem, RawItem])),
  nextCursor: z.string().nullable().describe('Pass as `cursor` for the next page of raw points; null at the end and for buckets'),
});

export interface Selection {
  keys?: string[] | undefined;
  from?: number | undefined;
  to?: number | undefined;
  interval?: number | undefined;
  agg?: Aggregation | undefined;
  limit?: number | undefined;
  order: 'asc' | 'desc';
  cursor?: string | undefined;
}

function invalid(path: string, message: string): Problem {
  return new Problem('validation', `${path}: ${message}`, { errors: [{ path, message }] });
}

const tooManyBuckets = (where: string, buckets: number) =>
  invalid(`${where}.interval`, `${buckets} buckets asked; at most ${maxBuckets} (widen the interval, narrow the range or name fewer keys)`);

export function resolveRange(selection: Selection, where: 'query' | 'body', now = Date.now()): { from: number; to: number } {
  const to = selection.to ?? now;
  const from = selection.from ?? to - 86_400_000;
  if (from >= to) throw invalid(`${where}.from`, 'must be before `to`');
  return { from, to };
}

/** The position after a page's last raw value, in the query's order. */
const Position = z.object({ ts: z.number().int().min(0).max(maxEpochMs), key: TelemetryKey, order: z.enum(['asc', 'desc']) });

function positionOf(cursor: string, order: string, where: string): { ts: number; key: string } {
  const position = decodeCursor(Position, cursor, `${where}.cursor`, 'not a cursor of this query (or the order changed)');
  if (position.order !== order) throw invalid(`${where}.cursor`, 'not a cursor of this query (or the order changed)');
  return { ts: position.ts, key: position.key };
}

/**
 * How many keys an aggregate without `keys` covers: those with a value since `from` (a key whose latest value is
 * older than `from` has none in range), so the bucket cap counts the series the answer can hold.
 */
async function keysSince(store: TelemetryStore, deviceId: string, from: number): Promise<number> {
  return (await store.latest(deviceId)).filter((v) => v.ts >= from).length;
}

/** Runs a selection on one device: raw points with a cursor, or buckets. */
export async function selectTelemetry(store: TelemetryStore, deviceId: string, selection: Selection, where: 'query' | 'body') {
  const { from, to } = resolveRange(selection, where);
  const keys = selection.keys?.length ? selection.keys : undefined;
  if (selection.agg && !selection.interval) throw invalid(`${where}.interval`, 'is needed with agg');
  if (selection.interval) {
    const perKey = Math.ceil((to - from) / selection.interval);
    if (perKey > maxBuckets) throw tooManyBuckets(where, perKey);
    const buckets = perKey * (keys?.length ?? (await keysSince(store, deviceId, from)));
    if (buckets > maxBuckets) throw tooManyBuckets(where, buckets);
    const items: Bucket[] = await store.aggregate({ deviceId, keys, from, to, intervalMs: selection.interval, agg: selection.agg ?? 'avg' });
    if (selection.order === 'desc') items.reverse();
    return { items, nextCursor: null };
  }
  const limit = selection.limit ?? 1000;
  const after = selection.cursor ? positionOf(selection.cursor, selection.order, where) : undefined;
  const rows = await store.raw({ deviceId, keys, from, to, order: selection.order, limit: limit + 1, ...(after ? { after } : {}) });
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > limit && last ? encodeCursor({ ts: last.ts, key: last.key, order: selection.order }) : null };
}
