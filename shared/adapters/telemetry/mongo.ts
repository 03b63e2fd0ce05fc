/**
 * The telemetry store port over MongoDB (the production store): points in a normal collection, one document per
 * device, key and time; rollups per minute and per hour beside it; the message ids already stored in a third.
 * TTL indexes do retention. What it sends is built in mongo-queries.ts, where it is unit-tested; this file only
 * connects and sends.
 *
 *   const telemetry = await createMongoTelemetryStore(process.env.MONGO_URL!, { dbName: 'iot' });
 *   await telemetry.prepare({ retentionDays: 30, rollupRetentionDays: 400 });
 *
 * Needs MongoDB 5.0 or later ($dateTrunc; upserts retried by the server on a duplicate key, 4.2+).
 *
 * Rollups: new points are merged into their buckets with $inc/$min/$max, one atomic upsert per bucket, so
 * concurrent writers add up; a point written again (last write wins, an upsert of its document) has its buckets
 * rebuilt from the points. Unlike the PostgreSQL adapter's, a rebuild here is not isolated from a merge into the
 * same bucket at the same moment (no multi-document transaction): that merge can be lost from the bucket until
 * the next rebuild of it. It takes two writers of one device's same minute, one rewriting a point.
 */
import { MongoClient, type Collection, type IndexDescription } from 'mongodb';
import type { Retention, TelemetryStore } from '../../ports/telemetry-store.ts';
import {
  aggregatePipeline,
  bucket,
  combinePartials,
  defaultCollection,
  deleteRangeFilter,
  deviceMarkersFilter,
  devicePointsFilter,
  latestPipeline,
  latestValue,
  legacyCollection,
  legacyCopyPipeline,
  markerDocuments,
  markerIndexes,
  markerLookup,
  markersCollection,
  onlyDuplicateKeys,
  partialsPipeline,
  pointDocuments,
  pointIndexes,
  pointUpserts,
  rawFind,
  rebuildPipeline,
  rebuildWrites,
  rollupAllPipeline,
  rollupCollection,
  rollupIndexes,
  rollupLevels,
  rollupMerges,
  storedValue,
  ttlCommand,
  uniqueMessages,
  type MessageMarker,
  type PartialDocument,
  type PointDocument,
  type RollupCell,
  type RollupDocument,
  type RollupLevel,
} from './mongo-queries.ts';

export interface MongoTelemetryOptions {
  /** The database; the one named in the URL when absent. */
  dbName?: string;
  /** The points collection; markers go to `<collection>_messages`, rollups to `<collection>_rollup_1m` / `_1h`. */
  collection?: string;
}

/** Cells per rebuild pipeline, so its $or stays a reasonable size. */
const REBUILD_CHUNK = 500;
const DAY = 86_400_000;

export async function createMongoTelemetryStore(
  url: string,
  options: MongoTelemetryOptions = {},
): Promise<TelemetryStore> {
  // Bounded waits: an unreachable server fails the call in seconds instead of hanging a function.
  const client = new MongoClient(url, {
    serverSelectionTimeoutMS: 5000,
    connectTimeoutMS: 5000,
    maxPoolSize: 10,
    appName: 'telemetry-store',
  });
  await client.connect();
  const db = client.db(options.dbName);
  const pointsName = options.collection ?? defaultCollection;
  const markersName = markersCollection(pointsName);
  const points = db.collection<PointDocument>(pointsName);
  const markers = db.collection<MessageMarker>(markersName);
  const rollups = new Map<RollupLevel, Collection<RollupDocument>>(
    rollupLevels.map((level) => [level, db.collection<RollupDocument>(rollupCollection(pointsName, level))]),
  );
  const rollupsOf = (level: RollupLevel) => rollups.get(level)!;
  const [minutes, hours] = rollupLevels;
  let retention: Retention | undefined;

  /** Indexes, with a TTL index whose expiry changed since changed in place (createIndex refuses it: 85). */
  async function indexes(
    collection: Pick<Collection, 'collectionName' | 'createIndexes'>,
    wanted: IndexDescription[],
    ttl: Parameters<typeof ttlCommand>[1],
    days: number,
  ): Promise<void> {
    try {
      await collection.createIndexes(wanted);
    } catch (error) {
      if ((error as { code?: unknown }).code !== 85) throw error;
      await db.command(ttlCommand(collection.collectionName, ttl, days));
      await collection.createIndexes(wanted);
    }
  }

  /** Sets these buckets (minutes, then the hours they fall in) to what the points hold now. */
  async function rebuild(cells: readonly RollupCell[]): Promise<void> {
    for (const [level, source] of [[minutes, db.collection(pointsName)], [hours, db.collection(rollupCollection(pointsName, minutes))]] as const) {
      const atLevel = cells.map((cell) => ({ ...cell, bucket: Math.floor(cell.bucket / level.widthMs) * level.widthMs }));
      for (let start = 0; start < atLevel.length; start += REBUILD_CHUNK) {
        const chunk = atLevel.slice(start, start + REBUILD_CHUNK);
        const found = await source.aggregate<Parameters<typeof rebuildWrites>[1][number]>(rebuildPipeline(level, chunk)).toArray();
        const writes = rebuildWrites(chunk, found);
        if (writes.length > 0) await rollupsOf(level).bulkWrite(writes, { ordered: false });
      }
    }
  }

  async function merge(docs: readonly PointDocument[]): Promise<void> {
    if (docs.length === 0) return;
    for (const level of rollupLevels) await rollupsOf(level).bulkWrite(rollupMerges(docs, level), { ordered: false });
  }

  return {
    kind: 'mongodb',

    async prepare(settings) {
      retention = { ...settings };
      await indexes(points, pointIndexes(retention.retentionDays), 'points', retention.retentionDays);
      for (const level of rollupLevels) {
        await indexes(rollupsOf(level), rollupIndexes(retention.rollupRetentionDays), 'rollups', retention.rollupRetentionDays);
      }
      await indexes(markers, markerIndexes(retention.retentionDays), 'markers', retention.retentionDays);
      if (options.collection === undefined) await copyLegacyPoints();
    },

    /**
     * Points first, markers second. A marker stored before its points would, after a crash in between, make
     * the redelivery skip a message whose points were never stored: data lost. In this order a crash leaves
     * points without a marker; the redelivery writes them again (upserts: nothing is stored twice, and their
     * buckets are rebuilt, not added to).
     */
    async write(messages) {
      const unique = uniqueMessages(messages);
      const repeatedInCall = messages.length - unique.length;
      if (unique.length === 0) return { written: 0, duplicates: 0 };

      const stored = new Set(
        (await markers.find(markerLookup(unique.map((m) => m.messageId)), { projection: { _id: 1 } }).toArray()).map(
          (marker) => marker._id,
        ),
      );
      const fresh = unique.filter((message) => !stored.has(message.messageId));
      const now = Date.now();
      // As on PostgreSQL: a point past the points' retention counts in the rollups only, one past theirs nowhere.
      const keepPoints = retention ? now - retention.retentionDays * DAY : -Infinity;
      const keepRollups = retention ? now - retention.rollupRetentionDays * DAY : -Infinity;
      const docs = pointDocuments(fresh).filter((doc) => doc.ts.getTime() >= keepRollups);
      const kept = docs.filter((doc) => doc.ts.getTime() >= keepPoints);
      if (kept.length > 0) {
        const result = await points.bulkWrite(pointUpserts(kept), { ordered: false });
        const inserted = new Set(Object.keys(result.upsertedIds).map(Number));
        await merge(kept.filter((_, i) => inserted.has(i)));
        await rebuild(kept.filter((_, i) => !inserted.has(i)).map((doc) => ({ deviceId: doc.d, key: doc.k, bucket: doc.ts.getTime() })));
      }
      await merge(docs.filter((doc) => doc.ts.getTime() < keepPoints));
      if (fresh.length > 0) {
        try {
          await markers.insertMany(markerDocuments(fresh, new Date()), { ordered: false });
        } catch (error) {
          if (!onlyDuplicateKeys(error)) throw error;
        }
      }
      return { written: fresh.length, duplicates: unique.length - fresh.length + repeatedInCall };
    },

    async raw(query) {
      // MongoDB reads a limit of 0 as no limit at all.
      if (query.limit <= 0) return [];
      const { filter, sort, limit, projection } = rawFind(query);
      const docs = await points.find(filter, { sort, limit, projection }).toArray();
      return docs.map(storedValue);
    },

    async aggregate(query) {
      // Building a pipeline refuses a bad interval. The coarsest rollup whose buckets fit the interval answers the
      // whole buckets of [from, to); the points answer the cut ends, so the result is what the points would give.
      const level = [...rollupLevels].reverse().find((candidate) => query.intervalMs % candidate.widthMs === 0);
      const lo = level && Math.ceil(query.from / level.widthMs) * level.widthMs;
      const hi = level && Math.floor(query.to / level.widthMs) * level.widthMs;
      if (!level || lo === undefined || hi === undefined || lo >= hi) {
        const docs = await points.aggregate<Parameters<typeof bucket>[0]>(aggregatePipeline(query)).toArray();
        return docs.map(bucket);
      }
      const parts = await Promise.all([
        rollupsOf(level).aggregate<PartialDocument>(partialsPipeline(query, level, lo, hi)).toArray(),
        query.from < lo ? points.aggregate<PartialDocument>(partialsPipeline(query, undefined, query.from, lo)).toArray() : [],
        hi < query.to ? points.aggregate<PartialDocument>(partialsPipeline(query, undefined, hi, query.to)).toArray() : [],
      ]);
      return combinePartials(parts.flat(), query.agg);
    },

    async latest(deviceId, keys) {
      // The pipeline's $group gives exactly this shape.
      const docs = await points.aggregate<Parameters<typeof latestValue>[0]>(latestPipeline(deviceId, keys)).toArray();
      return docs.map(latestValue);
    },

    async deleteRange(query) {
      const { deletedCount } = await points.deleteMany(deleteRangeFilter(query));
      // The buckets the range touched: those within the points' retention rebuilt from the points left; older
      // ones, whose points are gone, removed where the range covers them whole.
      const horizon = retention ? Date.now() - retention.retentionDays * DAY : -Infinity;
      // The minutes there are in the range (the hours they fall in are rebuilt from them).
      const from = Math.max(Math.floor((query.from ?? -Infinity) / minutes.widthMs) * minutes.widthMs, horizon);
      const scope = deleteRangeFilter({ ...query, from: Number.isFinite(from) ? from : undefined }, 'b');
      const cells = await rollupsOf(minutes).find(scope, { projection: { _id: 0, d: 1, k: 1, b: 1 } }).toArray();
      await rebuild(cells.map((c) => ({ deviceId: c.d, key: c.k, bucket: c.b.getTime() })));
      if (Number.isFinite(horizon) && (query.from ?? -Infinity) < horizon) {
        const end = Math.min(query.to ?? Infinity, horizon);
        for (const level of rollupLevels) {
          const whole = query.from === undefined ? undefined : Math.ceil(query.from / level.widthMs) * level.widthMs;
          await rollupsOf(level).deleteMany(deleteRangeFilter({ ...query, from: whole, to: end - level.widthMs + 1 }, 'b'));
        }
      }
      return deletedCount;
    },

    async deleteDevice(deviceId) {
      await points.deleteMany(devicePointsFilter(deviceId));
      for (const level of rollupLevels) await rollupsOf(level).deleteMany({ d: deviceId });
      await markers.deleteMany(deviceMarkersFilter(deviceId));
    },

    async expire() {
      // The TTL indexes made by prepare do it, for points, rollups and markers alike.
      return 0;
    },

    async ping() {
      await db.command({ ping: 1 });
    },

    close: () => client.close(),
  };

  /**
   * The adapter before rollups kept points in a time-series collection named `telemetry`: copied once into the
   * points collection and rolled up, then marked done. Several processes starting at once may each copy; the
   * copy and the rollups replace by device, key and time, so that only costs time.
   */
  async function copyLegacyPoints(): Promise<void> {
    const migrations = db.collection<{ _id: string; at: Date }>(`${pointsName}_migrations`);
    if (await migrations.findOne({ _id: 'from-timeseries' })) return;
    const legacy = await db.listCollections({ name: legacyCollection, type: 'timeseries' }, { nameOnly: true }).toArray();
    if (legacy.length > 0) {
      await db.collection(legacyCollection).aggregate(legacyCopyPipeline(pointsName)).toArray();
      await points.aggregate(rollupAllPipeline(minutes, rollupCollection(pointsName, minutes))).toArray();
      await rollupsOf(minutes).aggregate(rollupAllPipeline(hours, rollupCollection(pointsName, hours))).toArray();
    }
    await migrations.updateOne({ _id: 'from-timeseries' }, { $setOnInsert: { at: new Date() } }, { upsert: true });
  }
}

/** Another instance preparing at the same moment may create the collection first (NamespaceExists, 48). */
async function createIgnoringRace(create: () => Promise<unknown>): Promise<void> {
  try {
    await create();
  } catch (error) {
    if ((error as { code?: unknown }).code !== 48) throw error;
  }
}
